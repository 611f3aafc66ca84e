"""Project -> COCO instances file.

The choices below fix what peers get wrong (see shared/docs/peers.md, 5.5):
category ids are the label set's stable ids (1..N, no forced background), every
image of the project is listed (annotated or not) with a 1-based id and its
relative path, area and bbox come from pycocotools on the rasterised mask, and
shapes with holes survive (RLE, or hole-free polygon pieces in "polygon" mode).
"""

from __future__ import annotations

import datetime as _dt
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pycocotools import mask as mask_utils

from annotator.core.atomic import atomic_write_json
from annotator.core.geometry import polygons_of, rings_polygon, split_holes
from annotator.core.labels import LabelSet
from annotator.core.project import AnnotationFileError, Project
from annotator.core.shapes import Shape

SEGMENTATION_MODES = ("auto", "polygon", "rle")


@dataclass
class ExportReport:
    path: Path | None = None
    images: int = 0
    annotations: int = 0
    per_category: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    """One line per image or shape left out, or class added: '<image>: <reason>'."""


def export_coco(project: Project, out: str | os.PathLike, *, segmentation: str = "auto",
                accepted_only: bool = False) -> ExportReport:
    """Write the project as a COCO instances file at *out* (atomically)."""
    data, report = build_coco(project, segmentation=segmentation, accepted_only=accepted_only)
    atomic_write_json(out, data, indent=None)
    report.path = Path(out)
    return report


def build_coco(project: Project, *, segmentation: str = "auto",
               accepted_only: bool = False) -> tuple[dict[str, Any], ExportReport]:
    """The COCO dict of the project and a report of what was left out and why."""
    if segmentation not in SEGMENTATION_MODES:
        raise ValueError(f"segmentation must be one of {', '.join(SEGMENTATION_MODES)}, not {segmentation!r}")
    from engine.images import ImageReadError  # deferred: `engine` imports torch

    labels = LabelSet(project.labels.categories)  # a copy: exporting never edits the project
    report = ExportReport()
    images: list[dict] = []
    annotations: list[dict] = []
    for rel in project.images():
        image_id = len(images) + 1
        try:
            ann = project.load(rel)
        except ImageReadError as exc:
            report.problems.append(f"{rel}: left out of 'images' because its size is unknown: {exc}")
            continue
        except AnnotationFileError as exc:
            # The image is still part of the dataset; only its annotations are unreadable.
            from annotator.core.imageinfo import image_size

            try:
                width, height = image_size(project.image_path(rel))
            except ImageReadError as unreadable:
                report.problems.append(f"{rel}: left out: {exc}; and {unreadable}")
                continue
            report.problems.append(f"{rel}: listed without annotations: {exc}")
            images.append(_image_entry(image_id, rel, width, height))
            continue
        images.append(_image_entry(image_id, rel, ann.width, ann.height))
        for shape in ann.shapes:
            if accepted_only and not shape.accepted:
                continue
            if labels.get(shape.label) is None:
                cat = labels.add(shape.label)
                report.problems.append(f"{rel}: class '{shape.label}' is not in the project's label set; "
                                       f"exported as category id {cat.id}")
            entry = _annotation(shape, len(annotations) + 1, image_id, labels.get(shape.label).id,
                                ann.height, ann.width, segmentation)
            if entry is None:
                report.problems.append(f"{rel}: shape {shape.id} ('{shape.label}') covers no pixel inside "
                                       "the image; left out")
                continue
            annotations.append(entry)
            report.per_category[labels.get(shape.label).name] += 1
    report.images, report.annotations = len(images), len(annotations)
    data = {
        "info": {
            "description": f"Exported by pnp-annotator from {project.root.name}",
            "version": "1.0",
            "date_created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        },
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [{"id": c.id, "name": c.name, "supercategory": "", "color": list(c.color)}
                       for c in labels],
    }
    return data, report


def _image_entry(image_id: int, rel: str, width: int, height: int) -> dict[str, Any]:
    return {"id": image_id, "file_name": rel, "width": width, "height": height}


def _annotation(shape: Shape, ann_id: int, image_id: int, category_id: int,
                height: int, width: int, mode: str) -> dict[str, Any] | None:
    rle = shape.rle(height, width)
    area = float(mask_utils.area(rle))
    if area == 0:
        return None  # a zero-area annotation breaks COCO evaluation and training loaders
    if mode == "rle" or (mode == "auto" and shape.has_holes):
        seg: Any = {"size": [height, width], "counts": rle["counts"].decode("ascii")}
    else:
        seg = _polygons(shape)
    entry: dict[str, Any] = {
        "id": ann_id,
        "image_id": image_id,
        "category_id": category_id,
        "segmentation": seg,
        "area": area,
        "bbox": mask_utils.toBbox(rle).tolist(),
        "iscrowd": 0,
        "attributes": {"source": shape.source, "accepted": shape.accepted, "shape_id": shape.id},
    }
    if shape.score is not None:
        entry["score"] = shape.score
    return entry


def _polygons(shape: Shape) -> list[list[float]]:
    """Every part as COCO polygons; a part with holes is cut into hole-free pieces."""
    out: list[list[float]] = []
    for part in shape.parts:
        if not part.holes:
            # The ring as stored: pycocotools rasterises it exactly as Shape.mask does.
            out.append(part.exterior.ravel().tolist())
            continue
        pieces = [p for poly in polygons_of(rings_polygon(part.exterior, part.holes)) for p in split_holes(poly)]
        out.extend([v for xy in piece.exterior.coords[:-1] for v in xy] for piece in pieces)
    return out
