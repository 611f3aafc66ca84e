"""The one engine thread: a worker QObject living in a QThread owns the Segmenter.

Every model call of the application goes through here, so the GUI thread never
waits on torch. Jobs are plain dataclasses sent over a queued signal and run in
order; each carries the image it belongs to and its own cancel token
(``threading.Event``, checked by the engine between dropout passes). Results go
back as signals carrying the job id and the image, and ``EngineClient`` drops the
results of superseded jobs, so a late answer never lands on the wrong image.

The jobs and settings are in ``engine_jobs``; the interactive lane (clicks, embeddings,
sharpen) in ``interactive_jobs``.
"""

from __future__ import annotations

import gc
import itertools
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot

# The jobs, settings, failure kinds and factories live in engine_jobs; these are the
# names the window and the dialogs use beside EngineClient.
from annotator.gui.engine_jobs import (BAD_INPUT, CANCELLED, ENGINE_ERROR, IMAGE_ERROR, NO_MODEL,
                                       OUT_OF_MEMORY, BatchJob, EngineSettings, Polygonize, PostprocessJob,
                                       SegmentJob, load_interactive, load_segmenter, polygonize_label_map,
                                       read_image)
from annotator.gui.exemplar_jobs import ExemplarJob, ExemplarModels, ExemplarResult
from annotator.gui.interactive_jobs import ClickJob, EmbedJob, InteractiveLane, SharpenJob, SharpenResult
from engine.errors import BrokenInstallError, Cancelled, DeviceOutOfMemoryError, EngineError, ModelNotFoundError

__all__ = ["BAD_INPUT", "CANCELLED", "ENGINE_ERROR", "IMAGE_ERROR", "NO_MODEL", "OUT_OF_MEMORY", "BatchJob",
           "EngineClient", "EngineSettings", "EngineWorker", "Polygonize", "PostprocessJob", "SegmentJob",
           "load_interactive", "load_segmenter", "polygonize_label_map"]

LABEL_MAPS_KEPT = 4  # full-size int32 label maps: a few images' worth of slider moves


class EngineWorker(QObject):
    """Runs in the engine thread. Never touched from the GUI thread after moveToThread."""

    stateChanged = Signal(str)  # "loading model", "ready", "no model"
    progress = Signal(int, str, str, int, int)  # job_id, image, stage, done, total
    segmented = Signal(int, str, object, object)  # job_id, image, SegmentationResult, shapes
    postprocessed = Signal(int, str, object, object)  # job_id, image, label_map, shapes
    batchImage = Signal(int, int, int, str)  # job_id, images finished, images to do, last image ("" at start)
    batchSaved = Signal(int, str, object, object)  # job_id, image, SegmentationResult, shapes (already saved)
    batchDone = Signal(int, object)  # job_id, core.pipeline.BatchSummary
    failed = Signal(int, str, str, str)  # job_id, image, kind, message
    modelMissing = Signal(str)  # the engine's message: how to download or where to point
    installBroken = Signal(str)  # torch + torchvision cannot run any model: what is wrong, how to fix it
    finished = Signal(int)  # job_id; exactly once per job, after its results
    # interactive lane (interactive_jobs): results of clicks, never counted as jobs
    clickReady = Signal(object)  # ClickResult
    embedded = Signal(int, str)  # job_id, image
    interactiveFailed = Signal(int, str, str, str)  # job_id, image, kind, message
    interactiveMissing = Signal(str)  # the engine's message for a missing interactive model
    interactiveNotice = Signal(str)  # one-line status of the interactive model (ONNX Runtime export, fallback)

    def __init__(self, settings: EngineSettings, factory: Callable[[EngineSettings], Any] = load_segmenter,
                 polygonize: Callable[..., list] = polygonize_label_map, read_image=read_image,
                 interactive_factory: Callable[[str, str], Any] = load_interactive):
        super().__init__()
        self._interactive_factory = interactive_factory
        self._interactive_model = ""
        self._exemplars = ExemplarModels(self._main_sam3, lambda: (
            self._settings.model, self._interactive_model, self._settings.device))
        self.lane = InteractiveLane(self._load_interactive, self.clickReady.emit, self.embedded.emit,
                                    self.interactiveFailed.emit, self.interactiveMissing.emit,
                                    exemplars=self._exemplars.get, on_notice=self.interactiveNotice.emit)
        self._settings = settings
        self._factory = factory
        self._polygonize = polygonize
        self._read_image = read_image
        self._segmenter = None
        # Last post-processed label maps (LRU): a simplification-only slider move
        # then skips blur + CRF (the expensive part of post-processing).
        self._label_maps: OrderedDict[str, tuple[Any, float, str, np.ndarray]] = OrderedDict()
        self._refine_keys: dict[str, str] = {}  # image -> embedding key its last refine used

    @Slot(object)
    def configure(self, settings: EngineSettings) -> None:
        old, self._settings = self._settings, settings
        # Threshold and background travel with every job, so only what the model is
        # loaded with forces a reload (seconds for the real model).
        if (settings.model, settings.device, settings.presence_threshold) != (
                old.model, old.device, old.presence_threshold):
            self.release()  # loads again, lazily, on the next job
            self._label_maps.clear()

    def _load_interactive(self):
        return self._interactive_factory(self._interactive_model, self._settings.device)

    def _main_sam3(self):
        """The main segmenter for exemplar boxes (it is SAM 3), loaded as a Propose loads it."""
        try:
            return self._segmenter_or_fail("")
        except _JobFailed as e:
            raise (ModelNotFoundError if e.kind == NO_MODEL else EngineError)(e.message) from e

    @Slot(str)
    def configure_interactive(self, model: str) -> None:
        if model != self._interactive_model:
            self._interactive_model = model
            self.lane.release()

    @Slot()
    def drain_interactive(self) -> None:
        self.lane.drain()

    def release(self) -> None:
        """Drop the segmenter and stop its post-processing process."""
        seg, self._segmenter = self._segmenter, None
        self.lane.release()
        self._exemplars.release()
        close = getattr(seg, "close", None)
        if close is not None:
            close()

    @Slot(object)
    def run(self, job) -> None:
        image = getattr(job, "image", "")
        self.lane.drain()  # clicks go ahead of queued model work
        try:
            if job.cancel.is_set():
                raise Cancelled("superseded or cancelled before it started")
            if isinstance(job, SegmentJob):
                self._segment(job)
            elif isinstance(job, PostprocessJob):
                self._postprocess(job)
            elif isinstance(job, BatchJob):
                self._batch(job)
            else:
                raise TypeError(f"unknown engine job {job!r}")
        except _JobFailed as e:
            self.failed.emit(job.job_id, e.image or image, e.kind, e.message)
        except Exception as e:  # noqa: BLE001 - anything else is reported, never lost
            kind, message = _describe(e)
            self.failed.emit(job.job_id, image, kind, message)
        finally:
            self.finished.emit(job.job_id)

    # -- jobs ---------------------------------------------------------------------

    def _segmenter_or_fail(self, image: str):
        if self._segmenter is None:
            self.stateChanged.emit("loading model")
            try:
                self._segmenter = self._factory(self._settings)
            except BrokenInstallError as e:
                self.stateChanged.emit("no model")
                self.installBroken.emit(str(e))
                raise _JobFailed(image, ENGINE_ERROR, str(e)) from e
            except ModelNotFoundError as e:
                self.stateChanged.emit("no model")
                self.modelMissing.emit(str(e))
                raise _JobFailed(image, NO_MODEL, str(e)) from e
            except Exception as e:
                self.stateChanged.emit("no model")
                raise _JobFailed(image, ENGINE_ERROR, f"could not load the model: {e}") from e
            # torch + transformers leave ~400k long-lived objects; a full collection
            # scanning them holds the GIL for 50-250 ms (measured under load) and stalls
            # the GUI thread. Freezing moves them out of the collector's way for good.
            gc.freeze()
            self.stateChanged.emit("ready")
        return self._segmenter

    def _segment_one(self, job_id, image, path, pixels, classes, threshold, background, params, cancel):
        seg = self._segmenter_or_fail(image)
        try:
            rgb = pixels if pixels is not None else self._read_image(path)
        except Exception as e:
            raise _JobFailed(image, IMAGE_ERROR, str(e)) from e

        def progress(stage: str, done: int, total: int) -> None:
            self.progress.emit(job_id, image, stage, done, total)
            self.lane.drain()  # a click waits for one dropout pass at most

        result = seg.segment(rgb, classes, progress=progress, cancel=cancel)
        label_map = self._label_map(seg, image, result, threshold, background)
        if cancel.is_set():
            raise Cancelled("cancelled after the last pass")
        label_map = self._refined(image, str(path), rgb, result, label_map, params)
        shapes = self._polygonize(label_map, result.classes, result.heatmaps, params, result=result)
        return result, shapes

    def _refined(self, image: str, key: str, rgb, result, label_map, params: Polygonize) -> np.ndarray:
        """*label_map* sharpened by the interactive model when ``params.refine`` is set.

        Without pixels (a slider re-run) the embedding must still be cached under *key*;
        a missing interactive model shows its dialog and leaves the map as it was.
        """
        if not params.refine or not getattr(result, "classes", None):
            return label_map
        from annotator.core.refine import sharpen_label_map

        try:
            seg = self.lane.segmenter()
        except ModelNotFoundError as e:
            self.interactiveMissing.emit(str(e))
            return label_map
        if rgb is not None:
            seg.set_image(key, rgb)
        elif not key or not seg.has_image(key):
            return label_map
        self._refine_keys[image] = key
        predict = lambda points, labels, box: seg.predict(points, labels, box, image_key=key).mask  # noqa: E731
        return sharpen_label_map(label_map, result.classes, predict, result.heatmaps)

    def _label_map(self, seg, image, result, threshold, background) -> np.ndarray:
        """The result's own label map unless the job asks for other post-processing."""
        config = getattr(seg, "config", None)
        same = (threshold is None or threshold == getattr(config, "threshold", threshold)) and (
            background is None or background == getattr(config, "background", background))
        if same:
            return result.label_map
        return seg.postprocess(result, threshold=threshold, background=background)

    def _segment(self, job: SegmentJob) -> None:
        result, shapes = self._segment_one(job.job_id, job.image, job.path, job.pixels, job.classes,
                                           job.threshold, job.background, job.polygonize, job.cancel)
        self._label_maps.pop(job.image, None)
        self.segmented.emit(job.job_id, job.image, result, shapes)

    def _postprocess(self, job: PostprocessJob) -> None:
        seg = self._segmenter_or_fail(job.image)
        cached = self._label_maps.get(job.image)
        if cached is not None and cached[0] is job.result and cached[1:3] == (job.threshold, job.background):
            label_map = cached[3]
            self._label_maps.move_to_end(job.image)
        else:
            self.progress.emit(job.job_id, job.image, "postprocess", 0, 1)
            label_map = seg.postprocess(job.result, threshold=job.threshold, background=job.background)
            self._label_maps[job.image] = (job.result, job.threshold, job.background, label_map)
            while len(self._label_maps) > LABEL_MAPS_KEPT:
                self._label_maps.popitem(last=False)
        if job.cancel.is_set():
            raise Cancelled("superseded by a newer slider position")
        label_map = self._refined(job.image, self._refine_keys.get(job.image, ""), None, job.result,
                                  label_map, job.polygonize)
        shapes = self._polygonize(label_map, job.result.classes, job.result.heatmaps, job.polygonize,
                                  result=job.result)
        self.postprocessed.emit(job.job_id, job.image, label_map, shapes)

    batch_size: int | None = None
    """Images per model call in a batch job; None: 8 on CUDA, else 1 (no gain on a CPU)."""

    def _batch_refiner(self, options):
        """core.refine's pipeline hook on the lane's interactive model, when the run sharpens."""
        if not getattr(options, "refine", False):
            return None
        from annotator.core.refine import make_refiner

        try:
            return make_refiner(self.lane.segmenter())
        except ModelNotFoundError as e:
            self.interactiveMissing.emit(str(e))  # the batch still runs, unsharpened
            return None

    def _batch(self, job: BatchJob) -> None:
        """The CLI's pipeline, its callbacks turned into signals (it saves each image itself)."""
        from dataclasses import replace

        from annotator.core.pipeline import FAILED, run_pipeline

        if not job.images:
            return
        seg = self._segmenter_or_fail(job.images[0])
        size = self.batch_size
        if size is None:
            size = 8 if getattr(getattr(seg, "device", None), "type", "cpu") == "cuda" else 1
        options = replace(job.options, batch_size=size)
        state = {"done": 0, "total": 0, "image": job.images[0]}
        engine_thread = threading.current_thread()

        def on_progress(stage: str, done: int, total: int) -> None:
            if stage == "images":
                state["done"], state["total"] = done, total
                if done == 0:
                    self.batchImage.emit(job.job_id, 0, total, "")
            else:
                self.progress.emit(job.job_id, state["image"], stage, done, total)
                if threading.current_thread() is engine_thread:  # the model's passes: clicks go between
                    self.lane.drain()

        def on_image(image: str, outcome: str, detail) -> None:
            state["image"] = image
            if outcome == FAILED:
                self.failed.emit(job.job_id, image, IMAGE_ERROR, str(detail))
            if outcome != "skipped":
                self.batchImage.emit(job.job_id, state["done"] + 1, state["total"], image)

        def on_result(image: str, shapes, result) -> None:
            self.batchSaved.emit(job.job_id, image, result, shapes)

        summary = run_pipeline(job.project, seg, job.images, options, on_image=on_image, on_progress=on_progress,
                               on_result=on_result, cancel=job.cancel, refiner=self._batch_refiner(options))
        self.batchDone.emit(job.job_id, summary)
        if summary.stopped:
            raise _JobFailed("", ENGINE_ERROR, summary.stopped)
        if summary.cancelled:
            raise Cancelled(f"batch cancelled after {len(summary.labelled)} of {summary.total} images")


class _JobFailed(Exception):
    def __init__(self, image: str, kind: str, message: str):
        super().__init__(message)
        self.image, self.kind, self.message = image, kind, message


def _describe(error: Exception) -> tuple[str, str]:
    if isinstance(error, Cancelled):
        return CANCELLED, str(error) or "cancelled"
    if isinstance(error, DeviceOutOfMemoryError):
        return OUT_OF_MEMORY, str(error)
    if isinstance(error, ModelNotFoundError):
        return NO_MODEL, str(error)
    if isinstance(error, ValueError):  # the engine's bad class list; images are read earlier
        return BAD_INPUT, str(error)
    if isinstance(error, EngineError):
        return ENGINE_ERROR, str(error)
    return ENGINE_ERROR, f"{type(error).__name__}: {error}"


class EngineClient(QObject):
    """GUI-thread face of the engine thread: submit, supersede, cancel, filter results.

    Job ids grow monotonically. A result is delivered only if no newer interactive
    job was submitted for its image since, which is what keeps a late result from
    replacing a newer one; the image id it carries decides where it is applied.
    """

    proposalsReady = Signal(int, str, object, object)  # job_id, image, result | None, shapes
    progress = Signal(int, str, str, int, int)
    batchImage = Signal(int, int, int, str)
    batchSaved = Signal(int, str, object, object)
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
                 polygonize: Callable[..., list] = polygonize_label_map, parent: QObject | None = None,
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

    def segment(self, image: str, path: Path, classes: list[str], *, threshold: float | None = None,
                background: str | None = None, polygonize: Polygonize | None = None,
                pixels: np.ndarray | None = None) -> int:
        job = SegmentJob(next(self._ids), image, Path(path), list(classes), threshold, background,
                         polygonize or Polygonize(), pixels)
        return self._submit_interactive(job)

    def postprocess(self, image: str, result, threshold: float, background: str,
                    polygonize: Polygonize | None = None) -> int:
        job = PostprocessJob(next(self._ids), image, result, threshold, background, polygonize or Polygonize())
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

    # -- results ----------------------------------------------------------------------

    def _current(self, job_id: int, image: str) -> bool:
        return self._latest.get(image, 0) <= job_id

    def _on_segmented(self, job_id, image, result, shapes) -> None:
        if self._current(job_id, image):
            self.proposalsReady.emit(job_id, image, result, shapes)

    def _on_postprocessed(self, job_id, image, label_map, shapes) -> None:
        if self._current(job_id, image):
            self.proposalsReady.emit(job_id, image, None, shapes)

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
