"""``pnp-annotator eval --ray``: the evaluation loop's stages run by Ray.

    CPU tasks: load_item (image + ground truth) and the image's class list
    model actors: infer_batch (the labelling pipeline's model stage)
    CPU tasks: score_image into a per-image confusion matrix, sent back as its non-zero cells
    driver: the sum, the progress bar

The same functions as ``annotator.core.evaluation.runner.evaluate``, so the matrix is
the local run's (up to the engine's last-bit differences between batch partners).
The dataset root must be readable at the same path on every node.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

import numpy as np

from annotator.core.evaluation.class_sources import ClassSource
from annotator.core.evaluation.datasets import Dataset, Sample
from annotator.core.evaluation.metrics import ConfusionMatrix
from annotator.core.evaluation.protocols import EvalSpace
from annotator.core.evaluation.runner import EvalError, EvalRun, Progress, load_item, score_image
from annotator.core.executors.ray_runtime import ResourcePlan
from annotator.core.executors.ray_stream import Record, Stages, missing_reason, stream_records
from annotator.core.pipeline import ClassListError, infer_batch


def evaluate_on_ray(load_segmenter: Callable[[], object], dataset: Dataset, samples: list[Sample],
                    space: EvalSpace, source: ClassSource, prompt: dict[int, str], plan: ResourcePlan, *,
                    batch_size: int = 8, progress: Progress | None = None) -> EvalRun:
    """``evaluate`` on the connected Ray cluster, the model in ``plan.actors`` actors that
    each call *load_segmenter()* once. EvalError on the first image that fails (a score
    needs every image); the cluster job stops then."""
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, not {batch_size}")
    start = time.perf_counter()
    stages = Stages(load=functools.partial(_load, dataset, source, prompt), model=load_segmenter,
                    infer=_infer, finish=functools.partial(_score, space, prompt))
    hist = np.zeros((space.n, space.n + 1), dtype=np.int64)
    seen: set[int] = set()
    prompted = kept = 0
    stream = stream_records([{"i": i, "sample": s} for i, s in enumerate(samples)], stages, plan,
                            batch_size=batch_size)
    try:
        for record in stream:
            sample = samples[record["i"]]
            if record.get("class_list_error"):
                raise EvalError(f"the engine refused the class lists of images {sample.image_id}..: "
                                f"{record['failure']}")
            if record.get("failure") is not None:
                raise EvalError(f"image {sample.image_id} ({sample.image}) failed: {record['failure']}")
            hist.flat[record["cells"]] += record["counts"]
            prompted += record["prompted"]
            kept += record["kept"]
            seen.add(record["i"])
            if progress:
                progress(len(seen), len(samples))
    finally:
        stream.close()
    if len(seen) < len(samples):
        first = samples[min(set(range(len(samples))) - seen)]
        raise EvalError(f"image {first.image_id} ({first.image}) failed: {missing_reason}")
    done = len(seen)
    return EvalRun(hist, done, time.perf_counter() - start, prompted / max(done, 1), kept / max(done, 1))


def _load(dataset: Dataset, source: ClassSource, prompt: dict[int, str], record: Record) -> Record:
    item = load_item(dataset, record["sample"])
    ids = source.class_ids(dataset.info, item.sample.image_id, item.id_mask)
    return {**record, "image": item.image, "id_mask": item.id_mask, "ids": ids, "names": [prompt[c] for c in ids]}


def _infer(segmenter, records: list[Record]) -> list[Record]:
    try:
        results = infer_batch(segmenter, [r["image"] for r in records], [r["names"] for r in records])
    except ClassListError as exc:
        return [{"i": r["i"], "failure": str(exc), "class_list_error": True} for r in records]
    out = []
    for record, res in zip(records, results):
        base = {k: record[k] for k in ("i", "sample", "id_mask", "ids")}
        out.append({**base, "failure": res} if isinstance(res, str) else {**base, "result": res})
    return out


def _score(space: EvalSpace, prompt: dict[int, str], record: Record) -> Record:
    cm = ConfusionMatrix(space.n)
    kept = score_image(cm, space, prompt, record["sample"], record["ids"], record["id_mask"], record["result"])
    cells = np.flatnonzero(cm.hist)
    return {"i": record["i"], "cells": cells, "counts": cm.hist.flat[cells], "prompted": len(record["ids"]),
            "kept": kept}
