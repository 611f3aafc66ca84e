"""COCO annotations -> shapes in worker processes, for imports big enough to pay for them.

Converting an annotation (pycocotools rasterisation for the pixel check, polygon
joining, Shape validation) is CPU work in Python that holds the GIL; an import of
thousands of images spends most of its time there, so it runs in processes, one
per core. Results come back in the images' order, so the report and the files are
those of the one-process path.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from annotator.core.jobs import check
from annotator.core.postpool import cpu_count

# Starting a worker (imports numpy, shapely, pycocotools) costs ~0.3-0.5 s of CPU;
# conversion costs ~4 ms per image of 20 polygons, so smaller imports stay in-process.
MIN_IMAGES_FOR_WORKERS = 400
MAX_WORKERS = 8
CHUNK_IMAGES = 50
BYTES_PER_IMAGE = 20_000
"""A COCO file's size per image, roughly (20 polygons of 50 vertices: 30 kB), to size
the pool before the file is parsed."""


def plan_workers(requested: int | None, images: int, cores: int | None = None) -> int:
    """Worker processes for converting *images* images (0: in this process)."""
    if requested is not None:
        return max(0, int(requested))
    cores = cores or cpu_count()
    if images < MIN_IMAGES_FOR_WORKERS or cores < 2:
        return 0
    return min(cores, MAX_WORKERS, images // CHUNK_IMAGES)


class ConvertPool:
    """Worker processes for one import; ``for_file`` makes none for a small file.

    In a process with one thread (the command line) the workers are forked once the file
    is parsed and read their images from the parsed file they inherit, so nothing is
    pickled to them; elsewhere (a window's job thread: forking a threaded process is
    unsafe) they are spawned at once, so that their start-up overlaps the parsing, and
    each chunk of images is sent to them.
    """

    def __init__(self, workers: int, fork: bool | None = None) -> None:
        self.workers = workers
        self.forked = _fork_is_safe() if fork is None else fork
        self._executor: ProcessPoolExecutor | None = None
        self._started: list[Future] = []
        if not self.forked:
            self._executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=_init_worker)
            # spawned pools start their workers on the first submit
            self._started = [self._executor.submit(os.getpid) for _ in range(workers)]

    def share(self, jobs: Sequence, names: dict[int, str], tolerance: float) -> None:
        """Forked pools: what the workers inherit; they start now."""
        global _SHARED
        _SHARED = (jobs, names, tolerance)
        self._executor = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("fork"),
                                             initializer=_init_forked_worker)
        self._started = [self._executor.submit(os.getpid) for _ in range(self.workers)]

    @classmethod
    def for_file(cls, path, requested: int | None) -> ConvertPool | None:
        """A pool sized for the COCO file at *path* (None: convert in this process)."""
        try:
            size = os.path.getsize(path)
            with open(path, "rb") as f:
                if f.read(4096).lstrip().startswith(b"["):
                    return None  # a results list: imported in this process
        except OSError:
            return None
        count = plan_workers(requested, size // BYTES_PER_IMAGE)
        return cls(count) if count else None

    def submit(self, fn, *args) -> Future:
        try:
            if self._executor is None:
                raise BrokenProcessPool("the pool was not started")
            return self._executor.submit(fn, *args)
        except BrokenProcessPool:
            failed: Future = Future()
            failed.set_exception(BrokenProcessPool("a conversion worker died"))
            return failed

    def worker_pids(self) -> list[int]:
        """The workers' process ids, once they are up."""
        for future in self._started:
            future.result()
        return [p.pid for p in list(getattr(self._executor, "_processes", {}).values())]

    def close(self) -> None:
        global _SHARED
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
        _SHARED = None


def image_jobs(images: Sequence[dict], annotations: Sequence[dict]) -> list[tuple[dict, list]]:
    """The conversion jobs of *images*: (COCO image, [(index in the file, annotation)]) each,
    annotations in file order."""
    by_image: dict[int, list[tuple[int, dict]]] = {}
    for i, a in enumerate(annotations):
        by_image.setdefault(a["image_id"], []).append((i, a))
    return [(im, by_image.get(im["id"], [])) for im in images]


def convert_images(jobs: Sequence[tuple[dict, list]], names: dict[int, str], tolerance: float, *,
                   pool: ConvertPool | None = None, cancel=None) -> Iterator:
    """``images.ImageShapes`` of each (COCO image, [(index, annotation)]) job, in order,
    in *pool*'s processes when there is one. *cancel* (``is_set()``) raises JobCancelled
    between images."""
    from annotator.core.coco.images import image_shapes

    if pool is None:
        for im, anns in jobs:
            check(cancel)
            yield image_shapes(im, anns, names, tolerance)
        return
    starts = range(0, len(jobs), CHUNK_IMAGES)
    chunks = [jobs[i:i + CHUNK_IMAGES] for i in starts]
    if pool.forked:
        pool.share(jobs, names, tolerance)
        futures = [pool.submit(_convert_shared, i, i + CHUNK_IMAGES) for i in starts]
    else:
        futures = [pool.submit(_convert_chunk, chunk, names, tolerance) for chunk in chunks]
    try:
        for chunk, future in zip(chunks, futures):
            check(cancel)
            try:
                done = future.result()
            except BrokenProcessPool:  # a worker died (killed, out of memory): this process does it
                done = _convert_chunk(chunk, names, tolerance)
            for converted in done:
                check(cancel)
                yield converted
    finally:
        for future in futures:
            future.cancel()


def _convert_chunk(jobs: list, names: dict[int, str], tolerance: float) -> list:
    from annotator.core.coco.images import image_shapes

    return [image_shapes(im, anns, names, tolerance) for im, anns in jobs]


_SHARED: tuple | None = None
"""(jobs, names, tolerance) of the running import, inherited by forked workers."""


def _convert_shared(start: int, stop: int) -> list:
    jobs, names, tolerance = _SHARED
    return _convert_chunk(jobs[start:stop], names, tolerance)


def _fork_is_safe() -> bool:
    """Linux, and no thread but this one (forking copies locks held by other threads)."""
    import sys
    import threading

    return (sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()
            and threading.active_count() == 1)


def _init_forked_worker() -> None:
    """A forked worker ends with the importer however it dies (kill -9 included)."""
    from engine.procs import die_with_parent

    die_with_parent(signal=True)


def _init_worker() -> None:
    from engine.procs import die_with_parent

    die_with_parent()
    import annotator.core.coco.images  # noqa: F401 - imported at start, while the file is parsed
