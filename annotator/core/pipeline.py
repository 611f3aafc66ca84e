"""The local executor of the labelling stages (``core.stages``): ``run_pipeline``.

A thread decodes the next batches while the model runs, and another turns results into
shapes and saves them while the model runs the next batch (or a ``core.postpool`` pool
does it in other processes). ``pnp-annotator label`` and the window's batch run it; the
Ray executor runs the same stages its own way.

The stages, options and engine factory live in ``core.stages``, ``core.run_options`` and
``core.engine_factory``; their names are importable from here too.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from annotator.core.engine_factory import load_segmenter  # noqa: F401 - re-exported
from annotator.core.lock import project_lock
from annotator.core.postpool import PoolJob, plan_workers, start_pool, torch_threads
from annotator.core.project import AnnotationFileError, Project
from annotator.core.run_options import (  # noqa: F401 - re-exported
    FAILED, LABELLED, SKIPPED, BatchSummary, ImageCallback, PipelineOptions, ProgressCallback, ResultCallback)
from annotator.core.stages import (  # noqa: F401 - re-exported
    FATAL_ERRNOS, ClassListError, ReplacedImageError, _reason, decode_image, engine_threshold, infer_batch,
    infer_image, is_annotated, is_fatal_disk_error, model_run, postprocess_overrides, postprocess_result,
    result_to_shapes, save_heatmaps, save_result)


# --- the local executor -------------------------------------------------------------------


def run_pipeline(project: Project, segmenter, images: Sequence[str], options: PipelineOptions, *,
                 on_image: ImageCallback | None = None, on_progress: ProgressCallback | None = None,
                 on_result: ResultCallback | None = None, cancel=None,
                 refiner=None, pool=None) -> BatchSummary:
    """Label *images* (relative paths) and save them image by image.

    *cancel* (any ``is_set()``) or a KeyboardInterrupt stops the run; images whose model
    call finished are still saved. ClassListError: the engine refused the class list on
    the first batch, before anything was saved. A full or read-only disk stops the run
    (``summary.stopped``) instead of running the model on every remaining image.
    The folder's lock is held throughout: ProjectLockedError (another run holds it) and
    StateWriteError (the state folder cannot be written) come before any model work.
    *refiner* (``core.refine.make_refiner``): refiner(rel, rgb, result) -> result, run on
    each result before its shapes are made when ``options.refine`` is set.
    *pool* (``core.postpool.PostprocessPool``, started early to hide its start-up): the
    processes that post-process while the model runs; None: one is made when
    ``core.postpool.start_pool`` says so. With a refiner the pool is handed to the engine
    (``Segmenter.use_postprocess_pool``) for the run, since the refiner needs each label map here.
    """
    with project_lock(project, options.command):
        return _run_locked(project, segmenter, images, options, on_image, on_progress, on_result, cancel,
                           refiner, pool)


def _run_locked(project, segmenter, images, options, on_image, on_progress, on_result, cancel,
                refiner, pool) -> BatchSummary:
    start = time.monotonic()
    summary = BatchSummary(total=len(images))
    todo = _plan(project, images, options.skip_annotated, summary, on_image)
    if on_progress is not None:
        on_progress("images", 0, len(todo))
    refining = refiner is not None and options.refine
    pool, own_pool, threads = _pool_for_run(segmenter, options, len(todo), pool)
    # A run that sharpens needs each label map here: the engine post-processes in the pool
    # itself (handed to it for the run) and gives back finished results.
    handed = refining and pool is not None and hasattr(segmenter, "use_postprocess_pool")
    if handed:
        before = getattr(segmenter, "postprocess_pool", None)
        segmenter.use_postprocess_pool(pool.executor)
    try:
        with torch_threads(threads):
            _loop(project, segmenter, todo, options, summary, on_image, on_progress, on_result, cancel,
                  refiner if refining else None, None if refining else pool)
    finally:
        if handed:
            segmenter.use_postprocess_pool(before)
        if own_pool is not None:
            own_pool.close()
        summary.seconds = time.monotonic() - start
    if _is_set(cancel):
        summary.cancelled = True
    return summary


def _pool_for_run(segmenter, options: PipelineOptions, images: int, pool):
    """(pool to use or None, pool made here to close or None, torch threads for the model or None)."""
    if not hasattr(segmenter, "segment_batch_pending"):
        return None, None, None
    device = getattr(getattr(segmenter, "device", None), "type", "cpu")
    if pool is not None:
        return pool, None, plan_workers(pool.workers, device, images).model_threads
    own = start_pool(options.postprocess_workers, device, images)
    if own is None:
        return None, None, None
    return own, own, plan_workers(own.workers, device, images).model_threads


def _loop(project, segmenter, todo, options, summary, on_image, on_progress, on_result, cancel,
          refiner, pool) -> None:
    from engine import Cancelled  # deferred: `engine` imports torch

    size = max(1, options.batch_size)
    reader = _Prefetcher(project.root, todo, depth=size * max(1, options.prefetch_batches))
    saver = _Saver(project, options, summary, on_image, on_progress, on_result, len(todo),
                   in_flight=pool.workers if pool is not None else 0)
    overrides = postprocess_overrides(segmenter, options.settings)
    first_batch = True
    try:
        while not _is_set(cancel) and not saver.stop.is_set():
            batch, unreadable = reader.next_batch(size)
            for rel, reason in unreadable:
                saver.put((rel, reason, None))
            if not batch:
                break  # the reader has nothing left
            try:
                results = infer_batch(segmenter, [rgb for _, rgb in batch], options.classes, cancel,
                                      progress=on_progress, pending=pool is not None)
            except ClassListError as exc:
                if first_batch:
                    raise
                results = [str(exc)] * len(batch)
            first_batch = False
            for (rel, rgb), outcome in zip(batch, results):
                if isinstance(outcome, str):
                    saver.put((rel, outcome, None))
                    continue
                if pool is not None:
                    saver.put((rel, None, _submit(pool, segmenter, outcome, overrides, options)))
                    continue
                result = postprocess_result(segmenter, outcome, options.settings)
                if refiner is not None:
                    try:
                        result = refiner(rel, rgb, result)
                    except (Cancelled, KeyboardInterrupt):
                        raise
                    except Exception as exc:  # noqa: BLE001 - one image's failure; the run goes on
                        saver.put((rel, f"sharpen failed: {_reason(exc)}", None))
                        continue
                saver.put((rel, None, result))
    except (Cancelled, KeyboardInterrupt):
        summary.cancelled = True
    finally:
        reader.stop()
        saver.finish()


def _submit(pool, segmenter, pending, overrides: dict, options: PipelineOptions):
    """The future (result, shapes) of one pending result, finished in the pool."""
    from engine.base import PendingResult

    ready = pending.ready
    if ready is not None:  # finished by the engine: only a new threshold/background is redone here
        pending, overrides = PendingResult.of(postprocess_result(segmenter, ready, options.settings)), {}
    return pool.submit(pending, overrides, options.settings)


def _plan(project: Project, images: Sequence[str], skip_annotated: bool, summary: BatchSummary,
          on_image: ImageCallback | None) -> list[str]:
    """The images the model must see; skipped and damaged annotation files are recorded."""
    todo = []
    for rel in images:
        if not skip_annotated:
            todo.append(rel)
            continue
        try:
            done = is_annotated(project, rel)
        except AnnotationFileError as exc:
            _record(summary, on_image, rel, FAILED, str(exc))  # never overwrite a damaged file
            continue
        if done:
            _record(summary, on_image, rel, SKIPPED, "already annotated")
        else:
            todo.append(rel)
    return todo






def _is_set(cancel) -> bool:
    return cancel is not None and cancel.is_set()


def _record(summary: BatchSummary, on_image: ImageCallback | None, rel: str, outcome: str, detail) -> None:
    if outcome == LABELLED:
        summary.labelled.append(rel)
    elif outcome == SKIPPED:
        summary.skipped.append(rel)
    else:
        summary.failed.append((rel, str(detail)))
    if on_image is not None:
        on_image(rel, outcome, detail)




class _Saver:
    """Post-processes and saves results on its own thread while the model runs the next
    batch; every ``on_image`` call of a run comes from here, in order."""

    def __init__(self, project: Project, options: PipelineOptions, summary: BatchSummary,
                 on_image: ImageCallback | None, on_progress: ProgressCallback | None,
                 on_result: ResultCallback | None, total: int, in_flight: int = 0) -> None:
        self._project, self._options, self._summary = project, options, summary
        self._on_image, self._on_progress, self._total = on_image, on_progress, total
        self._on_result = on_result
        self._done = 0
        # in_flight: pool workers, each busy with a queued image while the model runs on
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, options.batch_size) + in_flight)
        self.stop = threading.Event()
        """Set when the disk failed: the run must not feed more images."""
        self._thread = threading.Thread(target=self._run, daemon=True, name="pnp-annotator-save")
        self._thread.start()

    def put(self, item) -> None:
        while self._thread.is_alive():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def finish(self) -> None:
        self.put(_DONE)
        self._thread.join()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            rel, failure, payload = item
            if self.stop.is_set():
                if isinstance(payload, PoolJob):
                    payload.cancel()
                continue  # the disk is gone: what is still queued is not labelled
            if failure is not None:
                self._count(rel, FAILED, failure)
                continue
            try:
                if isinstance(payload, PoolJob):  # post-processed in the pool
                    result, shapes = payload.result()
                else:
                    result, shapes = payload, result_to_shapes(payload, self._options.settings)
                saved = save_result(self._project, rel, shapes, result, self._options)
            except OSError as exc:
                if is_fatal_disk_error(exc):
                    self._summary.stopped = (f"cannot write {self._project.annotation_path(rel)}: "
                                             f"{exc.strerror or exc}; the run stopped. Free some space "
                                             "(or make the folder writable) and run again with "
                                             "--skip-annotated to go on.")
                    self.stop.set()
                self._count(rel, FAILED, f"cannot save {self._project.annotation_path(rel)}: {exc}")
                continue
            except (AnnotationFileError, ValueError) as exc:
                self._count(rel, FAILED, str(exc))
                continue
            except Exception as exc:  # noqa: BLE001 - one image's failure, reported; the run goes on
                self._count(rel, FAILED, _reason(exc))
                continue
            self._summary.shapes_per_class.update(s.label for s in shapes)
            if self._on_result is not None:
                self._on_result(rel, shapes, result)
            self._count(rel, LABELLED, saved)

    def _count(self, rel: str, outcome: str, detail) -> None:
        _record(self._summary, self._on_image, rel, outcome, detail)
        self._done += 1
        if self._on_progress is not None:
            self._on_progress("images", self._done, self._total)


_DONE = object()


class _Prefetcher:
    """Decodes upcoming images on a daemon thread (PIL and OpenCV release the GIL)."""

    def __init__(self, root: Path, images: list[str], depth: int) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self.done = not images
        self._thread = threading.Thread(target=self._run, args=(root, images), daemon=True,
                                        name="pnp-annotator-prefetch")
        self._thread.start()

    def _run(self, root: Path, images: list[str]) -> None:
        from engine.images import ImageReadError

        try:
            for rel in images:
                try:
                    item: Any = decode_image(root, rel)
                except ImageReadError as exc:
                    item = (rel, str(exc))
                if not self._put(item):
                    return
        finally:
            self._put(_DONE)  # the consumer must never wait for an item that will not come

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def next_batch(self, size: int) -> tuple[list[tuple[str, np.ndarray]], list[tuple[str, str]]]:
        """Up to *size* decoded images, and the (image, reason) of unreadable ones met on the way."""
        batch: list[tuple[str, np.ndarray]] = []
        unreadable: list[tuple[str, str]] = []
        while len(batch) < size and not self.done:
            item = self._queue.get()
            if item is _DONE:
                self.done = True
                break
            rel, value = item
            if isinstance(value, np.ndarray):
                batch.append((rel, value))
            else:
                unreadable.append((rel, value))
        return batch, unreadable

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
