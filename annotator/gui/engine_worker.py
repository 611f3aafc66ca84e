"""The one engine thread: a worker QObject living in a QThread owns the Segmenter.

Every model call of the application goes through here, so the GUI thread never
waits on torch. Jobs are plain dataclasses sent over a queued signal and run in
order; each carries the image it belongs to and its own cancel token
(``threading.Event``, checked by the engine between dropout passes). Results go
back as signals carrying the job id and the image, and ``EngineClient`` drops the
results of superseded jobs, so a late answer never lands on the wrong image.

This module is the GUI thread's side, ``EngineClient`` (submit, supersede, cancel, route
by image); ``engine_thread.EngineWorker`` runs the jobs there. The jobs and settings are in
``engine_jobs``; the interactive lane (clicks, embeddings, sharpen) in ``interactive_jobs``.
"""

from __future__ import annotations

import itertools
import threading
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal

# The jobs, settings, failure kinds and factories live in engine_jobs; these are the
# names the window and the dialogs use beside EngineClient.
from annotator.core.proposal_settings import ProposalSettings
from annotator.gui.engine_jobs import (BAD_INPUT, CANCELLED, ENGINE_ERROR, IMAGE_ERROR, NO_MODEL,
                                       OUT_OF_MEMORY, BatchJob, EngineSettings, PostprocessJob, SegmentJob,
                                       load_interactive, load_segmenter, polygonize)
from annotator.gui.engine_thread import EngineWorker
from annotator.gui.exemplar_jobs import ExemplarJob, ExemplarResult
from annotator.gui.interactive_jobs import ClickJob, EmbedJob, SharpenJob, SharpenResult

__all__ = ["BAD_INPUT", "CANCELLED", "ENGINE_ERROR", "IMAGE_ERROR", "NO_MODEL", "OUT_OF_MEMORY", "BatchJob",
           "EngineClient", "EngineSettings", "EngineWorker", "PostprocessJob", "SegmentJob",
           "load_interactive", "load_segmenter", "polygonize"]

class EngineClient(QObject):
    """GUI-thread face of the engine thread: submit, supersede, cancel, filter results.

    Job ids grow monotonically. A result is delivered only if no newer interactive
    job was submitted for its image since, which is what keeps a late result from
    replacing a newer one; the image id it carries decides where it is applied.
    """

    # job_id, image, result | None, shapes, settings, model_run | None (None: a re-run of a kept result)
    proposalsReady = Signal(int, str, object, object, object, object)
    progress = Signal(int, str, str, int, int)
    batchImage = Signal(int, int, int, str)
    batchSaved = Signal(int, str, object, object, object)
    batchDone = Signal(int, object)
    failed = Signal(int, str, str, str)
    modelMissing = Signal(str)
    installBroken = Signal(str)
    stateChanged = Signal(str)
    jobFinished = Signal(int)
    busyChanged = Signal(bool)
    clickReady = Signal(object)  # ClickResult of the newest click per image
    exemplarsFound = Signal(object)  # exemplar_jobs.ExemplarResult
    sharpened = Signal(object)  # SharpenResult
    embedded = Signal(int, str)
    interactiveFailed = Signal(int, str, str, str)
    interactiveMissing = Signal(str)
    interactiveNotice = Signal(str)

    _dispatch = Signal(object)
    _reconfigure = Signal(object)
    _wake = Signal()
    _reconfigure_interactive = Signal(str)

    def __init__(self, settings: EngineSettings, factory: Callable[[EngineSettings], Any] = load_segmenter,
                 polygonize: Callable[..., list] = polygonize, parent: QObject | None = None,
                 interactive_factory: Callable[[str, str], Any] = load_interactive):
        super().__init__(parent)
        self._ids = itertools.count(1)
        self._latest: dict[str, int] = {}  # image -> newest interactive job id
        self._tokens: dict[int, tuple[str | None, threading.Event]] = {}  # live job -> (image, cancel)
        self._batches: set[int] = set()
        self._last_id = 0
        self._settings = settings

        self._thread = QThread()
        self._thread.setObjectName("engine")
        self._worker = EngineWorker(settings, factory, polygonize, interactive_factory=interactive_factory)
        self._worker.moveToThread(self._thread)
        self._thread.finished.connect(self._worker.deleteLater)
        self._dispatch.connect(self._worker.run)
        self._reconfigure.connect(self._worker.configure)
        self._wake.connect(self._worker.drain_interactive)
        self._reconfigure_interactive.connect(self._worker.configure_interactive)
        self._latest_click: dict[str, int] = {}
        self._worker.clickReady.connect(self._on_click)
        self._worker.embedded.connect(self.embedded)
        self._worker.interactiveFailed.connect(self._on_interactive_failed)
        self._worker.interactiveMissing.connect(self.interactiveMissing)
        self._worker.interactiveNotice.connect(self.interactiveNotice)

        self._worker.segmented.connect(self._on_segmented)
        self._worker.postprocessed.connect(self._on_postprocessed)
        self._worker.progress.connect(self._on_progress)
        self._worker.batchImage.connect(self.batchImage)
        self._worker.batchSaved.connect(self.batchSaved)
        self._worker.batchDone.connect(self.batchDone)
        self._worker.failed.connect(self._on_failed)
        self._worker.modelMissing.connect(self.modelMissing)
        self._worker.installBroken.connect(self.installBroken)
        self._worker.stateChanged.connect(self.stateChanged)
        self._worker.finished.connect(self._on_finished)
        self._thread.start()

    # -- submitting -----------------------------------------------------------------

    @property
    def settings(self) -> EngineSettings:
        return self._settings

    def configure(self, settings: EngineSettings) -> None:
        self._settings = settings
        self._reconfigure.emit(settings)

    def segment(self, image: str, path: Path, classes: list[str], settings: ProposalSettings, *,
                model: str = "", pixels: np.ndarray | None = None) -> int:
        """Propose on *image*; *settings* come back with its proposals (``proposalsReady``)."""
        job = SegmentJob(next(self._ids), image, Path(path), list(classes), settings, model, pixels)
        return self._submit_interactive(job)

    def postprocess(self, image: str, result, settings: ProposalSettings) -> int:
        """Re-draw *image*'s proposals from its kept *result* with *settings* (no model call)."""
        job = PostprocessJob(next(self._ids), image, result, settings)
        return self._submit_interactive(job)

    def batch(self, project, images: list[str], options) -> int:
        """Label *images* of *project* with ``core.pipeline.PipelineOptions`` *options*."""
        job = BatchJob(next(self._ids), project, list(images), options)
        self._batches.add(job.job_id)
        self._send(job, None)
        return job.job_id

    # -- the interactive lane (clicks) ---------------------------------------------------

    def set_interactive_model(self, model: str) -> None:
        """Hub id or folder of the click-to-segment model ("" = the default SAM 2.1)."""
        self._reconfigure_interactive.emit(model)

    def embed(self, image: str, key: str, pixels: np.ndarray) -> int:
        """Compute the image embedding ahead of the first click (ahead of queued jobs)."""
        job = EmbedJob(next(self._ids), image, key, pixels)
        self._worker.lane.put(job)
        self._wake.emit()
        return job.job_id

    def click(self, image: str, key: str, pixels: np.ndarray, points, labels, box=None,
              tolerance: float = 1.0, min_area_fraction: float = 0.0005) -> int:
        """Decode prompts on *image*; the answer comes as clickReady (newest click only)."""
        job = ClickJob(next(self._ids), image, key, pixels, [tuple(p) for p in points], list(labels),
                       tuple(box) if box is not None else None, tolerance, min_area_fraction)
        self._latest_click[image] = job.job_id
        self._worker.lane.put(job)
        self._wake.emit()
        return job.job_id

    def sharpen(self, image: str, key: str, pixels: np.ndarray, shapes: list, ids: list[str], *,
                heatmaps=None, classes=(), tolerance: float = 1.5) -> int:
        """Sharpen proposals *ids* of *image* (core.refine) in the interactive lane."""
        job = SharpenJob(next(self._ids), image, key, pixels, list(shapes), list(ids), heatmaps,
                         list(classes), tolerance)
        self._worker.lane.put(job)
        self._wake.emit()
        return job.job_id

    def exemplars(self, image: str, key: str, pixels: np.ndarray, boxes, labels, *, text: str | None,
                  label: str, threshold: float, existing: list, tolerance: float = 1.5,
                  min_area_fraction: float = 0.0005) -> int:
        """SAM 3 on every exemplar box of *image* so far (exemplar_jobs), ahead of queued jobs."""
        job = ExemplarJob(next(self._ids), image, key, pixels, [tuple(b) for b in boxes], list(labels), text,
                          label, threshold, list(existing), tolerance, min_area_fraction)
        self._worker.lane.put(job)
        self._wake.emit()
        return job.job_id

    def _on_click(self, result) -> None:
        if isinstance(result, ExemplarResult):
            self.exemplarsFound.emit(result)
        elif isinstance(result, SharpenResult):
            self.sharpened.emit(result)
        elif self._latest_click.get(result.image, 0) <= result.job_id:
            self.clickReady.emit(result)

    def _on_interactive_failed(self, job_id, image, kind, message) -> None:
        if self._latest_click.get(image, 0) <= job_id:
            self.interactiveFailed.emit(job_id, image, kind, message)

    def _submit_interactive(self, job) -> int:
        for image, token in self._tokens.values():
            if image == job.image:
                token.set()  # supersede: the older job stops at its next pass
        self._latest[job.image] = job.job_id
        self._send(job, job.image)
        return job.job_id

    def _send(self, job, image: str | None) -> None:
        was_busy = self.busy()
        self._last_id = job.job_id
        self._tokens[job.job_id] = (image, job.cancel)
        self._dispatch.emit(job)
        if not was_busy:
            self.busyChanged.emit(True)

    # -- cancelling -----------------------------------------------------------------

    def cancel(self, job_id: int) -> None:
        entry = self._tokens.get(job_id)
        if entry:
            entry[1].set()

    def cancel_interactive(self) -> None:
        """The prompt bar's Cancel: every single-image job, not a running batch."""
        for job_id, (image, token) in self._tokens.items():
            if job_id not in self._batches:
                token.set()

    def cancel_all(self) -> int:
        """Cancel every job; returns the newest job id issued so far."""
        for _, token in self._tokens.values():
            token.set()
        return self.last_issued()

    def last_issued(self) -> int:
        return self._last_id

    def busy(self, include_batch: bool = True) -> bool:
        return any(include_batch or j not in self._batches for j in self._tokens)

    def shutdown(self, timeout_ms: int = 30000) -> None:
        """Cancel everything and stop the thread (the engine stops at its next pass)."""
        self.cancel_all()
        self._thread.quit()
        if self._thread.wait(timeout_ms):
            self._worker.release()  # the thread has stopped: nothing else touches the worker
            self._worker.close_pool()

    # -- results ----------------------------------------------------------------------

    def _current(self, job_id: int, image: str) -> bool:
        return self._latest.get(image, 0) <= job_id

    def _on_segmented(self, job_id, image, result, shapes, settings, run) -> None:
        if self._current(job_id, image):
            self.proposalsReady.emit(job_id, image, result, shapes, settings, run)

    def _on_postprocessed(self, job_id, image, label_map, shapes, settings) -> None:
        if self._current(job_id, image):
            self.proposalsReady.emit(job_id, image, None, shapes, settings, None)

    def _on_progress(self, job_id, image, stage, done, total) -> None:
        if job_id in self._batches or self._current(job_id, image):
            self.progress.emit(job_id, image, stage, done, total)

    def _on_failed(self, job_id, image, kind, message) -> None:
        # A superseded job reports "cancelled": that is the newer job's business, not news.
        if kind == CANCELLED and job_id not in self._batches and not self._current(job_id, image):
            return
        self.failed.emit(job_id, image, kind, message)

    def _on_finished(self, job_id) -> None:
        self._tokens.pop(job_id, None)
        self._batches.discard(job_id)
        self.jobFinished.emit(job_id)
        if not self._tokens:
            self.busyChanged.emit(False)
