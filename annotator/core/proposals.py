"""Model proposals: an engine result becomes editable ``Shape`` objects.

Two modes (``ProjectSettings.proposals``):

* regions: each 8-connected region of each class of the label map is one shape with
  its holes; the score is the mean min-max-normalised class heatmap inside the region,
  i.e. how strongly the model attended to it for that class.
* instances (engines that detect objects: SAM 3): one shape per instance, its mask's
  every component a part; where instances overlap, the pixels go to the higher score;
  the score is the instance's.

Components below the minimum area are dropped in both (label maps carry speckle that
nobody wants to delete by hand).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import cv2
import numpy as np

from annotator.core.geometry import min_pixels_for, polygon_rings, region_polygons, regions
from annotator.core.proposal_settings import (DEFAULT_MIN_AREA_FRACTION, DEFAULT_TOLERANCE, PROPOSAL_MODES,
                                              ProposalSettings)
from annotator.core.shapes import Shape

if TYPE_CHECKING:
    from engine import Instance, SegmentationResult


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


def makes_instances(engine: str) -> bool:
    """The engine registry's word on whether *engine*'s results carry instances ("routed", calibrated
    routes of core.routed_segmenter, is not an engine of the registry: its results do)."""
    from engine.config import engine_info

    if engine == "routed":
        return True
    try:
        return engine_info(engine).instances
    except ValueError:
        return False


def resolve_proposals(mode: str, engine: str) -> str:
    """"regions" or "instances" for a mode and an engine name ("pnp-ovss", "sam3").

    auto: instances for engines that detect them, else regions. ValueError names the
    problem for an unknown mode or instances from an engine that has none.
    """
    if mode not in PROPOSAL_MODES:
        raise ValueError(f"proposals must be one of {', '.join(PROPOSAL_MODES)}, not {mode!r}")
    if mode == "auto":
        return "instances" if makes_instances(engine) else "regions"
    if mode == "instances" and not makes_instances(engine):
        raise ValueError(f"proposals 'instances' needs an engine that detects objects (SAM 3); "
                         f"the {engine} engine gives regions: use proposals 'regions' or 'auto'")
    return mode


def shapes_from_instances(
    instances: Sequence[Instance],
    classes: list[str],
    image_size: tuple[int, int],
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    min_area_fraction: float = DEFAULT_MIN_AREA_FRACTION,
) -> list[Shape]:
    """One unaccepted model shape per instance (highest score first), overlaps given to
    the higher score; an instance left with no pixels above the minimum area gives none."""
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0 pixels, got {tolerance}")
    if not 0 <= min_area_fraction < 1:
        raise ValueError(f"min_area_fraction must be in [0, 1), got {min_area_fraction}")
    height, width = (int(v) for v in image_size)
    min_pixels = min_pixels_for(min_area_fraction, height, width)
    taken = np.zeros((height, width), bool)
    shapes: list[Shape] = []
    for inst in sorted(instances, key=lambda i: -i.score):  # stable: equal scores keep their order
        if not 0 <= inst.class_index < len(classes):
            raise ValueError(f"instance class_index {inst.class_index} is outside the {len(classes)} classes")
        mask = np.asarray(inst.mask, dtype=bool)
        if mask.shape != (height, width):
            raise ValueError(f"instance mask is {mask.shape}, the image is {(height, width)}")
        own = mask & ~taken
        taken |= mask
        kept = np.zeros_like(own)
        for region in regions(own, min_pixels):
            rows, cols = region.pixels.shape
            kept[region.y0:region.y0 + rows, region.x0:region.x0 + cols] |= region.pixels
        shape = Shape.from_mask(classes[inst.class_index], kept, tolerance=tolerance, source="model",
                                score=float(inst.score), accepted=False)
        if shape is not None:
            shapes.append(shape)
    return shapes


def proposals_from_result(
    result: SegmentationResult,
    *,
    mode: str = "auto",
    tolerance: float = DEFAULT_TOLERANCE,
    min_area_fraction: float = DEFAULT_MIN_AREA_FRACTION,
) -> list[Shape]:
    """Shapes of an engine result: its label map's regions or its instances (see ``resolve_proposals``)."""
    if getattr(result, "engine", "") == "routed":  # several engines, one partition (core.routed_segmenter)
        from annotator.core.routed_segmenter import routed_shapes

        return routed_shapes(result, tolerance=tolerance, min_area_fraction=min_area_fraction)
    if resolve_proposals(mode, getattr(result, "engine", "pnp-ovss")) == "instances":
        return shapes_from_instances(result.instances, list(result.classes), result.image_size,
                                     tolerance=tolerance, min_area_fraction=min_area_fraction)
    return shapes_from_label_map(result.label_map, list(result.classes), result.heatmaps,
                                 tolerance=tolerance, min_area_fraction=min_area_fraction)


def result_to_shapes(result: SegmentationResult, settings: ProposalSettings) -> list[Shape]:
    """The proposals stage: shapes of a post-processed result with the record's mode,
    tolerance and minimum area (``proposals_from_result``). *settings*: a ``ProposalSettings``
    or anything carrying one as ``.settings`` (``PipelineOptions``)."""
    settings = getattr(settings, "settings", settings)
    return proposals_from_result(result, mode=settings.proposals, tolerance=settings.tolerance,
                                 min_area_fraction=settings.min_area_fraction)


def _score_map(heatmap: np.ndarray, height: int, width: int) -> np.ndarray:
    """The class heatmap min-max normalised to [0, 1] and resized to the image."""
    lo, hi = float(heatmap.min()), float(heatmap.max())
    norm = (heatmap - lo) / (hi - lo) if hi > lo else np.zeros_like(heatmap)
    return cv2.resize(norm, (width, height), interpolation=cv2.INTER_LINEAR)
