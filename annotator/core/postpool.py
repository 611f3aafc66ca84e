"""Post-processing (label map -> polygons) in helper processes, overlapping the model.

The dense CRF is Cython that holds the GIL for 0.2-1 s per image, so threads cannot
overlap it with the model's Python; processes can. ``run_pipeline`` hands each image's
``engine.base.PendingResult`` to a ``PostprocessPool`` while the model runs the next batch;
a worker finishes it (blur + CRF -> label map) and turns it into shapes, the pipeline's
saver thread saves them in order. The files written are those of the in-process path.

Sizing (``plan_workers``): on a GPU the model needs about one core (one torch thread) to
feed it and the other cores post-process; on a CPU the model and the workers share the
cores, so the model gets half of them (``torch`` threads) and the workers may use every
core: a worker waiting for work costs nothing, while torch's OpenMP threads spin and stall
when another process takes their core (measured: 15x slower with 2 threads on 2 busy cores).
The workers are forked from a fork server that imports their modules (torch) once.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

# A pool costs ~3 s of CPU to start (its fork server imports torch): fewer images than
# this are post-processed in the calling process when the size is automatic.
MIN_IMAGES_FOR_POOL = 8
WINDOW_WORKERS = 1
"""The window's engine thread: one process keeps the CRF (which holds the GIL) off the GUI's."""


@dataclass(frozen=True)
class WorkerPlan:
    workers: int
    """Post-processing processes (0: post-process in the pipeline's own threads)."""
    model_threads: int | None
    """torch threads for the model during the run (None: leave them as they are)."""


def cpu_count() -> int:
    """Cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def plan_workers(requested: int | None, device_type: str, images: int, cores: int | None = None) -> WorkerPlan:
    """How many post-processing processes a run uses, and the model's torch threads then.

    *requested*: ``PipelineOptions.postprocess_workers`` (None: automatic, 0: none).
    """
    cores = cores or cpu_count()
    if requested is not None:
        workers = max(0, int(requested))
    elif images < MIN_IMAGES_FOR_POOL or (cores < 2 and device_type == "cpu"):
        workers = 0
    elif device_type == "cpu":
        workers = cores
    else:
        workers = max(1, cores - 1)
    if workers == 0:
        return WorkerPlan(0, None)
    # CPU: the model shares the cores with the workers. GPU: the model's CPU side (input
    # tensors, copies) needs little, and idle OpenMP threads would spin beside busy workers.
    threads = max(1, cores // 2) if device_type == "cpu" else max(1, cores - workers)
    return WorkerPlan(workers, threads)


def start_pool(requested: int | None, device_type: str, images: int, cores: int | None = None, *,
               spawn: bool = False) -> PostprocessPool | None:
    """THE decision whether a run post-processes in a pool: a started ``PostprocessPool`` sized
    by ``plan_workers``, or None (post-process in the run's own process: a small run, one core,
    ``requested`` 0). The window's engine thread asks for one worker (``WINDOW_WORKERS``), spawned:
    a fork server started from the window stalled its GUI thread for 3-7 s (heartbeat tests)."""
    plan = plan_workers(requested, device_type, images, cores)
    return PostprocessPool(plan.workers, spawn=spawn) if plan.workers else None


@contextlib.contextmanager
def torch_threads(count: int | None):
    """torch's intra-op threads set to *count* for the block (None: unchanged)."""
    if count is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class PostprocessPool:
    """Worker processes that finish pending results and make their shapes.

    ``submit(pending, overrides, settings)`` -> ``PoolJob`` giving (SegmentationResult, [Shape])
    (*settings*: the run's ``ProposalSettings``).
    Workers start (and import their modules) at once, so creating the pool before the
    model loads hides their start-up; ``close()`` stops them.
    """

    def __init__(self, workers: int, spawn: bool = False) -> None:
        """*spawn*: spawned workers instead of the fork server (a GUI process: see ``start_pool``)."""
        if workers < 1:
            raise ValueError(f"a post-processing pool needs at least 1 worker, not {workers}")
        self.workers = workers
        context = multiprocessing.get_context("spawn") if spawn else _context()
        self._executor = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                                             initargs=(context.get_start_method() == "forkserver",))
        # start every worker now (spawned pools start them on the first submit)
        self._started = [self._executor.submit(os.getpid) for _ in range(workers)]

    @property
    def executor(self):
        """The processes as an executor (``submit(fn, *args, **kwargs) -> Future``): what an engine is
        handed (``Segmenter.use_postprocess_pool``) to post-process in them."""
        return self._executor

    def worker_pids(self) -> list[int]:
        """The workers' process ids, once they are up."""
        for future in self._started:
            future.result()
        return [p.pid for p in list(getattr(self._executor, "_processes", {}).values())]

    def submit(self, pending, overrides: dict, settings) -> PoolJob:
        args = (pending, overrides, settings)
        try:
            return PoolJob(self._executor.submit(finish_to_shapes, *args), args)
        except BrokenProcessPool:  # a worker died (killed, out of memory): this process does the rest
            return PoolJob(None, args)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> PostprocessPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class PoolJob:
    """One image in the pool: ``result()`` -> (result, shapes), done here when the pool broke."""

    def __init__(self, future: Future | None, args: tuple) -> None:
        self._future, self._args = future, args

    def result(self):
        if self._future is not None:
            try:
                return self._future.result()
            except BrokenProcessPool:
                pass
        return finish_to_shapes(*self._args)

    def cancel(self) -> None:
        if self._future is not None:
            self._future.cancel()


# What every worker imports (torch alone takes ~2.5 s of CPU).
_WORKER_MODULES = ["torch", "cv2", "pydensecrf.densecrf", "engine.pnp_ovss.postprocess", "annotator.core.proposals"]


def _context():
    """forkserver where there is one: a clean single-threaded server process imports the
    workers' modules once and forks each worker from it (never from this process, which
    may hold CUDA or OpenMP threads); spawn elsewhere (each worker imports them itself)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["engine.parent_watch", *_WORKER_MODULES])  # the server ends with us
    return context


def finish_to_shapes(pending, overrides: dict, settings):
    """(result, shapes) of one pending result: its label map, then its polygons
    (*settings*: ``ProposalSettings``)."""
    from annotator.core.proposals import result_to_shapes

    result = pending.finish(**overrides)
    return result, result_to_shapes(result, settings)


def _init_worker(forked_by_server: bool = False) -> None:
    # One thread each: the pool's size is the parallelism; OpenMP threads of several
    # processes on the same cores only fight.
    import signal

    import cv2
    import torch

    from engine.procs import die_with_parent

    # gone with its parent: the fork server (whose main thread forked it: a parent-death
    # signal is safe), or the pool's process (spawned from whichever thread: the watch only)
    die_with_parent(signal=forked_by_server)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the pipeline's: it still saves finished images

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    import annotator.core.proposals  # noqa: F401 - imported once at start, not on the first image
    import engine.pnp_ovss.postprocess  # noqa: F401
    import pydensecrf.densecrf  # noqa: F401
