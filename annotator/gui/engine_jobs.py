"""What the engine thread is asked, and with what: the engine settings, the jobs (plain
dataclasses sent over a queued signal), the failure kinds reported back, and the
production factories and polygon step the worker is built with.

No Qt here: ``engine_worker`` (EngineWorker in the engine thread, EngineClient in the
GUI thread) runs these jobs.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class EngineSettings:
    """What the engine runs with; a new model, device or presence threshold reloads it lazily."""

    model: str
    device: str = "auto"
    presence_threshold: float | None = None
    threshold: float = 0.15  # default for jobs that do not override it
    background: str = "auto"
    routes: str = ""  # ProjectSettings.routes as sorted JSON ("" = none): new routes reload the engine

    @classmethod
    def from_project(cls, settings) -> EngineSettings:
        """The engine part of a project's ``ProjectSettings`` (None/"" mean the engine's defaults)."""
        from engine import DEFAULT_MODEL

        model = settings.model.strip() or DEFAULT_MODEL
        return cls(model=model, device=settings.device or "auto",
                   presence_threshold=settings.presence_threshold,
                   threshold=_engine_threshold(model) if settings.threshold is None else settings.threshold,
                   background=settings.background,
                   routes=json.dumps(getattr(settings, "routes", None) or {}, sort_keys=True)
                   if getattr(settings, "routes", None) else "")


def _engine_threshold(model: str) -> float:
    """The default threshold of the engine *model* runs (PnP-OVSS's heatmap threshold, SAM 3's
    semantic threshold), read from a known hub id or a local folder's config.json: no model
    load and no network, so the window can ask on its own thread."""
    from engine.config import engine_for_hub_id, engine_for_model_type

    info = engine_for_hub_id(model)
    config = Path(model).expanduser() / "config.json"
    if info is None and config.is_file():
        try:
            info = engine_for_model_type(str(json.loads(config.read_text(encoding="utf-8")).get("model_type", "")))
        except (OSError, ValueError, AttributeError):
            info = None
    if info is not None and info.name == "sam3":
        from engine.sam3.config import Sam3SegmenterConfig

        return Sam3SegmenterConfig.threshold
    from engine.pnp_ovss.config import SegmenterConfig

    return SegmenterConfig.threshold


@dataclass
class Polygonize:
    """How label maps become shapes (the polygon step the sliders re-run)."""

    tolerance: float = 1.5
    min_area_fraction: float = 0.0005
    refine: bool = False  # sharpen the label map with the interactive model first (core.refine)
    proposals: str = "auto"  # "auto" | "regions" | "instances" (ProjectSettings.proposals)


@dataclass
class SegmentJob:
    job_id: int
    image: str  # project-relative path: the identity results are routed by
    path: Path
    classes: list[str]
    threshold: float | None = None
    background: str | None = None
    polygonize: Polygonize = field(default_factory=Polygonize)
    pixels: np.ndarray | None = None  # already-decoded RGB, saves a second read
    cancel: threading.Event = field(default_factory=threading.Event)


@dataclass
class PostprocessJob:
    """Threshold / background / simplification changed: no model call."""

    job_id: int
    image: str
    result: Any  # engine.SegmentationResult
    threshold: float
    background: str
    polygonize: Polygonize = field(default_factory=Polygonize)
    cancel: threading.Event = field(default_factory=threading.Event)


@dataclass
class BatchJob:
    """A folder run: ``core.pipeline.run_pipeline`` over *images* with *options*."""

    job_id: int
    project: Any  # annotator.core.project.Project
    images: list[str]  # project-relative paths in processing order
    options: Any  # annotator.core.pipeline.PipelineOptions
    cancel: threading.Event = field(default_factory=threading.Event)


# Failure kinds, so the window can choose between status bar and dialog.
CANCELLED, OUT_OF_MEMORY, BAD_INPUT, NO_MODEL, IMAGE_ERROR, ENGINE_ERROR = (
    "cancelled", "out of memory", "bad input", "no model", "unreadable image", "engine error")


def load_segmenter(settings: EngineSettings):
    """The production factory: the pipeline's ``load_segmenter``, as the CLI loads it."""
    from annotator.core.pipeline import load_segmenter as load
    from annotator.core.project import ProjectSettings

    # postprocess_workers=1: the dense CRF holds the GIL for up to a second; in a helper
    # process it cannot freeze the GUI thread.
    project_settings = ProjectSettings(model=settings.model, device=settings.device,
                                       presence_threshold=settings.presence_threshold,
                                       threshold=settings.threshold, background=settings.background,
                                       routes=json.loads(settings.routes) if settings.routes else {})
    return load(project_settings, postprocess_workers=1)


def load_interactive(model: str, device: str):
    """The production factory of the click-to-segment model (SAM 2.1 or the SAM 3 tracker)."""
    from engine.interactive import DEFAULT_INTERACTIVE_MODEL, InteractiveSegmenter

    return InteractiveSegmenter.load(model or DEFAULT_INTERACTIVE_MODEL, device=device)


def polygonize_label_map(label_map, classes, heatmaps, params: Polygonize, result=None) -> list:
    """The core's polygon step (the one place that turns results into shapes): the label
    map's regions, or *result*'s instances when ``params.proposals`` resolves to them."""
    from annotator.core.proposals import resolve_proposals, shapes_from_instances, shapes_from_label_map

    engine = getattr(result, "engine", "pnp-ovss")
    if engine == "routed":  # calibrated routes: instances over regions, one partition
        from annotator.core.routed_segmenter import routed_shapes

        return routed_shapes(result, label_map, tolerance=params.tolerance, min_area_fraction=params.min_area_fraction)
    if result is not None and resolve_proposals(params.proposals, engine) == "instances":
        return shapes_from_instances(result.instances, list(result.classes), result.image_size,
                                     tolerance=params.tolerance, min_area_fraction=params.min_area_fraction)
    return shapes_from_label_map(label_map, classes, heatmaps, tolerance=params.tolerance,
                                 min_area_fraction=params.min_area_fraction)


def read_image(path: Path) -> np.ndarray:
    """The production image reader: RGB uint8 [H, W, 3]."""
    from engine.images import load_rgb

    return load_rgb(path)
