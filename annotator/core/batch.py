"""Proposals for a whole folder: the headless engine loop behind ``pnp-annotator label``.

Images are decoded on a background thread while the model works on the previous
batch, and each image's shapes are saved as soon as its batch returns, so a run
that is killed loses at most one batch and resumes where it stopped. A failing
image is recorded with its reason and the run goes on; the user's own work is
never touched (``ImageAnnotations.apply_proposals``).
"""

from __future__ import annotations

import datetime as _dt
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from annotator.core.project import AnnotationFileError, Project
from annotator.core.proposals import DEFAULT_MIN_AREA_FRACTION, DEFAULT_TOLERANCE, proposals_from_result

# on_image(rel, outcome, detail): outcome is "labelled" (detail: shape count),
# "skipped" (detail: why) or "failed" (detail: the reason).
ImageCallback = Callable[[str, str, Any], None]


class ClassListError(ValueError):
    """The engine refused the class list itself (every image would fail the same way)."""


@dataclass
class BatchOptions:
    classes: list[str]
    batch_size: int = 4
    skip_annotated: bool = False
    """Skip images that already have shapes or were processed by an earlier run."""
    tolerance: float = DEFAULT_TOLERANCE
    min_area_fraction: float = DEFAULT_MIN_AREA_FRACTION
    model: str = ""
    """Recorded in each image's ``model_run``."""


@dataclass
class BatchSummary:
    total: int = 0
    labelled: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    shapes_per_class: Counter = field(default_factory=Counter)
    cancelled: bool = False
    seconds: float = 0.0


def images_to_do(project: Project, images: list[str], skip_annotated: bool,
                 summary: BatchSummary, on_image: ImageCallback | None = None) -> list[str]:
    """The images a run must process; skipped and unreadable annotation files are recorded."""
    todo = []
    for rel in images:
        if not project.has_annotations(rel):
            todo.append(rel)
            continue
        try:
            ann = project.load(rel)
        except AnnotationFileError as exc:
            # Never overwrite a damaged file: the user may still recover it.
            _record(summary, on_image, rel, "failed", f"{exc}")
            continue
        if skip_annotated and (ann.shapes or ann.model_run):
            _record(summary, on_image, rel, "skipped", "already annotated")
        else:
            todo.append(rel)
    return todo


def label_images(project: Project, segmenter, images: list[str], options: BatchOptions, *,
                 on_image: ImageCallback | None = None, cancel=None,
                 on_start: Callable[[int], None] | None = None) -> BatchSummary:
    """Propose shapes for *images* (relative paths) and save them one image at a time.

    *cancel* is any object with ``is_set()``; it (or a KeyboardInterrupt) stops the run
    after the images already finished, which are saved. ClassListError: the engine
    refused the class list on the first batch, before anything was saved.
    on_start(n) is called once with the number of images that will go through the model.
    """
    from engine import Cancelled  # deferred: `engine` imports torch

    start = time.monotonic()
    summary = BatchSummary(total=len(images))
    todo = images_to_do(project, images, options.skip_annotated, summary, on_image)
    if on_start is not None:
        on_start(len(todo))
    # One batch decoded ahead of the one in the model: overlap without holding many photos.
    reader = _Prefetcher(project, todo, depth=max(1, options.batch_size))
    first_batch = True
    try:
        while not (cancel is not None and cancel.is_set()):
            batch = reader.next_batch(max(1, options.batch_size), summary, on_image)
            if not batch:
                break
            results = _segment(segmenter, batch, options.classes, cancel, first_batch)
            first_batch = False
            for (rel, _rgb), outcome in zip(batch, results):
                if isinstance(outcome, str):
                    _record(summary, on_image, rel, "failed", outcome)
                else:
                    _save(project, rel, outcome, options, summary, on_image)
    except (Cancelled, KeyboardInterrupt):
        summary.cancelled = True
    finally:
        reader.stop()
        summary.seconds = time.monotonic() - start
    if cancel is not None and cancel.is_set():
        summary.cancelled = True
    return summary


def _segment(segmenter, batch, classes, cancel, first_batch: bool) -> list:
    """One result (or a failure reason) per image; a failing batch is retried image by
    image so one bad image (or an out-of-memory batch) does not sink the others."""
    from engine import Cancelled, EngineError
    from engine.images import ImageReadError

    rgbs = [rgb for _, rgb in batch]
    try:
        return segmenter.segment_batch(rgbs, [list(classes)] * len(rgbs), cancel=cancel)
    except (Cancelled, KeyboardInterrupt):
        raise
    except (EngineError, ValueError, RuntimeError, MemoryError) as exc:
        if len(rgbs) == 1:
            reasons = [_reason(exc)]
        else:
            reasons = []
            for rgb in rgbs:
                try:
                    reasons.append(segmenter.segment(rgb, list(classes), cancel=cancel))
                except (Cancelled, KeyboardInterrupt):
                    raise
                except (EngineError, ValueError, RuntimeError, MemoryError) as one:
                    reasons.append(_reason(one))
        failures = [r for r in reasons if isinstance(r, str)]
        if (first_batch and isinstance(exc, ValueError) and not isinstance(exc, ImageReadError)
                and len(failures) == len(reasons) and len(set(failures)) == 1):
            # The same refusal for every image: the class list, not the images.
            raise ClassListError(str(exc)) from exc
        return reasons


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _save(project: Project, rel: str, result, options: BatchOptions, summary: BatchSummary,
          on_image: ImageCallback | None) -> None:
    try:
        shapes = proposals_from_result(result, tolerance=options.tolerance,
                                       min_area_fraction=options.min_area_fraction)
        ann = project.load(rel)
    except (AnnotationFileError, ValueError) as exc:
        _record(summary, on_image, rel, "failed", str(exc))
        return
    ann.height, ann.width = (int(v) for v in result.image_size)
    ann.apply_proposals(shapes)
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
    try:
        project.save(ann)
    except OSError as exc:
        _record(summary, on_image, rel, "failed", f"cannot save {project.annotation_path(rel)}: {exc}")
        return
    summary.shapes_per_class.update(s.label for s in shapes)
    _record(summary, on_image, rel, "labelled", len(shapes))


def _record(summary: BatchSummary, on_image: ImageCallback | None, rel: str, outcome: str, detail) -> None:
    if outcome == "labelled":
        summary.labelled.append(rel)
    elif outcome == "skipped":
        summary.skipped.append(rel)
    else:
        summary.failed.append((rel, str(detail)))
    if on_image is not None:
        on_image(rel, outcome, detail)


_DONE = object()


class _Prefetcher:
    """Decodes upcoming images on a daemon thread (PIL and OpenCV release the GIL)."""

    def __init__(self, project: Project, images: list[str], depth: int) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(project, images), daemon=True,
                                        name="pnp-annotator-prefetch")
        self._thread.start()

    def _run(self, project: Project, images: list[str]) -> None:
        from engine.images import ImageReadError, load_rgb

        try:
            for rel in images:
                try:
                    item: Any = load_rgb(project.image_path(rel))
                except ImageReadError as exc:
                    item = str(exc)
                except Exception as exc:  # noqa: BLE001 - any decoder failure is this image's, not the run's
                    item = f"Cannot read image '{project.image_path(rel)}': {_reason(exc)}"
                if not self._put((rel, item)):
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

    def next_batch(self, size: int, summary: BatchSummary,
                   on_image: ImageCallback | None) -> list[tuple[str, np.ndarray]]:
        """Up to *size* decoded images; unreadable ones are recorded as failed on the way."""
        batch: list[tuple[str, np.ndarray]] = []
        while len(batch) < size and not self._stop.is_set():
            item = self._queue.get()
            if item is _DONE:
                self._stop.set()
                break
            rel, value = item
            if isinstance(value, np.ndarray):
                batch.append((rel, value))
            else:
                _record(summary, on_image, rel, "failed", value)
        return batch

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
