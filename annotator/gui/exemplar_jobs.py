"""Exemplar-box jobs of the engine thread ("find all like this"), run in the interactive lane; no Qt.

An ``ExemplarJob`` carries every exemplar box of one image so far; the lane runs the newest
one per image ahead of queued batch work (as it runs clicks). Its model is SAM 3:
``ExemplarModels`` picks the main segmenter when that is SAM 3 (so Propose's text prompts
and the boxes share one cached vision encoding), else the interactive model when it holds
SAM 3 weights, else raises ``ExemplarsNeedSam3`` saying how to get them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import ModelNotFoundError


class ExemplarsNeedSam3(ModelNotFoundError):
    """Neither the main nor the interactive model is SAM 3."""


@dataclass
class ExemplarJob:
    job_id: int
    image: str  # project-relative path: the identity results are routed by
    key: str  # absolute path (the interactive lane's key; SAM 3 caches by content)
    pixels: np.ndarray  # RGB uint8 [H, W, 3]
    boxes: list[tuple[float, float, float, float]]
    labels: list[int]  # 1 positive, 0 negative, one per box
    text: str | None  # the class name sent to SAM 3, None: boxes only
    label: str  # the proposals' class
    threshold: float  # instance score threshold (the window's threshold slider)
    existing: list = field(default_factory=list)  # the document's shapes when asked
    tolerance: float = 1.5
    min_area_fraction: float = 0.0005


@dataclass
class ExemplarResult:
    job_id: int
    image: str
    shapes: list  # unaccepted model shapes of job.label, highest score first
    ignored: list[str]  # boxes not sent to the model, with why
    duplicates: int  # instances left out: already annotated (IoU >= 0.8)
    missed: list  # positive boxes no returned instance matches
    seconds: dict[str, float]  # vision, decoder, postprocess, proposals


def run_exemplar_job(seg, job: ExemplarJob) -> ExemplarResult:
    """SAM 3 on the job's boxes, its instances turned into proposals (core.exemplars)."""
    from annotator.core.exemplars import exemplar_proposals

    found = seg.find_like(job.pixels, job.boxes, job.labels, text=job.text, threshold=job.threshold)
    start = time.perf_counter()
    positives = [b for b, v in zip(found.boxes, found.labels) if v == 1]
    made = exemplar_proposals(found.instances, job.label, job.existing, found.image_size, positives,
                              tolerance=job.tolerance, min_area_fraction=job.min_area_fraction)
    seconds = dict(found.seconds, proposals=time.perf_counter() - start)
    return ExemplarResult(job.job_id, job.image, made.shapes, list(found.ignored), made.duplicates, made.missed,
                          seconds)


def is_sam3(model: str) -> bool:
    """Whether *model* (hub id or folder) holds SAM 3 weights, read without loading or network."""
    from engine.config import SAM3_MODEL

    name = (model or "").strip()
    if name.casefold() == SAM3_MODEL:
        return True
    config = Path(name).expanduser() / "config.json"
    try:
        return json.loads(config.read_text(encoding="utf-8")).get("model_type", "") in ("sam3", "sam3_video")
    except (OSError, ValueError, AttributeError):
        return False


def need_sam3_message(main_model: str, interactive_model: str) -> str:
    from engine.config import SAM3_MODEL, engine_info
    from engine.loading import how_to_get

    return (f"Exemplar boxes need SAM 3: the main model ({main_model or 'the default'}) is not SAM 3 and the "
            f"interactive model ({interactive_model or 'the default SAM 2.1'}) holds no SAM 3 weights. Set "
            f"{SAM3_MODEL} (or a folder holding it) as the interactive model (Model > Interactive model) or as "
            f"the main model.\n" + how_to_get(SAM3_MODEL, engine_info("sam3")))


def load_sam3(model: str, device: str):
    """The production loader of SAM 3 weights named as the interactive model."""
    from engine import Segmenter

    return Segmenter.load(model, device=device or "auto")


class ExemplarModels:
    """The SAM 3 segmenter exemplar jobs run on (engine thread only)."""

    def __init__(self, main: Callable[[], Any], settings: Callable[[], tuple[str, str, str]],
                 loader: Callable[[str, str], Any] | None = None):
        """*main*: the main segmenter (loaded on demand); *settings*: (main model, interactive
        model, device); *loader*: (model, device) -> SAM 3 segmenter (``load_sam3``)."""
        self._main, self._settings = main, settings
        self._loader = loader
        self._own: tuple[tuple[str, str], Any] | None = None  # (model, device), segmenter

    def get(self):
        main_model, interactive_model, device = self._settings()
        if is_sam3(main_model):
            return self._main()
        if is_sam3(interactive_model):
            if self._own is None or self._own[0] != (interactive_model, device):
                self.release()
                loader = self._loader or load_sam3
                self._own = ((interactive_model, device), loader(interactive_model, device))
            return self._own[1]
        raise ExemplarsNeedSam3(need_sam3_message(main_model, interactive_model))

    def release(self) -> None:
        own, self._own = self._own, None
        close = getattr(own[1], "close", None) if own else None
        if close is not None:
            close()
