"""COCO instances file -> project annotations.

Everything is checked and converted in memory first; files are written only
when the whole input is usable, so a bad file never leaves a half import.
Images are matched by relative path, then by unique basename; what cannot be
matched (or has the wrong size, or an unknown category) is reported, not dropped
silently.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import numpy as np
from pycocotools import mask as mask_utils
from shapely.geometry import Polygon
from shapely.ops import unary_union

from annotator.core.annotations import ImageAnnotations
from annotator.core.coco.schema import CocoFormatError, read_coco
from annotator.core.geometry import mask_to_polygons, polygon_rings, polygons_of, rings_polygon
from annotator.core.project import AnnotationFileError, Project
from annotator.core.shapes import Shape, new_id


@dataclass
class ImportReport:
    images_matched: int = 0
    shapes: int = 0
    written: list[str] = field(default_factory=list)
    unmatched_images: list[str] = field(default_factory=list)
    """'<file_name>: <why>' for COCO images not found (or not usable) in the project."""
    unknown_categories: list[str] = field(default_factory=list)
    """'annotations[i] (id N): category_id K is not in categories' per skipped annotation."""
    problems: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not (self.unmatched_images or self.unknown_categories or self.problems)


def import_coco(project: Project, coco_path: str | os.PathLike, *, replace: bool = False,
                tolerance: float = 0.0) -> ImportReport:
    """Add the annotations of a COCO file to the project's images.

    replace=False keeps existing shapes (an imported shape whose shape_id matches
    one replaces it, so re-importing our own export does not duplicate); replace=True
    drops the existing shapes of every matched image. RLE masks become polygons
    with holes that rasterise back to exactly the
    mask (simplify them by *tolerance* pixels if wanted). CocoFormatError: nothing written.
    """
    from engine.images import ImageReadError  # deferred: `engine` imports torch

    data = read_coco(coco_path)
    report = ImportReport()
    categories = {c["id"]: c for c in data["categories"]}
    matches = _match_images(project, data["images"], report)

    by_image: dict[int, list[tuple[int, dict]]] = defaultdict(list)
    for i, a in enumerate(data.get("annotations", [])):
        by_image[a["image_id"]].append((i, a))

    results: list[ImageAnnotations] = []
    for im in data["images"]:
        rel = matches.get(im["id"])
        if rel is None:
            continue
        try:
            ann = project.load(rel)
        except (AnnotationFileError, ImageReadError) as exc:
            report.problems.append(f"{rel}: not imported: {exc}")
            continue
        if (ann.width, ann.height) != (im["width"], im["height"]):
            report.unmatched_images.append(
                f"{im['file_name']}: the image is {ann.width}x{ann.height} here but "
                f"{im['width']}x{im['height']} in the COCO file; not imported")
            continue
        shapes = []
        for i, a in by_image.get(im["id"], []):
            cat = categories.get(a["category_id"])
            if cat is None:
                report.unknown_categories.append(
                    f"annotations[{i}] (id {a.get('id')}): category_id {a['category_id']} is not in "
                    "'categories'; annotation not imported")
                continue
            try:
                new = _shapes(a, cat["name"], im["height"], im["width"], tolerance)
            except ValueError as exc:
                raise CocoFormatError(f"{coco_path}: annotations[{i}]: {exc}") from None
            if not new:
                report.problems.append(f"annotations[{i}] (id {a.get('id')}): its segmentation covers no "
                                       "area; not imported")
            for shape in new:
                if any(shape.id == s.id for s in shapes):  # ids must stay unique within an image
                    shape.id = new_id()
                shapes.append(shape)
        report.images_matched += 1
        if shapes or replace:  # an image with nothing to add keeps its file (or lack of one)
            _merge(ann, shapes, replace)
            results.append(ann)
            report.shapes += len(shapes)

    # Every check passed: now write. Categories join the label set in the file's order.
    for cat in data["categories"]:
        color = cat.get("color")
        ok = isinstance(color, list) and len(color) == 3 and all(isinstance(v, int) and 0 <= v <= 255 for v in color)
        project.labels.add(cat["name"], tuple(color) if ok else None)
    project.save_settings()
    for ann in results:
        project.save(ann)
        report.written.append(ann.image)
    return report


def _match_images(project: Project, images: list[dict], report: ImportReport) -> dict[int, str]:
    """COCO image id -> project image path: relative path first, then a unique basename."""
    ours = project.images()
    exact = set(ours)
    by_name: dict[str, list[str]] = defaultdict(list)
    for rel in ours:
        by_name[PurePosixPath(rel).name].append(rel)
    matches: dict[int, str] = {}
    for im in images:
        name = PurePosixPath(im["file_name"].replace("\\", "/").removeprefix("./"))
        if name.as_posix() in exact:
            matches[im["id"]] = name.as_posix()
            continue
        candidates = by_name.get(name.name, [])
        if len(candidates) == 1:
            matches[im["id"]] = candidates[0]
        elif candidates:
            report.unmatched_images.append(
                f"{im['file_name']}: its name matches {len(candidates)} images ({', '.join(candidates[:3])}); "
                "give the relative path in file_name")
        else:
            report.unmatched_images.append(f"{im['file_name']}: no such image in {project.root}")
    return matches


def _shapes(a: dict, label: str, height: int, width: int, tolerance: float) -> list[Shape]:
    seg = a.get("segmentation")
    if isinstance(seg, dict):
        rle = seg if isinstance(seg["counts"], str) else mask_utils.frPyObjects(seg, height, width)
        if isinstance(rle["counts"], str):
            rle = {"size": rle["size"], "counts": rle["counts"].encode("ascii")}
        polys = mask_to_polygons(mask_utils.decode(rle).astype(bool), tolerance)
    elif seg:
        # Union, not one shape per polygon: hole-free pieces of one region (as our
        # "polygon" export writes them) merge back into one polygon with its holes.
        parts = [rings_polygon(np.asarray(p, dtype=np.float64).reshape(-1, 2), []) for p in seg]
        polys = polygons_of(unary_union(parts))
    else:
        x, y, w, h = (float(v) for v in a["bbox"])
        polys = [Polygon([(x, y), (x + w, y), (x + w, y + h), (x, y + h)])]
    attrs = a.get("attributes", {})
    shape_id = attrs.get("shape_id")
    out = []
    for k, poly in enumerate(polys):
        exterior, holes = polygon_rings(poly)
        keep_id = isinstance(shape_id, str) and shape_id and k == 0
        out.append(Shape(label, exterior, holes, source=attrs.get("source", "human"),
                         score=a.get("score"), accepted=attrs.get("accepted", True),
                         id=shape_id if keep_id else new_id()))
    return out


def _merge(ann: ImageAnnotations, shapes: list[Shape], replace: bool) -> None:
    if replace:
        ann.shapes = list(shapes)
        return
    incoming = {s.id for s in shapes}
    ann.shapes = [s for s in ann.shapes if s.id not in incoming] + list(shapes)
