"""The engine thread's side: ``EngineWorker``, a QObject living in the engine QThread that owns
the Segmenter and runs each job with core's stages (``core.stages``: infer -> post-process ->
proposals; the batch through ``core.pipeline.run_pipeline``). It is built and driven by
``engine_worker.EngineClient`` from the GUI thread, never touched from there after moveToThread.
"""

from __future__ import annotations

import copy as copy_module
import dataclasses
import gc
import threading
from collections import OrderedDict
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal, Slot

from annotator.core.proposal_settings import ProposalSettings
from annotator.gui.engine_jobs import (BAD_INPUT, CANCELLED, ENGINE_ERROR, IMAGE_ERROR, NO_MODEL,
                                       OUT_OF_MEMORY, BatchJob, EngineSettings, PostprocessJob, SegmentJob,
                                       load_interactive, load_segmenter, polygonize, read_image)
from annotator.gui.exemplar_jobs import ExemplarModels
from annotator.gui.interactive_jobs import InteractiveLane
from engine.errors import BrokenInstallError, Cancelled, DeviceOutOfMemoryError, EngineError, ModelNotFoundError

LABEL_MAPS_KEPT = 4  # full-size int32 label maps: a few images' worth of slider moves


class EngineWorker(QObject):
    """Runs in the engine thread. Never touched from the GUI thread after moveToThread."""

    stateChanged = Signal(str)  # "loading model", "ready", "no model"
    progress = Signal(int, str, str, int, int)  # job_id, image, stage, done, total
    # job_id, image, SegmentationResult, shapes, settings, model_run (core.pipeline.model_run)
    segmented = Signal(int, str, object, object, object, object)
    postprocessed = Signal(int, str, object, object, object)  # job_id, image, label_map, shapes, settings
    batchImage = Signal(int, int, int, str)  # job_id, images finished, images to do, last image ("" at start)
    batchSaved = Signal(int, str, object, object, object)  # job_id, image, result, shapes (saved), settings
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
    _landed = Signal(object, object, object)  # PostprocessJob, cache key, Future: from a pool thread

    def __init__(self, settings: EngineSettings, factory: Callable[[EngineSettings], Any] = load_segmenter,
                 polygonize: Callable[..., list] = polygonize, read_image=read_image,
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
        self._postpool = None  # core.postpool.PostprocessPool handed to the engine (its CRF off this process)
        # a slider re-run post-processed in the pool comes back here, in the engine thread
        self._landed.connect(self._postprocess_landed, Qt.ConnectionType.QueuedConnection)

    @Slot(object)
    def configure(self, settings: EngineSettings) -> None:
        old, self._settings = self._settings, settings
        # Threshold and background travel with every job, so only what the model is
        # loaded with forces a reload (seconds for the real model).
        if (settings.model, settings.device, settings.presence_threshold, settings.routes) != (
                old.model, old.device, old.presence_threshold, old.routes):
            self.release()  # loads again, lazily, on the next job
            self._label_maps.clear()

    def _main_sam3(self):
        """The main segmenter for exemplar boxes (it is SAM 3), loaded as a Propose loads it."""
        try:
            return self._segmenter_or_fail("")
        except _JobFailed as e:
            raise (ModelNotFoundError if e.kind == NO_MODEL else EngineError)(e.message) from e

    def _load_interactive(self):
        return self._interactive_factory(self._interactive_model, self._settings.device)

    @Slot(str)
    def configure_interactive(self, model: str) -> None:
        if model != self._interactive_model:
            self._interactive_model = model
            self.lane.release()

    @Slot()
    def drain_interactive(self) -> None:
        self.lane.drain()

    def release(self) -> None:
        """Drop the segmenter (the post-processing pool stays for the next one)."""
        seg, self._segmenter = self._segmenter, None
        self.lane.release()
        self._exemplars.release()
        close = getattr(seg, "close", None)
        if close is not None:
            close()

    def close_pool(self) -> None:
        """Stop the post-processing processes (the client's shutdown, once the thread stopped)."""
        pool, self._postpool = self._postpool, None
        if pool is not None:
            pool.close()

    def _hand_pool(self, seg) -> None:
        """Core's post-processing pool, started on first need (``core.postpool.start_pool`` with the
        window's one worker) and handed to an engine whose post-processing wants one."""
        if not getattr(seg, "wants_postprocess_pool", False):
            return
        if self._postpool is None:
            from annotator.core.postpool import WINDOW_WORKERS, start_pool

            device = getattr(getattr(seg, "device", None), "type", "cpu")
            self._postpool = start_pool(WINDOW_WORKERS, device, images=1, spawn=True)
        seg.use_postprocess_pool(self._postpool.executor if self._postpool is not None else None)

    @Slot(object)
    def run(self, job) -> None:
        image = getattr(job, "image", "")
        self.lane.drain()  # clicks go ahead of queued model work
        deferred = False
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
        except _Deferred:
            deferred = True  # in the pool: its result and finished come with _postprocess_landed
        except _JobFailed as e:
            self.failed.emit(job.job_id, e.image or image, e.kind, e.message)
        except Exception as e:  # noqa: BLE001 - anything else is reported, never lost
            kind, message = _describe(e)
            self.failed.emit(job.job_id, image, kind, message)
        finally:
            if not deferred:
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
            self._hand_pool(self._segmenter)
            self.stateChanged.emit("ready")
        return self._segmenter

    def _segment(self, job: SegmentJob) -> None:
        """Propose on one image: core's stages (infer -> post-process -> [sharpen] -> proposals);
        saving is the document's (undoable), the heatmap file the router's."""
        from annotator.core.pipeline import infer_image, model_run, postprocess_result

        try:  # the image first: an unreadable one fails at once, without loading the model
            rgb = job.pixels if job.pixels is not None else self._read_image(job.path)
        except Exception as e:
            raise _JobFailed(job.image, IMAGE_ERROR, str(e)) from e
        seg = self._segmenter_or_fail(job.image)

        def progress(stage: str, done: int, total: int) -> None:
            self.progress.emit(job.job_id, job.image, stage, done, total)
            self.lane.drain()  # a click waits for one dropout pass at most

        result = infer_image(seg, rgb, job.classes, cancel=job.cancel, progress=progress)
        result = postprocess_result(seg, result, job.settings)
        if job.cancel.is_set():
            raise Cancelled("cancelled after the last pass")
        self._label_maps.pop(job.image, None)
        shapes = self._shapes(job.image, str(job.path), rgb, result, job.settings)
        self.segmented.emit(job.job_id, job.image, result, shapes, job.settings,
                            model_run(result, job.classes, job.model))

    def _postprocess(self, job: PostprocessJob) -> None:
        """A slider or Shapes change: the kept result post-processed again (no model call)."""
        seg = self._segmenter_or_fail(job.image)
        engine = getattr(job.result, "engine", "pnp-ovss")
        if getattr(seg, "engine", engine) != engine:
            raise _JobFailed(job.image, BAD_INPUT, f"these proposals came from the {engine} engine and the model "
                                                   f"is now {seg.engine}: Propose again to re-draw them")
        settings = job.settings
        key = (settings.threshold, settings.background)
        cached = self._label_maps.get(job.image)
        if cached is not None and cached[0] is job.result and cached[1] == key:
            self._label_maps.move_to_end(job.image)
            self._redraw(job, cached[2])
            return
        from annotator.core.pipeline import postprocess_overrides

        self.progress.emit(job.job_id, job.image, "postprocess", 0, 1)
        wanted = postprocess_overrides(seg, settings)
        if not wanted and job.result.label_map is not None:
            label_map = job.result.label_map
        else:
            later = getattr(seg, "postprocess_async", None)
            future = later(job.result, **wanted) if later is not None else None
            if future is not None:  # the engine thread stays free (clicks, the next job) meanwhile
                future.add_done_callback(lambda done: self._landed.emit(job, key, done))
                raise _Deferred
            label_map = seg.postprocess(job.result, **wanted)
        self._keep_label_map(job, key, label_map)
        self._redraw(job, label_map)

    @Slot(object, object, object)
    def _postprocess_landed(self, job: PostprocessJob, key, future) -> None:
        """A slider re-run's label map came back from the pool (in the engine thread)."""
        try:
            label_map = future.result()
            self._keep_label_map(job, key, label_map)
            self._redraw(job, label_map)
        except _JobFailed as e:
            self.failed.emit(job.job_id, e.image or job.image, e.kind, e.message)
        except Exception as e:  # noqa: BLE001 - reported, never lost (a broken pool, a cancelled future)
            kind, message = _describe(e)
            self.failed.emit(job.job_id, job.image, kind, message)
        finally:
            self.finished.emit(job.job_id)

    def _keep_label_map(self, job: PostprocessJob, key, label_map) -> None:
        self._label_maps[job.image] = (job.result, key, label_map)
        while len(self._label_maps) > LABEL_MAPS_KEPT:
            self._label_maps.popitem(last=False)

    def _redraw(self, job: PostprocessJob, label_map) -> None:
        """The proposals stage on the kept result with its new label map."""
        if job.cancel.is_set():
            raise Cancelled("superseded by a newer slider position")
        result = _with_label_map(job.result, label_map)
        shapes = self._shapes(job.image, self._refine_keys.get(job.image, ""), None, result, job.settings)
        self.postprocessed.emit(job.job_id, job.image, label_map, shapes, job.settings)

    def _shapes(self, image: str, key: str, rgb, result, settings: ProposalSettings) -> list:
        """The proposals stage, after sharpening when the record asks for it."""
        if settings.refine:
            result = _with_label_map(result, self._refined(image, key, rgb, result))
        return self._polygonize(result, settings)

    def _refined(self, image: str, key: str, rgb, result) -> np.ndarray:
        """*result*'s label map sharpened by the interactive model.

        Without pixels (a slider re-run) the embedding must still be cached under *key*;
        a missing interactive model shows its dialog and leaves the map as it was.
        """
        label_map = result.label_map
        if not getattr(result, "classes", None):
            return label_map
        from annotator.core.refine import sharpen_label_map, sharpened_classes

        only = sharpened_classes(result)  # a routed result: the classes whose route sharpens
        if only is not None and not only:
            return label_map

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
        return sharpen_label_map(label_map, result.classes, predict, result.heatmaps, only=only)

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
            self.batchSaved.emit(job.job_id, image, result, shapes, options.settings)

        summary = run_pipeline(job.project, seg, job.images, options, on_image=on_image, on_progress=on_progress,
                               on_result=on_result, cancel=job.cancel, refiner=self._batch_refiner(options))
        self.batchDone.emit(job.job_id, summary)
        if summary.stopped:
            raise _JobFailed("", ENGINE_ERROR, summary.stopped)
        if summary.cancelled:
            raise Cancelled(f"batch cancelled after {len(summary.labelled)} of {summary.total} images")


def _with_label_map(result, label_map):
    """A shallow copy of *result* with another label map (the kept result stays as it was)."""
    copy = dataclasses.replace(result) if dataclasses.is_dataclass(result) else copy_module.copy(result)
    copy.label_map = label_map
    return copy


class _Deferred(Exception):
    """The job goes on in the post-processing pool; it reports when it lands."""


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
