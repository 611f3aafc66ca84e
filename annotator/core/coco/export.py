"""Project -> COCO instances file.

- Categories: the label set's stored ids (gaps kept, no forced background), with their
  supercategory and any other category keys an import brought (keypoints, skeleton).
- Images: every image of the project, annotated or not, with its relative path; ids
  and extra image keys (license, coco_url, date_captured, ...) as last imported
  (``meta.image_ids``: kept ids, new ones after them).
- Annotations: one per shape (a multi-part shape is one annotation), ``iscrowd`` from
  the shape, the shape's kept keys (``extra``: the original id, keypoints, other tools'
  attributes) written back; the original annotation id is reused when it is free.
  ``area``/``bbox`` are computed by pycocotools from the segmentation actually written.
- ``info``/``licenses``: as last imported, else our own.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annotator.core.atomic import atomic_write_json
from annotator.core.outputs import EXPORT_MARKER, EXPORT_STAMP
from annotator.core.coco.convert import SEGMENTATION_MODES, shape_annotation
from annotator.core.coco.meta import image_ids, load_meta
from annotator.core.jobs import Progress, check
from annotator.core.labels import LabelSet
from annotator.core.project import AnnotationFileError, Project


@dataclass
class ExportReport:
    path: Path | None = None
    images: int = 0
    annotations: int = 0
    per_category: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    """One line per image or shape left out, or class added: '<image>: <reason>'."""


def export_coco(project: Project, out: str | os.PathLike, *, segmentation: str = "auto",
                accepted_only: bool = False, used_classes_only: bool = False,
                progress: Progress | None = None, cancel=None) -> ExportReport:
    """Write the project as a COCO instances file at *out* (atomically: nothing is written
    when it fails or *cancel* is set, JobCancelled). progress(done, total) per image."""
    data, report = build_coco(project, segmentation=segmentation, accepted_only=accepted_only,
                              used_classes_only=used_classes_only, progress=progress, cancel=cancel)
    check(cancel)
    atomic_write_json(out, data, indent=None)
    report.path = Path(out)
    return report


def build_coco(project: Project, *, segmentation: str = "auto", accepted_only: bool = False,
               used_classes_only: bool = False, progress: Progress | None = None,
               cancel=None) -> tuple[dict[str, Any], ExportReport]:
    """The COCO dict of the project and a report of what was left out and why.

    *used_classes_only* leaves out categories no exported annotation uses (a class typed
    once, or left behind by an undone relabel); the others keep their stable ids.
    progress(done, total) per image; *cancel* (``is_set()``) raises JobCancelled.
    """
    if segmentation not in SEGMENTATION_MODES:
        raise ValueError(f"segmentation must be one of {', '.join(SEGMENTATION_MODES)}, not {segmentation!r}")
    from engine.images import ImageReadError  # deferred: `engine` imports torch

    labels = LabelSet(project.labels.categories)  # a copy: exporting never edits the project
    report = ExportReport()
    meta, meta_problem = load_meta(project)
    if meta_problem:
        report.problems.append(meta_problem)
    rels = project.images()
    ids = image_ids(rels, meta)
    images: list[dict] = []
    annotations: list[dict] = []
    for done, rel in enumerate(rels):
        check(cancel)
        if progress is not None:
            progress(done, len(rels))
        image_id = ids[rel]
        extra = meta.images.get(rel, {}).get("extra") or {}
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
            images.append(_image_entry(image_id, rel, width, height, extra))
            continue
        size = _replaced(project, rel, ann)
        if size is not None:  # shapes drawn on another image: never exported out of its bounds
            report.problems.append(
                f"{rel}: the image was replaced: it is now {size[0]}x{size[1]} but its {len(ann.shapes)} shape(s) "
                f"were drawn on a {ann.width}x{ann.height} image; listed without annotations (the shapes are "
                "kept in the project: check them in the window)")
            images.append(_image_entry(image_id, rel, size[0], size[1], extra))
            continue
        images.append(_image_entry(image_id, rel, ann.width, ann.height, extra))
        for shape in ann.shapes:
            if accepted_only and not shape.accepted:
                continue
            if labels.get(shape.label) is None:
                cat = labels.add(shape.label)
                report.problems.append(f"{rel}: class '{shape.label}' is not in the project's label set; "
                                       f"exported as category id {cat.id}")
            entry = shape_annotation(shape, 0, image_id, labels.get(shape.label).id,
                                     ann.height, ann.width, segmentation)
            if entry is None:
                report.problems.append(f"{rel}: shape {shape.id} ('{shape.label}') covers no pixel inside "
                                       "the image; left out")
                continue
            entry["id"] = shape.extra.get("id")  # the original id, resolved below
            annotations.append(entry)
            report.per_category[labels.get(shape.label).name] += 1
    if progress is not None:
        progress(len(rels), len(rels))
    for rel, entry in deleted_images(project, rels):
        report.problems.append(f"{rel}: the image file is gone but its annotations ({entry.shapes} shape(s)) are "
                               f"kept in {project.annotation_path(rel)}; not exported (put the image back to "
                               "export them)")
    _assign_ids(annotations)
    report.images, report.annotations = len(images), len(annotations)
    data = {
        EXPORT_MARKER: EXPORT_STAMP,  # first: tells our export apart (core.outputs: --out never replaces others')
        **{k: v for k, v in meta.extra.items() if k != EXPORT_MARKER},
        "info": meta.info if meta.info is not None else {
            "description": f"Exported by pnp-annotator from {project.root.name}",
            "version": "1.0",
            "date_created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        },
        "licenses": meta.licenses if meta.licenses is not None else [],
        "images": images,
        "annotations": annotations,
        "categories": [{**c.extra, "id": c.id, "name": c.name, "supercategory": c.supercategory,
                        "color": list(c.color)} for c in labels
                       if not used_classes_only or report.per_category[c.name]],
    }
    return data, report


def deleted_images(project: Project, images: list[str]) -> list[tuple[str, Any]]:
    """(rel, IndexEntry) of annotation files whose image is no longer in the folder."""
    present = set(images)
    gone = [rel for rel, _, _ in project.index.annotation_files() if rel not in present]
    return [(rel, entry) for rel in sorted(gone) if (entry := project.entry(rel)) is not None]


def _replaced(project: Project, rel: str, ann) -> tuple[int, int] | None:
    """The image's (width, height) from its header when it differs from the stored size of
    an image with shapes (the file was replaced), else None."""
    if not ann.shapes:
        return None
    from annotator.core.imageinfo import image_size

    try:
        size = image_size(project.image_path(rel))
    except ValueError:  # ImageReadError: the shapes stay with the stored size
        return None
    return None if size == (ann.width, ann.height) else size


def _assign_ids(annotations: list[dict]) -> None:
    """Keep each annotation's original integer id when no earlier one took it; number the rest
    after the largest id."""
    used: set[int] = set()
    pending = []
    for a in annotations:
        i = a["id"]
        if isinstance(i, int) and not isinstance(i, bool) and i not in used:
            used.add(i)
        else:
            pending.append(a)
    next_id = max(used, default=0) + 1
    for a in pending:
        a["id"] = next_id
        next_id += 1


def _image_entry(image_id: int, rel: str, width: int, height: int, extra: dict) -> dict[str, Any]:
    return {**extra, "id": image_id, "file_name": rel, "width": width, "height": height}
