"""``pnp-annotator label --ray``: the labelling pipeline's stages run by Ray.

The same stage functions as the local executor (``annotator.core.pipeline``), laid
out on a cluster::

    driver: the image list, minus the images already annotated (--skip-annotated)
    CPU tasks: decode_image(project_root, rel)            every node reads the images
    model actors: infer_batch + postprocess_result         one per GPU, or CPU actors
                  (+ the --refine refiner, in the same actor)
    CPU tasks: result_to_shapes                            polygons next to the model
    driver: save_result, image by image                    the only writer of the project

Results stream back to the driver, which writes every annotation file with the
project's atomic storage: workers never write, so the project's annotation folder
needs no shared file system. The images are read by the workers from the project
folder's path, which must therefore be readable at the same path on every node
(a shared or synchronised read-only copy); ``ray_runtime.check_images_visible``
says so before the job starts when a node cannot see it.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Sequence

import numpy as np

from annotator.core import pipeline
from annotator.core.executors.ray_runtime import ResourcePlan
from annotator.core.executors.ray_stream import Record, Stages, missing_reason, stream_records
from annotator.core.pipeline import (
    FAILED, LABELLED, BatchSummary, ClassListError, ImageCallback, PipelineOptions, ProgressCallback,
    decode_image, infer_batch, is_fatal_disk_error, postprocess_result, result_to_shapes, save_result)
from annotator.core.project import AnnotationFileError, Project

Refiner = Callable[[str, object, object], object]
"""refiner(rel, rgb, result) -> result (``core.refine.make_refiner``)."""

# Fields of a SegmentationResult that grow with the image or the class count; the
# driver's save_result reads only the classes and the image size, so they are dropped
# before the transfer (a 12 MP label map alone is 48 MB).
_BULKY_FIELDS = {"label_map": lambda: None, "passes": list, "instances": list,
                 "parts": dict}  # parts: a routed result's engines
# (the heatmaps stay: a few kB that save_result keeps in the image's heatmap file)


def label_on_ray(project: Project, load_segmenter: Callable[[], object], images: Sequence[str],
                 options: PipelineOptions, plan: ResourcePlan, *, on_image: ImageCallback | None = None,
                 on_progress: ProgressCallback | None = None, cancel=None,
                 load_refiner: Callable[[], Refiner] | None = None) -> BatchSummary:
    """Label *images* on the connected Ray cluster: ``run_pipeline``'s contract, with
    the model in ``plan.actors`` actors that each call *load_segmenter()* once.

    *load_refiner* (``core.refine.load_refiner`` bound to the settings; must pickle):
    called once in each model actor after *load_segmenter* when ``options.refine`` is
    set; its refiner sharpens each result there, as ``run_pipeline(refiner=)`` does. A
    refiner that cannot load stops the job (ModelLoadError, with the loader's message).

    *cancel* (any ``is_set()``) or a KeyboardInterrupt stops the cluster job; images
    already written stay written. ClassListError: the engine refused the class list
    before any image was saved. A full or read-only disk stops the run
    (``summary.stopped``).
    """
    start = time.monotonic()
    summary = BatchSummary(total=len(images))
    # The local executor's own planning and bookkeeping: "annotated" and the summary mean
    # the same thing under --ray.
    todo = pipeline._plan(project, images, options.skip_annotated, summary, on_image)
    if on_progress is not None:
        on_progress("images", 0, len(todo))
    refine = load_refiner if options.refine else None
    stages = Stages(load=functools.partial(_decode, str(project.root)),
                    model=functools.partial(_load_models, load_segmenter, refine),
                    infer=functools.partial(_infer, options=options),
                    finish=functools.partial(_to_shapes, options=options))
    stream = stream_records([{"rel": rel} for rel in todo], stages, plan, batch_size=options.batch_size)
    seen: set[str] = set()

    def count(rel: str, outcome: str, detail) -> None:
        seen.add(rel)
        pipeline._record(summary, on_image, rel, outcome, detail)
        if on_progress is not None:
            on_progress("images", len(seen), len(todo))

    try:
        for record in stream:
            if record.get("class_list_error") and not summary.labelled:
                raise ClassListError(record["failure"])
            _save(project, record, options, summary, count)
            if summary.stopped or (cancel is not None and cancel.is_set()):
                break
    except KeyboardInterrupt:
        summary.cancelled = True
    finally:
        stream.close()  # stops the cluster job when the loop ended early
        summary.seconds = time.monotonic() - start
    if cancel is not None and cancel.is_set():
        summary.cancelled = True
    if not (summary.cancelled or summary.stopped):
        for rel in todo:
            if rel not in seen:
                count(rel, FAILED, missing_reason)
    return summary


# --- stages as the cluster runs them (module level: they pickle by reference) ---------------


def _decode(project_root: str, record: Record) -> Record:
    from engine.images import ImageReadError

    try:
        rel, rgb = decode_image(project_root, record["rel"])
    except ImageReadError as exc:
        return {**record, "failure": str(exc)}  # the same words as a local run's summary
    return {"rel": rel, "rgb": rgb}


@dataclasses.dataclass
class _Models:
    """What a model actor holds: the segmenter, and the refiner when --refine is on."""

    segmenter: object
    refiner: Refiner | None = None


def _load_models(load_segmenter: Callable[[], object], load_refiner: Callable[[], Refiner] | None) -> _Models:
    """In the model actor: the segmenter first, then the refiner (the local order)."""
    segmenter = load_segmenter()
    return _Models(segmenter, load_refiner() if load_refiner is not None else None)


def _infer(models: _Models, records: list[Record], options: PipelineOptions) -> list[Record]:
    segmenter = models.segmenter
    try:
        results = infer_batch(segmenter, [r["rgb"] for r in records], options.classes)
    except ClassListError as exc:
        return [{"rel": r["rel"], "failure": str(exc), "class_list_error": True} for r in records]
    out = []
    for record, result in zip(records, results):
        if isinstance(result, str):
            out.append({"rel": record["rel"], "failure": result})
            continue
        result = postprocess_result(segmenter, result, options.settings)
        if models.refiner is not None:
            try:
                result = models.refiner(record["rel"], record["rgb"], result)
            except Exception as exc:  # noqa: BLE001 - one image's failure, in run_pipeline's words
                out.append({"rel": record["rel"], "failure": f"sharpen failed: {type(exc).__name__}: {exc}"})
                continue
        out.append({"rel": record["rel"], "result": result})
    return out


def _to_shapes(record: Record, options: PipelineOptions) -> Record:
    result = record["result"]
    return {"rel": record["rel"], "shapes": result_to_shapes(result, options.settings), "result": _slim(result)}


def _slim(result):
    """*result* without its bulky fields (see _BULKY_FIELDS)."""
    present = {f.name for f in dataclasses.fields(result)}
    slim = {k: empty() for k, empty in _BULKY_FIELDS.items() if k in present}
    work = getattr(result, "work_image", None)
    if work is not None:  # only its size is needed (the heatmap file's work_size): an empty image of it
        slim["work_image"] = np.empty((*work.shape[:2], 0), np.uint8)
    return dataclasses.replace(result, **slim)


# --- the driver's side -------------------------------------------------------------------


def _save(project: Project, record: Record, options: PipelineOptions, summary: BatchSummary, count) -> None:
    """save_result for one streamed record, with the local executor's outcomes."""
    rel = record["rel"]
    if record.get("failure") is not None:
        count(rel, FAILED, record["failure"])
        return
    shapes = record["shapes"]
    try:
        saved = save_result(project, rel, shapes, record["result"], options)
    except OSError as exc:
        if is_fatal_disk_error(exc):
            summary.stopped = (f"cannot write {project.annotation_path(rel)}: {exc.strerror or exc}; the run "
                               "stopped. Free some space (or make the folder writable) and run again with "
                               "--skip-annotated to go on.")
        count(rel, FAILED, f"cannot save {project.annotation_path(rel)}: {exc}")
        return
    except (AnnotationFileError, ValueError) as exc:
        count(rel, FAILED, str(exc))
        return
    summary.shapes_per_class.update(s.label for s in shapes)
    count(rel, LABELLED, saved)
