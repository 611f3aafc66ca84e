"""Exemplar boxes' instances -> proposals (no Qt): what "find all like this" proposes.

SAM 3 returns every instance like the positive boxes; those that are already annotated
(a human-made or accepted shape covering the same pixels, mask IoU >= ``MIN_IOU``) are
not proposed again. Each remaining instance becomes one unaccepted model shape of the
class, with its score, as a Propose with instances makes them (``shapes_from_instances``).
A positive box that no returned instance matches (box IoU >= ``BOX_MATCH_IOU``) and no
existing shape covers is reported as *missed*, so the user can be told to outline it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from annotator.core.proposals import DEFAULT_MIN_AREA_FRACTION, DEFAULT_TOLERANCE, shapes_from_instances
from annotator.core.shapes import Shape

MIN_IOU = 0.8
"""An instance overlapping a human-made or accepted shape this much is that shape: not proposed."""
BOX_MATCH_IOU = 0.5
"""A positive box counts as found when an instance's (or a kept shape's) box overlaps it this much."""


@dataclass
class ExemplarProposals:
    shapes: list  # new unaccepted model shapes, highest score first
    duplicates: int  # instances left out: already annotated
    missed: list  # positive boxes (x0, y0, x1, y1) that nothing returned or annotated matches


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return np.count_nonzero(a & b) / union if union else 0.0


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def is_kept(shape: Shape) -> bool:
    """Human-made or accepted: what exemplar proposals must not duplicate."""
    return shape.source == "human" or shape.accepted


def exemplar_proposals(instances: Sequence, label: str, existing: Sequence[Shape], image_size: tuple[int, int],
                       positive_boxes: Sequence = (), *, tolerance: float = DEFAULT_TOLERANCE,
                       min_area_fraction: float = DEFAULT_MIN_AREA_FRACTION,
                       min_iou: float = MIN_IOU) -> ExemplarProposals:
    """*instances* (engine ``Instance``, one class) as proposals of *label*, minus the already annotated."""
    if not 0 < min_iou <= 1:
        raise ValueError(f"min_iou must be in (0, 1], got {min_iou}")
    height, width = (int(v) for v in image_size)
    kept = [s for s in existing if is_kept(s)]
    kept_masks = [s.mask(height, width) for s in kept]
    fresh, duplicates = [], 0
    for inst in instances:
        mask = np.asarray(inst.mask, dtype=bool)
        if mask.shape != (height, width):
            raise ValueError(f"instance mask is {mask.shape}, the image is {(height, width)}")
        if any(mask_iou(mask, k) >= min_iou for k in kept_masks):
            duplicates += 1
        else:
            fresh.append(inst)
    shapes = shapes_from_instances([_as_class0(i) for i in fresh], [label], (height, width),
                                   tolerance=tolerance, min_area_fraction=min_area_fraction)
    found = [tuple(i.box) for i in instances] + [_bbox_xyxy(s) for s in kept]
    missed = [tuple(b) for b in positive_boxes if not any(box_iou(b, f) >= BOX_MATCH_IOU for f in found)]
    return ExemplarProposals(shapes, duplicates, missed)


def _bbox_xyxy(shape: Shape) -> tuple[float, float, float, float]:
    x, y, w, h = shape.bbox
    return (x, y, x + w, y + h)


def _as_class0(inst):
    """The instance as class 0 (exemplar results have one class)."""
    from dataclasses import replace

    return inst if inst.class_index == 0 else replace(inst, class_index=0)
