"""The one labelling pipeline: decode -> model -> post-process -> polygons -> save.

Every way of labelling a folder (``pnp-annotator label``, the window's batch, the
Ray executor) runs these stage functions, so "annotated", retries and what is
written per image mean the same thing everywhere::

    decode_image(project_root, rel) -> (rel, rgb uint8 [H, W, 3])      raises ImageReadError
    infer_batch(segmenter, rgbs, classes, cancel) -> [SegmentationResult | "failure reason"]
    result_to_shapes(result, options) -> [Shape]                       (post-processed label map -> polygons)
    save_result(project, rel, shapes, result, options) -> shapes saved (proposals replaced, model_run, labels)
    is_annotated(project, rel) -> bool

The stages take plain, picklable arguments (paths, arrays, dataclasses) so an
executor in another process runs the same code. ``run_pipeline`` is the local
executor: a thread decodes the next batches while the model runs, and another
turns results into shapes and saves them while the model runs the next batch.
"""

from __future__ import annotations

import datetime as _dt
import errno
import os
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from annotator.core.index import DAMAGED
from annotator.core.lock import project_lock
from annotator.core.postpool import PoolJob, PostprocessPool, plan_workers, torch_threads
from annotator.core.project import AnnotationFileError, Project, ProjectSettings
from annotator.core.proposals import DEFAULT_MIN_AREA_FRACTION, DEFAULT_TOLERANCE, proposals_from_result
from annotator.core.shapes import Shape

# on_image(rel, outcome, detail): outcome "labelled" (detail: shapes saved), "skipped"
# (detail: why) or "failed" (detail: the reason). Called from one thread, in order.
ImageCallback = Callable[[str, str, Any], None]
# on_result(rel, shapes, result): an image's shapes were saved (before its on_image).
ResultCallback = Callable[[str, list, Any], None]
# on_progress(stage, done, total): stage "images" (images finished of those the model
# runs on; first called with done=0) or an engine stage of the current batch ("pass", ...).
ProgressCallback = Callable[[str, int, int], None]

LABELLED, SKIPPED, FAILED = "labelled", "skipped", "failed"
# Errors of the disk, not of one image: the run stops instead of failing every image.
FATAL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})


class ClassListError(ValueError):
    """The engine refused the class list itself (every image would fail the same way)."""


class ReplacedImageError(ValueError):
    """The image file now has another size than the one its kept shapes were drawn on."""


@dataclass
class PipelineOptions:
    classes: list[str]
    """Normalised class names sent to the model."""
    batch_size: int = 4
    """Images per model call."""
    skip_annotated: bool = False
    """Leave images that ``is_annotated`` alone."""
    tolerance: float = DEFAULT_TOLERANCE
    min_area_fraction: float = DEFAULT_MIN_AREA_FRACTION
    model: str = ""
    """Recorded in each image's ``model_run``."""
    threshold: float | None = None
    """Per-class heatmap threshold; None: the segmenter's own."""
    background: str | None = None
    """"auto" | "always" | "never"; None: the segmenter's own."""
    proposals: str = "auto"
    """"auto" | "regions" | "instances" (ProjectSettings.proposals)."""
    refine: bool = False
    """ProjectSettings.refine: sharpen outlines after the model."""
    postprocess_workers: int | None = None
    """Processes that turn model outputs into shapes while the model runs the next batch
    (``core.postpool``); None: sized from the cores and the device, 0: none (in this
    process). The files written are the same either way."""
    prefetch_batches: int = 2
    """Batches decoded ahead of the one in the model (memory: that many batches of photos)."""
    command: str = "pnp-annotator label"
    """Who holds the folder's lock during the run (named to a second run that is refused)."""

    @classmethod
    def from_settings(cls, settings: ProjectSettings, classes: Sequence[str], **overrides) -> PipelineOptions:
        """Options for a run with a project's settings; *overrides* win (e.g. batch_size)."""
        values = dict(classes=list(classes), tolerance=settings.simplify_tolerance,
                      min_area_fraction=settings.min_area_fraction, model=settings.model,
                      threshold=settings.threshold, background=settings.background,
                      proposals=settings.proposals, refine=settings.refine)
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


def load_segmenter(settings: ProjectSettings, **config):
    """The engine a project's settings describe (model, device, presence threshold,
    threshold, background); *config*: further SegmenterConfig fields. Raises the
    engine's ModelNotFoundError / ValueError / RuntimeError."""
    from engine import DEFAULT_MODEL, Segmenter, SegmenterConfig

    if settings.threshold is not None:
        config.setdefault("threshold", settings.threshold)
    config.setdefault("background", settings.background)
    config.setdefault("presence_threshold", settings.presence_threshold)
    segmenter = Segmenter.load(model=settings.model or DEFAULT_MODEL, device=settings.device or "auto",
                               config=SegmenterConfig(**config))
    if getattr(settings, "routes", None):  # calibrated routes: each class on its engine (core.routed_segmenter)
        from annotator.core.routed_segmenter import load_routed
        from annotator.core.routing import routes_of

        return load_routed(settings, segmenter, routes_of(settings))
    return segmenter


# --- stages -----------------------------------------------------------------------------


def decode_image(project_root: str | os.PathLike, rel: str) -> tuple[str, np.ndarray]:
    """(rel, RGB uint8 [H, W, 3]) of one image; ImageReadError names the file and why."""
    from engine.images import ImageReadError, load_rgb

    path = Path(project_root) / rel
    try:
        return rel, load_rgb(path)
    except ImageReadError:
        raise
    except Exception as exc:  # noqa: BLE001 - any decoder failure is this image's, not the run's
        raise ImageReadError(f"Cannot read image '{path}': {_reason(exc)}") from exc


def infer_batch(segmenter, rgbs: Sequence[np.ndarray], classes, cancel=None,
                progress: ProgressCallback | None = None, pending: bool = False) -> list:
    """One ``SegmentationResult`` or failure reason (str) per image; with *pending*, one
    ``engine.base.PendingResult`` (``Segmenter.segment_batch_pending``) instead of a result.

    *classes*: one list for every image, or one list per image. A batch that fails is
    retried image by image, so one bad image (or an out-of-memory batch) does not sink
    the others. ClassListError: every image failed with the same ValueError, i.e. the
    engine refused the class list. Cancelled and KeyboardInterrupt propagate.
    """
    from engine import Cancelled, EngineError

    rgbs = list(rgbs)
    lists = _class_lists(classes, len(rgbs))
    hooks = {k: v for k, v in (("progress", progress), ("cancel", cancel)) if v is not None}
    segment = segmenter.segment_batch_pending if pending else segmenter.segment_batch
    try:
        return list(segment(rgbs, lists, batch_size=max(1, len(rgbs)), **hooks))
    except (Cancelled, KeyboardInterrupt):
        raise
    except (EngineError, ValueError, RuntimeError, MemoryError) as exc:
        if len(rgbs) == 1:
            outcomes: list = [exc]
        else:
            outcomes = []
            for rgb, names in zip(rgbs, lists):
                try:
                    outcomes.extend(segment([rgb], [names], batch_size=1, **hooks))
                except (Cancelled, KeyboardInterrupt):
                    raise
                except (EngineError, ValueError, RuntimeError, MemoryError) as one:
                    outcomes.append(one)
        errors = [o for o in outcomes if isinstance(o, BaseException)]
        if (len(errors) == len(outcomes) and all(type(e) is ValueError for e in errors)
                and len({str(e) for e in errors}) == 1):
            raise ClassListError(str(errors[0])) from exc
        return [_reason(o) if isinstance(o, BaseException) else o for o in outcomes]


def postprocess_result(segmenter, result, options: PipelineOptions):
    """*result* with its label map made with the options' threshold and background
    when they differ from the segmenter's own (no model call); else unchanged."""
    wanted = postprocess_overrides(segmenter, options)
    if wanted and getattr(result, "classes", None):
        result.label_map = segmenter.postprocess(result, **wanted)
    return result


def postprocess_overrides(segmenter, options: PipelineOptions) -> dict:
    """The options' threshold and background where they differ from the segmenter's own
    (``Segmenter.postprocess`` / ``PendingResult.finish`` keywords)."""
    config = getattr(segmenter, "config", None)
    wanted = {}
    if options.threshold is not None and options.threshold != getattr(config, "threshold", None):
        wanted["threshold"] = options.threshold
    if options.background is not None and options.background != getattr(config, "background", None):
        wanted["background"] = options.background
    return wanted


def result_to_shapes(result, options: PipelineOptions) -> list[Shape]:
    """Unaccepted model shapes of one result: each connected region of each class of
    its label map, or each instance (``options.proposals``, see
    ``proposals.resolve_proposals``), simplified by ``options.tolerance``, small ones dropped."""
    return proposals_from_result(result, mode=options.proposals, tolerance=options.tolerance,
                                 min_area_fraction=options.min_area_fraction)


def save_result(project: Project, rel: str, shapes: list[Shape], result, options: PipelineOptions) -> int:
    """Replace the image's unaccepted proposals by *shapes* and record ``model_run``;
    human and accepted shapes are kept. Returns the number of shapes saved.

    Raises AnnotationFileError for a damaged annotation file (never overwritten) and
    OSError when it cannot be written.
    """
    ann = project.load(rel)
    height, width = (int(v) for v in result.image_size)
    kept = [s for s in ann.shapes if not (s.source == "model" and not s.accepted)]
    if kept and (ann.width, ann.height) != (width, height):
        raise ReplacedImageError(
            f"{rel}: the image was replaced: it is now {width}x{height} but its {len(kept)} shape(s) were drawn "
            f"on a {ann.width}x{ann.height} image. Nothing was changed; open it in the window to check them.")
    ann.height, ann.width = height, width
    ann.apply_proposals(shapes, skip_kept=True)  # a re-run adds no copy of an accepted shape
    ann.model_run = {
        "classes": list(result.classes),
        "requested": list(options.classes),
        "model": options.model,
        "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    new_labels = [c for c in result.classes if project.labels.get(c) is None]
    for name in new_labels:
        project.labels.add(name)
    if new_labels:
        project.save_settings()
    project.save(ann)
    return len(shapes)


def is_annotated(project: Project, rel: str) -> bool:
    """THE definition of "annotated": the image has shapes or a model run went over it
    (a run that found nothing counts: running it again would find nothing again).

    Raises AnnotationFileError when its annotation file is damaged.
    """
    entry = project.entry(rel)  # from the status index while the file is unchanged
    if entry is None:
        return False
    if entry.status == DAMAGED:
        raise AnnotationFileError(project.annotation_path(rel), entry.reason)
    return entry.annotated


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
    ``options.postprocess_workers`` asks for it (not with a refiner, which needs the model's
    process).
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
    pool, own_pool, threads = _pool_for_run(segmenter, options, len(todo), None if refining else pool,
                                            allowed=not refining)
    try:
        with torch_threads(threads):
            _loop(project, segmenter, todo, options, summary, on_image, on_progress, on_result, cancel,
                  refiner if refining else None, pool)
    finally:
        if own_pool is not None:
            own_pool.close()
        summary.seconds = time.monotonic() - start
    if _is_set(cancel):
        summary.cancelled = True
    return summary


def _pool_for_run(segmenter, options: PipelineOptions, images: int, pool, allowed: bool):
    """(pool to use or None, pool made here to close or None, torch threads for the model or None)."""
    if not allowed or not hasattr(segmenter, "segment_batch_pending"):
        return None, None, None
    device = getattr(getattr(segmenter, "device", None), "type", "cpu")
    if pool is not None:
        return pool, None, plan_workers(pool.workers, device, images).model_threads
    plan = plan_workers(options.postprocess_workers, device, images)
    if not plan.workers:
        return None, None, None
    own = PostprocessPool(plan.workers)
    return own, own, plan.model_threads


def _loop(project, segmenter, todo, options, summary, on_image, on_progress, on_result, cancel,
          refiner, pool) -> None:
    from engine import Cancelled  # deferred: `engine` imports torch

    size = max(1, options.batch_size)
    reader = _Prefetcher(project.root, todo, depth=size * max(1, options.prefetch_batches))
    saver = _Saver(project, options, summary, on_image, on_progress, on_result, len(todo),
                   in_flight=pool.workers if pool is not None else 0)
    overrides = postprocess_overrides(segmenter, options)
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
                result = postprocess_result(segmenter, outcome, options)
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
        pending, overrides = PendingResult.of(postprocess_result(segmenter, ready, options)), {}
    return pool.submit(pending, overrides, options)


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


def _class_lists(classes, count: int) -> list[list[str]]:
    classes = list(classes)
    if classes and not isinstance(classes[0], str):
        if len(classes) != count:
            raise ValueError(f"{count} images but {len(classes)} class lists")
        return [list(c) for c in classes]
    return [list(classes) for _ in range(count)]


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


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


def is_fatal_disk_error(exc: BaseException) -> bool:
    """A full disk, an exhausted quota or a read-only file system."""
    return isinstance(exc, OSError) and exc.errno in FATAL_ERRNOS


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
                    result, shapes = payload, result_to_shapes(payload, self._options)
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
