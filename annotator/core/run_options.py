"""What a labelling run is asked and what it reports: ``PipelineOptions`` (the images' classes,
batch size, the run's ``ProposalSettings``, ...), ``BatchSummary`` and the callbacks' shapes.
Plain picklable dataclasses: a Ray driver, the window's engine thread and a server hand them
around as they are."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from annotator.core.project import ProjectSettings
from annotator.core.proposal_settings import ProposalSettings

# on_image(rel, outcome, detail): outcome "labelled" (detail: shapes saved), "skipped"
# (detail: why) or "failed" (detail: the reason). Called from one thread, in order.
ImageCallback = Callable[[str, str, Any], None]
# on_result(rel, shapes, result): an image's shapes were saved (before its on_image).
ResultCallback = Callable[[str, list, Any], None]
# on_progress(stage, done, total): stage "images" (images finished of those the model
# runs on; first called with done=0) or an engine stage of the current batch ("pass", ...).
ProgressCallback = Callable[[str, int, int], None]

LABELLED, SKIPPED, FAILED = "labelled", "skipped", "failed"


@dataclass
class PipelineOptions:
    classes: list[str]
    """Normalised class names sent to the model."""
    batch_size: int = 4
    """Images per model call."""
    skip_annotated: bool = False
    """Leave images that ``is_annotated`` alone."""
    settings: ProposalSettings = field(default_factory=ProposalSettings)
    """How each result becomes proposals (threshold, background, tolerance, ...)."""
    model: str = ""
    """Recorded in each image's ``model_run``."""
    postprocess_workers: int | None = None
    """Processes that turn model outputs into shapes while the model runs the next batch
    (``core.postpool``); None: sized from the cores and the device, 0: none (in this
    process). The files written are the same either way."""
    prefetch_batches: int = 2
    """Batches decoded ahead of the one in the model (memory: that many batches of photos)."""
    command: str = "pnp-annotator label"
    """Who holds the folder's lock during the run (named to a second run that is refused)."""

    @property
    def refine(self) -> bool:
        return self.settings.refine

    @classmethod
    def from_settings(cls, settings: ProjectSettings, classes: Sequence[str], **overrides) -> PipelineOptions:
        """Options for a run with a project's settings; *overrides* win (e.g. batch_size)."""
        values = dict(classes=list(classes), settings=settings.proposal_settings(), model=settings.model)
        values.update(overrides)
        return cls(**values)


@dataclass
class BatchSummary:
    total: int = 0
    labelled: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    shapes_per_class: Counter = field(default_factory=Counter)
    cancelled: bool = False
    stopped: str = ""
    """Why the run stopped before the end on its own (a full disk), else ""."""
    seconds: float = 0.0
