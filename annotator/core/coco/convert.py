"""One COCO annotation <-> one ``Shape`` (pixel-exact both ways where COCO allows it).

Import: a polygon list becomes one shape whose parts are the polygons as written
(a rasterisation by pycocotools gives the file's pixels exactly); several
hole-free pieces that join into polygons with holes (our "polygon" export) are
joined again when that leaves the pixels unchanged. An RLE mask becomes one shape
whose parts are its connected regions with their holes (``Shape.from_mask``,
exact). A bbox-only annotation becomes a rectangle. Points outside the image are
clipped to it (and counted).

Export: one annotation per shape. Crowd shapes, "rle" mode and (in "auto" mode)
shapes with holes are written as compressed RLE; otherwise each part's polygon,
parts with holes cut into hole-free pieces. ``area`` and ``bbox`` come from
pycocotools on exactly the segmentation written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from pycocotools import mask as mask_utils
from shapely.geometry import Polygon, box
from shapely.ops import unary_union

from annotator.core.geometry import polygon_rings, polygons_of, rings_polygon, split_holes
from annotator.core.shapes import Part, Shape

SEGMENTATION_MODES = ("auto", "polygon", "rle")
INTERPRETED_KEYS = {"image_id", "category_id", "segmentation", "area", "bbox", "iscrowd", "score"}
OUR_ATTRIBUTES = ("source", "accepted", "shape_id")


@dataclass
class Converted:
    shape: Shape | None  # None: the annotation covers no pixel of the image
    clipped_points: int = 0


# --- import ---------------------------------------------------------------------------
def annotation_to_shape(ann: dict[str, Any], label: str, height: int, width: int, *,
                        shape_id: str, tolerance: float = 0.0) -> Converted:
    """The shape of one validated annotation; ``extra`` keeps every key not interpreted."""
    seg = ann.get("segmentation")
    clipped = 0
    if isinstance(seg, dict):
        rle = seg if isinstance(seg["counts"], str) else mask_utils.frPyObjects(seg, height, width)
        if isinstance(rle["counts"], str):
            rle = {"size": rle["size"], "counts": rle["counts"].encode("ascii")}
        mask = mask_utils.decode(rle).astype(bool)
        probe = Shape.from_mask(label, mask, tolerance=tolerance)
        parts = probe.parts if probe is not None else []
    else:
        if seg:
            rings = [np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in seg]
        else:
            x, y, w, h = (float(v) for v in ann["bbox"])
            rings = [np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]])]
        parts, clipped = _polygon_parts(rings, height, width)
    attrs = dict(ann.get("attributes") or {})
    ours = {k: attrs.pop(k) for k in OUR_ATTRIBUTES if k in attrs}
    extra = {k: v for k, v in ann.items() if k not in INTERPRETED_KEYS and k != "attributes"}
    if attrs:
        extra["attributes"] = attrs
    if not parts:
        return Converted(None, clipped)
    shape = Shape(label, parts=parts, source=ours.get("source", "human"), score=ann.get("score"),
                  accepted=ours.get("accepted", True), id=shape_id, iscrowd=bool(ann.get("iscrowd", 0)),
                  extra=extra)
    if not _covers_a_pixel(shape, height, width):
        return Converted(None, clipped)
    return Converted(shape, clipped)


def _polygon_parts(rings: list[np.ndarray], height: int, width: int) -> tuple[list[Part], int]:
    """Parts of a polygon list and the number of points that lay outside the image."""
    rings = [_open(r) for r in rings]
    rings = [r for r in rings if len(r) >= 3]
    outside = sum(int(np.count_nonzero((r[:, 0] < 0) | (r[:, 0] > width) | (r[:, 1] < 0) | (r[:, 1] > height)))
                  for r in rings)
    if outside:
        return _clipped(rings, height, width), outside
    parts = [Part(r) for r in rings]
    if len(parts) > 1:
        joined = _joined(rings, height, width)
        if joined is not None:
            parts = joined
    return parts, 0


def _clipped(rings: list[np.ndarray], height: int, width: int) -> list[Part]:
    """The rings cut to the image: the polygon intersection when it keeps every in-image
    pixel the file's polygons cover, else those pixels traced (exact either way)."""
    want = mask_utils.decode(_polygons_rle([r.ravel().tolist() for r in rings], height, width)).astype(bool)
    inside = unary_union([shapely.make_valid(Polygon(r)) for r in rings]).intersection(box(0, 0, width, height))
    parts = [Part(*polygon_rings(p)) for p in polygons_of(inside)]
    if parts and np.array_equal(Shape("x", parts=parts).mask(height, width), want):
        return parts
    traced = Shape.from_mask("x", want)
    return traced.parts if traced is not None else []


def _open(ring: np.ndarray) -> np.ndarray:
    closed = len(ring) > 1 and ring[0, 0] == ring[-1, 0] and ring[0, 1] == ring[-1, 1]
    return ring[:-1] if closed else ring


def _joined(rings: list[np.ndarray], height: int, width: int) -> list[Part] | None:
    """Pieces joined into polygons with holes, if that changes no pixel (else None)."""
    polys = polygons_of(unary_union([rings_polygon(r, []) for r in rings]))
    if not polys or len(polys) == len(rings) and not any(p.interiors for p in polys):
        return None  # nothing joined: keep the rings exactly as written
    joined = [Part(*polygon_rings(p)) for p in polys]
    before = mask_utils.decode(_polygons_rle([r.ravel().tolist() for r in rings], height, width)).astype(bool)
    after = Shape("x", parts=joined).mask(height, width)
    return joined if np.array_equal(before, after) else None


def _covers_a_pixel(shape: Shape, height: int, width: int) -> bool:
    if not shape.has_holes:  # RLE arithmetic, no full-size mask; the union covers a pixel if any part does
        rles = mask_utils.frPyObjects([p.exterior.ravel() for p in shape.parts], height, width)
        return bool(mask_utils.area(rles).any())
    return bool(shape.mask(height, width).any())


def annotation_mask(ann: dict[str, Any], height: int, width: int) -> np.ndarray:
    """bool [H, W]: pycocotools' rasterisation of one annotation, what COCO users train on.

    Polygons are merged, uncompressed RLE is compressed first, compressed RLE is decoded
    as written; an annotation with no segmentation is its bbox.
    """
    seg = ann.get("segmentation")
    if isinstance(seg, dict):
        rle = mask_utils.frPyObjects(seg, height, width) if isinstance(seg.get("counts"), list) else seg
    elif seg:
        rle = _polygons_rle(seg, height, width)
    else:
        x, y, w, h = (float(v) for v in ann["bbox"])
        rle = _polygons_rle([[x, y, x + w, y, x + w, y + h, x, y + h]], height, width)
    return mask_utils.decode(rle).astype(bool)


def _polygons_rle(polys: list[list[float]], height: int, width: int) -> dict:
    return mask_utils.merge(mask_utils.frPyObjects(polys, height, width))


# --- export ---------------------------------------------------------------------------
def shape_segmentation(shape: Shape, height: int, width: int, mode: str) -> tuple[Any, dict]:
    """(COCO segmentation, its RLE) for *shape*; area and bbox are taken from that RLE."""
    if shape.iscrowd or mode == "rle" or (mode == "auto" and shape.has_holes):
        rle = shape.rle(height, width)
        return {"size": [height, width], "counts": rle["counts"].decode("ascii")}, rle
    polys = shape_polygons(shape)
    return polys, _polygons_rle(polys, height, width)


def shape_polygons(shape: Shape) -> list[list[float]]:
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


def shape_annotation(shape: Shape, ann_id: int, image_id: int, category_id: int,
                     height: int, width: int, mode: str) -> dict[str, Any] | None:
    """The COCO annotation of *shape*, its kept ``extra`` keys included; None if it has no pixel."""
    seg, rle = shape_segmentation(shape, height, width, mode)
    area = float(mask_utils.area(rle))
    if area == 0:
        return None  # a zero-area annotation breaks COCO evaluation and training loaders
    extra = dict(shape.extra)
    attrs = dict(extra.pop("attributes", None) or {})
    attrs.update({"source": shape.source, "accepted": shape.accepted, "shape_id": shape.id})
    entry: dict[str, Any] = {**extra, "id": ann_id, "image_id": image_id, "category_id": category_id,
                             "segmentation": seg, "area": area, "bbox": mask_utils.toBbox(rle).tolist(),
                             "iscrowd": int(shape.iscrowd), "attributes": attrs}
    if shape.score is not None:
        entry["score"] = shape.score
    return entry
