"""The stages of every model run: decode -> model -> post-process -> proposals -> save.

Every way of running the model (``pnp-annotator label``, the window's Propose, slider
re-runs and batch, the Ray executor, a server) runs these functions, so "annotated",
retries and what is written per image mean the same thing everywhere::

    decode_image(project_root, rel) -> (rel, rgb uint8 [H, W, 3])      raises ImageReadError
    infer_image(segmenter, rgb, classes, cancel, progress) -> SegmentationResult   (one image, errors raised)
    infer_batch(segmenter, rgbs, classes, cancel) -> [SegmentationResult | "failure reason"]
    postprocess_result(segmenter, result, settings) -> result           (label map at the record's threshold)
    result_to_shapes(result, settings) -> [Shape]                      (core.proposals: label map -> polygons)
    save_result(project, rel, shapes, result, options) -> shapes saved (proposals replaced, model_run, labels,
                                                                        heatmap file)
    save_heatmaps(project, rel, result, settings) -> written?          (the sliders' file; stale ones removed)
    model_run(result, classes, model) -> dict                          (what a file records of the run)
    is_annotated(project, rel) -> bool

*settings* is the run's ``ProposalSettings``. The stages take plain, picklable arguments
(paths, arrays, dataclasses) so an executor in another process runs the same code.
"""

from __future__ import annotations

import datetime as _dt
import errno
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from annotator.core import heatcache
from annotator.core.index import DAMAGED
from annotator.core.project import AnnotationFileError, Project
from annotator.core.proposal_settings import ProposalSettings
from annotator.core.proposals import result_to_shapes  # noqa: F401 - the proposals stage, named with the others
from annotator.core.run_options import PipelineOptions, ProgressCallback
from annotator.core.shapes import Shape

# Errors of the disk, not of one image: the run stops instead of failing every image.
FATAL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})


class ClassListError(ValueError):
    """The engine refused the class list itself (every image would fail the same way)."""


class ReplacedImageError(ValueError):
    """The image file now has another size than the one its kept shapes were drawn on."""


class ClassListError(ValueError):
    """The engine refused the class list itself (every image would fail the same way)."""


class ReplacedImageError(ValueError):
    """The image file now has another size than the one its kept shapes were drawn on."""


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


def infer_image(segmenter, rgb: np.ndarray, classes: Sequence[str], cancel=None,
                progress: ProgressCallback | None = None):
    """The model stage for one image the user waits on (the window's Propose, a server's
    request): its ``SegmentationResult``; the engine's errors propagate, for the caller to
    name (out of memory, bad class list, cancelled)."""
    return segmenter.segment(rgb, list(classes), progress=progress, cancel=cancel)


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


def postprocess_result(segmenter, result, settings: ProposalSettings):
    """*result* with its label map made with the record's threshold and background when
    they differ from the segmenter's own (no model call); else unchanged. *settings*: a
    ``ProposalSettings`` or anything carrying one as ``.settings`` (``PipelineOptions``)."""
    wanted = postprocess_overrides(segmenter, getattr(settings, "settings", settings))
    if wanted and getattr(result, "classes", None):
        result.label_map = segmenter.postprocess(result, **wanted)
    return result


def postprocess_overrides(segmenter, settings: ProposalSettings) -> dict:
    """The record's threshold and background where they differ from the segmenter's own
    (``Segmenter.postprocess`` / ``PendingResult.finish`` keywords). With per-class thresholds the
    threshold is a mapping {class: threshold, None: the rest} (``engine.base.class_thresholds``)."""
    config = getattr(segmenter, "config", None)
    wanted = {}
    if settings.class_thresholds:  # per class, the rest at the record's threshold (None: the engine's)
        wanted["threshold"] = {**settings.class_thresholds, None: settings.threshold}
    elif settings.threshold is not None and settings.threshold != getattr(config, "threshold", None):
        wanted["threshold"] = settings.threshold
    if settings.background != getattr(config, "background", settings.background):
        wanted["background"] = settings.background
    return wanted


def engine_threshold(result, settings: ProposalSettings) -> float:
    """The threshold *result*'s label map was cut at: the record's, else its engine's default."""
    from engine.config import default_threshold

    return default_threshold(getattr(result, "engine", "pnp-ovss")) if settings.threshold is None \
        else settings.threshold


def save_heatmaps(project: Project, rel: str, result, settings: ProposalSettings) -> bool:
    """Keep *result*'s heatmaps beside the image's annotation file (``core.heatcache``) with the
    values its proposals were made with, so the sliders work again later; a result that cannot
    be post-processed again from its heatmaps (no working image) removes the image's older
    heatmap file instead, so a stale one of another run is never used. Returns whether one was
    written. OSError when it cannot be written."""
    if getattr(result, "work_image", None) is None or not getattr(result, "classes", None):
        path = heatcache.heat_path(project, rel)
        if path.is_file() and not path.is_symlink():
            path.unlink()
        return False
    saved = heatcache.SavedResult(list(result.classes), result.heatmaps, tuple(result.image_size),
                                  tuple(result.work_image.shape[:2]), engine_threshold(result, settings),
                                  settings.tolerance, settings.background)
    heatcache.save_result(project, rel, saved)
    return True


def model_run(result, classes: Sequence[str], model: str) -> dict:
    """What an annotation file records of the model run its proposals came from."""
    return {
        "classes": list(result.classes),
        "requested": list(classes),
        "model": model,
        "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def save_result(project: Project, rel: str, shapes: list[Shape], result, options: PipelineOptions) -> int:
    """Replace the image's unaccepted proposals by *shapes* and record ``model_run``;
    human and accepted shapes are kept. Returns the number of shapes saved.

    Raises AnnotationFileError for a damaged annotation file (never overwritten) and
    OSError when it cannot be written. The heatmaps are kept too (``save_heatmaps``).
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
    ann.model_run = model_run(result, options.classes, options.model)
    new_labels = [c for c in result.classes if project.labels.get(c) is None]
    for name in new_labels:
        project.labels.add(name)
    if new_labels:
        project.save_settings()
    project.save(ann)
    try:
        save_heatmaps(project, rel, result, options.settings)
    except OSError:
        pass  # the proposals are saved; only the sliders of this image after a relaunch are lost
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


def _class_lists(classes, count: int) -> list[list[str]]:
    classes = list(classes)
    if classes and not isinstance(classes[0], str):
        if len(classes) != count:
            raise ValueError(f"{count} images but {len(classes)} class lists")
        return [list(c) for c in classes]
    return [list(classes) for _ in range(count)]


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def is_fatal_disk_error(exc: BaseException) -> bool:
    """A full disk, an exhausted quota or a read-only file system."""
    return isinstance(exc, OSError) and exc.errno in FATAL_ERRNOS
