"""One COCO image's annotations -> shapes (``image_shapes``), in this process or in the
import's worker processes (``coco.parallel``); the importer and the pool both use it, so
neither imports the other."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from annotator.core.coco.convert import annotation_to_shape
from annotator.core.shapes import Shape, new_id

_NAMESPACE = uuid.UUID("6f1c1d52-5a0e-4a43-9d55-3c1f0e0c9b10")


@dataclass
class ImageShapes:
    """One COCO image's annotations converted (``image_shapes``)."""

    shapes: list[Shape] = field(default_factory=list)
    unknown_categories: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    clipped_points: int = 0


def image_shapes(im: dict, anns: list[tuple[int, dict]], names: dict[int, str], tolerance: float) -> ImageShapes:
    """The shapes of one image's (index, annotation) pairs and what could not be imported."""
    out = ImageShapes()
    seen: set[str] = set()
    for i, a in anns:
        where = f"annotations[{i}] (id {a.get('id')})"
        label = names.get(a["category_id"])
        if label is None:
            out.unknown_categories.append(
                f"{where}: category_id {a['category_id']} is not in 'categories'; annotation not imported")
            continue
        converted = annotation_to_shape(a, label, im["height"], im["width"], tolerance=tolerance,
                                        shape_id=_shape_id(a, im))
        out.clipped_points += converted.clipped_points
        shape = converted.shape
        if shape is None:
            out.problems.append(f"{where} on {im['file_name']}: covers no pixel of the image; not imported")
            continue
        if shape.id in seen:  # ids must stay unique within an image
            out.problems.append(f"{where}: shape_id {shape.id} is used by an earlier annotation of the "
                                "same image; imported with a new id")
            shape.id = new_id()
        seen.add(shape.id)
        out.shapes.append(shape)
    return out


def _shape_id(a: dict, im: dict) -> str:
    ours = (a.get("attributes") or {}).get("shape_id")
    if isinstance(ours, str) and ours:
        return ours
    if "id" in a:
        return uuid.uuid5(_NAMESPACE, f"{im['file_name']}#{a['id']}").hex
    return new_id()
