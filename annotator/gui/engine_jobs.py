"""What the engine thread is asked, and with what: the engine settings, the jobs (plain
dataclasses sent over a queued signal, each carrying its ``ProposalSettings``, which comes
back with its result), the failure kinds reported back, and the production factories and
proposals stage the worker is built with.

No Qt here: ``engine_worker`` (EngineWorker in the engine thread, EngineClient in the
GUI thread) runs these jobs.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from annotator.core.proposal_settings import ProposalSettings


@dataclass(frozen=True)
class EngineSettings:
    """What the engine is loaded with; a new model, device or presence threshold reloads it
    lazily. How results become proposals is not here: each job carries its ``ProposalSettings``."""

    model: str
    device: str = "auto"
    presence_threshold: float | None = None
    routes: str = ""  # ProjectSettings.routes as sorted JSON ("" = none): new routes reload the engine

    @classmethod
    def from_project(cls, settings) -> EngineSettings:
        """The engine part of a project's ``ProjectSettings`` (None/"" mean the engine's defaults)."""
        from engine import DEFAULT_MODEL

        routes = getattr(settings, "routes", None)
        return cls(model=settings.model.strip() or DEFAULT_MODEL, device=settings.device or "auto",
                   presence_threshold=settings.presence_threshold,
                   routes=json.dumps(routes, sort_keys=True) if routes else "")

    @property
    def engine(self) -> str:
        """The registry's name of the engine the model runs (read without loading it)."""
        from engine.config import engine_for_model

        return engine_for_model(self.model).name

    @property
    def default_threshold(self) -> float:
        """The engine's own threshold (the engine registry's), for jobs whose record has none."""
        from engine.config import default_threshold

        return default_threshold(self.engine)


@dataclass
class SegmentJob:
    job_id: int
    image: str  # project-relative path: the identity results are routed by
    path: Path
    classes: list[str]
    settings: ProposalSettings = field(default_factory=ProposalSettings)  # comes back with the result
    model: str = ""  # recorded in the image's model_run
    pixels: np.ndarray | None = None  # already-decoded RGB, saves a second read
    cancel: threading.Event = field(default_factory=threading.Event)


@dataclass
class PostprocessJob:
    """Threshold / background / simplification / proposals mode changed: no model call."""

    job_id: int
    image: str
    result: Any  # engine.SegmentationResult
    settings: ProposalSettings = field(default_factory=ProposalSettings)
    cancel: threading.Event = field(default_factory=threading.Event)


@dataclass
class BatchJob:
    """A folder run: ``core.pipeline.run_pipeline`` over *images* with *options*."""

    job_id: int
    project: Any  # annotator.core.project.Project
    images: list[str]  # project-relative paths in processing order
    options: Any  # annotator.core.pipeline.PipelineOptions (its settings come back with each image)
    cancel: threading.Event = field(default_factory=threading.Event)


# Failure kinds, so the window can choose between status bar and dialog.
CANCELLED, OUT_OF_MEMORY, BAD_INPUT, NO_MODEL, IMAGE_ERROR, ENGINE_ERROR = (
    "cancelled", "out of memory", "bad input", "no model", "unreadable image", "engine error")


def load_segmenter(settings: EngineSettings):
    """The production factory: the pipeline's ``load_segmenter``, as the CLI loads it."""
    from annotator.core.pipeline import load_segmenter as load
    from annotator.core.project import ProjectSettings

    # The engine thread hands it core's post-processing pool (EngineWorker): the dense CRF
    # holds the GIL for up to a second, and in a helper process it cannot freeze the GUI.
    project_settings = ProjectSettings(model=settings.model, device=settings.device,
                                       presence_threshold=settings.presence_threshold,
                                       routes=json.loads(settings.routes) if settings.routes else {})
    return load(project_settings)


def load_interactive(model: str, device: str):
    """The production factory of the click-to-segment model (SAM 2.1 or the SAM 3 tracker)."""
    from engine.interactive import DEFAULT_INTERACTIVE_MODEL, InteractiveSegmenter

    return InteractiveSegmenter.load(model or DEFAULT_INTERACTIVE_MODEL, device=device)


def polygonize(result, settings: ProposalSettings) -> list:
    """The core's proposals stage (the one place that turns results into shapes)."""
    from annotator.core.proposals import result_to_shapes

    return result_to_shapes(result, settings)


def read_image(path: Path) -> np.ndarray:
    """The production image reader: RGB uint8 [H, W, 3]."""
    from engine.images import load_rgb

    return load_rgb(path)
