"""Model proposals: a segmentation label map becomes editable ``Shape`` objects.

Each 8-connected region of each class is one shape with its holes. Regions below
the minimum area are dropped (label maps carry speckle that nobody wants to
delete by hand); the score is the mean min-max-normalised class heatmap inside
the region, i.e. how strongly the model attended to it for that class.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from annotator.core.geometry import min_pixels_for, polygon_rings, region_polygons, regions
from annotator.core.shapes import Shape

if TYPE_CHECKING:
    from engine import SegmentationResult

DEFAULT_TOLERANCE = 1.5
DEFAULT_MIN_AREA_FRACTION = 0.0005


def shapes_from_label_map(
    label_map: np.ndarray,
    classes: list[str],
    heatmaps: np.ndarray | None = None,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    min_area_fraction: float = DEFAULT_MIN_AREA_FRACTION,
) -> list[Shape]:
    """Unaccepted model shapes for every class region of *label_map* (0 = unlabeled,
    i = classes[i-1]); heatmaps [C, P, P] (any P) give the scores, else score is None."""
    label_map = np.asarray(label_map)
    if label_map.ndim != 2 or label_map.size == 0:
        raise ValueError(f"label_map must be a non-empty 2-D array, got shape {label_map.shape}")
    if not np.issubdtype(label_map.dtype, np.integer):
        raise ValueError(f"label_map must hold integer class indices, got dtype {label_map.dtype}")
    lo, hi = int(label_map.min()), int(label_map.max())
    if lo < 0 or hi > len(classes):
        raise ValueError(f"label_map holds values {lo}..{hi} but there are {len(classes)} classes "
                         f"(0 = unlabeled, 1..{len(classes)} = classes)")
    if heatmaps is not None:
        heatmaps = np.asarray(heatmaps, dtype=np.float32)
        if heatmaps.ndim != 3 or heatmaps.shape[0] != len(classes):
            raise ValueError(f"heatmaps must be [C, P, P] with C = {len(classes)} classes, "
                             f"got shape {heatmaps.shape}")
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0 pixels, got {tolerance}")
    if not 0 <= min_area_fraction < 1:
        raise ValueError(f"min_area_fraction must be in [0, 1), got {min_area_fraction}")

    height, width = label_map.shape
    min_pixels = min_pixels_for(min_area_fraction, height, width)
    shapes: list[Shape] = []
    for index, name in enumerate(classes, start=1):
        mask = label_map == index
        if not mask.any():
            continue
        score_map = None if heatmaps is None else _score_map(heatmaps[index - 1], height, width)
        for region in regions(mask, min_pixels):
            score = None
            if score_map is not None:
                box = score_map[region.y0:region.y0 + region.pixels.shape[0],
                                region.x0:region.x0 + region.pixels.shape[1]]
                score = float(box[region.pixels].mean())
            for poly in region_polygons(region, tolerance):
                exterior, holes = polygon_rings(poly)
                shapes.append(Shape(name, exterior, holes, source="model", score=score, accepted=False))
    return shapes


def proposals_from_result(
    result: SegmentationResult,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    min_area_fraction: float = DEFAULT_MIN_AREA_FRACTION,
) -> list[Shape]:
    """Shapes of an engine result (its label map, class list and heatmaps)."""
    return shapes_from_label_map(result.label_map, list(result.classes), result.heatmaps,
                                 tolerance=tolerance, min_area_fraction=min_area_fraction)


def _score_map(heatmap: np.ndarray, height: int, width: int) -> np.ndarray:
    """The class heatmap min-max normalised to [0, 1] and resized to the image."""
    lo, hi = float(heatmap.min()), float(heatmap.max())
    norm = (heatmap - lo) / (hi - lo) if hi > lo else np.zeros_like(heatmap)
    return cv2.resize(norm, (width, height), interpolation=cv2.INTER_LINEAR)
