"""The evaluation loop: decode ahead on a thread, segment in batches, sum one matrix.

Decoding a JPEG and its label PNG (or painting COCO polygons) costs tens of ms per
image, comparable to a GPU segmentation pass, so a bounded prefetch queue keeps the
model busy while the next batch is read.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from annotator.core.pipeline import ClassListError, infer_batch

from .class_sources import ClassSource, normalise
from .datasets import Dataset, DatasetError, Sample
from .metrics import ConfusionMatrix
from .protocols import EvalSpace

Progress = Callable[[int, int], None]


class EvalError(RuntimeError):
    """The evaluation cannot go on; the message names the image and the reason."""


@dataclass(frozen=True)
class Item:
    sample: Sample
    image: np.ndarray  # uint8 [H, W, 3]
    id_mask: np.ndarray  # uint8 [H, W], datasets.py convention


@dataclass(frozen=True)
class EvalRun:
    hist: np.ndarray  # [n, n+1] summed confusion matrix
    images: int
    seconds: float  # first batch to last result; model loading excluded
    prompted_per_image: float  # mean classes in the caption request
    kept_per_image: float  # mean classes the engine segmented (after presence filtering)

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else float("nan")


def evaluate(segmenter, dataset: Dataset, samples: list[Sample], space: EvalSpace,
             source: ClassSource, prompt: dict[int, str], *, batch_size: int = 8,
             progress: Progress | None = None) -> EvalRun:
    """Segment *samples* with ``segmenter.segment_batch`` and score them in *space*.

    *prompt* maps dataset class ids to caption names; the engine's ``res.classes``
    are mapped back through each image's own list, so presence filtering and the
    engine's deduplication are honoured (two ids sharing a name take the first).
    """
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, not {batch_size}")
    cm = ConfusionMatrix(space.n)
    done = prompted = kept = 0
    start = time.perf_counter()
    items = prefetch(dataset, samples, depth=2 * batch_size)
    try:
        for batch in _batches(items, batch_size):
            ids = [source.class_ids(dataset.info, it.sample.image_id, it.id_mask) for it in batch]
            names = [[prompt[c] for c in image_ids] for image_ids in ids]
            try:  # the labelling pipeline's model stage: a failed batch is retried image by image
                results = infer_batch(segmenter, [it.image for it in batch], names)
            except ClassListError as exc:  # the engine refuses a class list (e.g. over the token budget)
                first = batch[0].sample
                raise EvalError(f"the engine refused the class lists of images {first.image_id}..: {exc}") from exc
            for item, res in zip(batch, results):
                if isinstance(res, str):  # a score needs every image: one failure ends the run
                    raise EvalError(f"image {item.sample.image_id} ({item.sample.image}) failed: {res}")
            for item, image_ids, res in zip(batch, ids, results):
                kept += score_image(cm, space, prompt, item.sample, image_ids, item.id_mask, res)
            prompted += sum(len(i) for i in ids)
            done += len(batch)
            if progress:
                progress(done, len(samples))
    finally:
        items.close()  # stops the decoding thread now, also when a batch failed
    seconds = time.perf_counter() - start
    return EvalRun(cm.hist, done, seconds, prompted / max(done, 1), kept / max(done, 1))


def score_image(cm: ConfusionMatrix, space: EvalSpace, prompt: dict[int, str], sample: Sample,
                image_ids: list[int], id_mask: np.ndarray, res) -> int:
    """Add one image's pixels to *cm*; returns the number of classes the engine kept.

    ``res.classes`` are mapped back to dataset ids through the image's own prompted
    *image_ids* (two ids sharing a name take the first)."""
    by_name: dict[str, int] = {}
    for cid in image_ids:
        by_name.setdefault(normalise(prompt[cid]), cid)
    used = [_class_id(name, by_name, sample) for name in res.classes]
    cm.add(space.gt_labels(id_mask), space.pred_labels(res.label_map, used))
    return len(used)


def _class_id(name: str, by_name: dict[str, int], sample: Sample) -> int:
    cid = by_name.get(normalise(name))
    if cid is None:  # the engine renamed a class in a way this module does not know
        raise EvalError(f"engine returned class {name!r} for {sample.image}, which is not a prompted name")
    return cid


def _batches(items: Iterator[Item], size: int) -> Iterator[list[Item]]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


_END = object()


def prefetch(dataset: Dataset, samples: list[Sample], depth: int = 16) -> Iterator[Item]:
    """Decode *samples* on a background thread, at most *depth* ahead; errors re-raised here."""
    from engine.images import load_rgb

    q: queue.Queue = queue.Queue(maxsize=max(depth, 1))
    stop = threading.Event()

    def put(obj) -> None:
        while not stop.is_set():
            try:
                q.put(obj, timeout=0.1)
                return
            except queue.Full:
                continue

    def work() -> None:
        try:
            for sample in samples:
                if stop.is_set():
                    return
                put(load_item(dataset, sample, load_rgb))
            put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            put(exc)

    thread = threading.Thread(target=work, name="eval-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            obj = q.get()
            if obj is _END:
                return
            if isinstance(obj, BaseException):
                raise obj
            yield obj
    finally:
        stop.set()  # a consumer that stops early (error, Ctrl-C) releases the thread
        thread.join(timeout=5)


def load_item(dataset: Dataset, sample: Sample, load_rgb=None) -> Item:
    """One sample's image and ground truth; DatasetError when their sizes differ."""
    if load_rgb is None:
        from engine.images import load_rgb
    image = load_rgb(sample.image)
    id_mask = dataset.load_gt(sample)
    if id_mask.shape != image.shape[:2]:
        raise DatasetError(
            f"{sample.gt} is {id_mask.shape[1]}x{id_mask.shape[0]} but {sample.image} is "
            f"{image.shape[1]}x{image.shape[0]}: ground truth must match its image"
        )
    return Item(sample, image, id_mask)
