"""Per-item stages on a Ray cluster with Ray Data, records streamed back to the driver.

    items ──► load (CPU tasks) ──► infer (model actor pool, batches) ──► finish (CPU tasks) ──► driver

A record is a plain dict, pickled into one binary column, so stages exchange any
Python values (arrays of different sizes, dataclasses) without an Arrow schema. A
record with a ``"failure"`` (str) goes through the later stages untouched, so every
item comes back, as a result or with the reason it failed. A stage that raises for
one record fails that record, not the job.

The model actors are restarted when their process dies, and the batch they held is
retried once (``max_task_retries=1``). A batch whose actor dies twice is dropped by Ray
Data (``max_errored_blocks``): the caller sees its items missing from the stream and
reports them (``missing_reason``). A model that cannot be loaded in an actor stops the
job with ModelLoadError, whose message is the loader's (e.g. where to get the weights).
"""

from __future__ import annotations

import math
import pickle
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from annotator.core.executors.ray_runtime import ClusterError, ResourcePlan, import_ray, quiet_ray_data

Record = dict[str, Any]
COLUMN = "record"
ACTOR_TASK_RETRIES = 1
missing_reason = ("the model worker died twice while this image's batch was on it (out of memory, "
                  "or a crash in a native library); its images were not labelled")


class ModelLoadError(ClusterError):
    """A model actor could not load the model (e.g. the model folder is missing on its node)."""


@dataclass(frozen=True)
class Stages:
    """The work of one job. Every callable must pickle (module-level functions, or
    ``functools.partial`` of them with picklable arguments)."""

    load: Callable[[Record], Record]
    """CPU task, per record: e.g. read and decode the image."""
    model: Callable[[], Any]
    """Called once in each model actor: e.g. load the segmenter."""
    infer: Callable[[Any, list[Record]], list[Record]]
    """In the model actor, per batch of records that have no failure: one record back per record."""
    finish: Callable[[Record], Record]
    """CPU task, per record: e.g. label map -> polygons; what it returns goes to the driver."""


def stream_records(items: Sequence[Record], stages: Stages, plan: ResourcePlan, *,
                   batch_size: int) -> Iterator[Record]:
    """Run *items* through *stages* on the connected Ray cluster; yield each finished record
    as it arrives (in no particular order). Closing the iterator early (``break``, an
    exception, Ctrl-C) stops the cluster job: Ray Data shuts its executor down."""
    ray = import_ray()
    if not items:
        return
    quiet_ray_data()
    ctx = ray.data.DataContext.get_current()
    saved = ctx.max_errored_blocks
    # A batch whose actor died twice: its items go missing, the job goes on. The
    # dataset keeps a copy of the context, so the process's own is restored at once.
    ctx.max_errored_blocks = -1
    try:
        ds = _dataset(ray, items, stages, plan, max(1, batch_size))
    finally:
        ctx.max_errored_blocks = saved
    rows = iter(ds.iter_rows())
    try:
        for row in rows:
            record = pickle.loads(row[COLUMN])
            if record.get("model_error"):
                raise ModelLoadError(f"the model could not be loaded in a Ray model actor: {record['model_error']}")
            yield record
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()  # shuts Ray Data's executor down now, not when the iterator is collected


def _dataset(ray, items: Sequence[Record], stages: Stages, plan: ResourcePlan, size: int):
    """The Ray Data plan: load tasks -> model actor pool -> finish tasks."""
    ds = ray.data.from_items([{COLUMN: _dump(item)} for item in items],
                             override_num_blocks=max(1, math.ceil(len(items) / size)))
    ds = ds.map_batches(_per_record, fn_args=(stages.load,), batch_size=size, batch_format="numpy",
                        num_cpus=plan.task_cpus)
    with warnings.catch_warnings():
        # Ray 2.60 has no named parameter for the retry count of an actor's batch (the
        # default retries forever: an image that kills its actor would loop);
        # pyproject pins ray below 2.64, which drops these keyword arguments.
        warnings.filterwarnings("ignore", message=".*ray_remote_args.* is deprecated")
        ds = ds.map_batches(_model_actor(stages.model, stages.infer, plan.threads), batch_size=size,
                            batch_format="numpy", compute=_pool(ray, plan.actors),
                            num_cpus=plan.actor_cpus, num_gpus=plan.actor_gpus or None,
                            max_restarts=-1, max_task_retries=ACTOR_TASK_RETRIES)
    ds = ds.map_batches(_per_record, fn_args=(stages.finish,), batch_size=size, batch_format="numpy",
                        num_cpus=plan.task_cpus)
    return ds


def _pool(ray, actors: int):
    """A fixed pool whose actors hold one batch at a time: when an actor dies, only the
    batch it was running is retried, and a batch that kills its actor cannot use up the
    retry of batches queued behind it on the same actor."""
    return ray.data.ActorPoolStrategy(size=actors, max_tasks_in_flight_per_actor=1)


def _dump(record: Record) -> bytes:
    return pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)


def _records(batch) -> list[Record]:
    return [pickle.loads(b) for b in batch[COLUMN]]


def _column(records: list[Record]) -> dict:
    import numpy as np

    out = np.empty(len(records), dtype=object)
    out[:] = [_dump(r) for r in records]
    return {COLUMN: out}


def _per_record(batch, fn: Callable[[Record], Record]) -> dict:
    """A CPU task: *fn* on each record of the batch that has not failed."""
    out = []
    for record in _records(batch):
        if record.get("failure") is None:
            try:
                record = fn(record)
            except Exception as exc:  # noqa: BLE001 - one record's failure, reported; the job goes on
                record = {**record, "failure": f"{type(exc).__name__}: {exc}"}
        out.append(record)
    return _column(out)


def _model_actor(model: Callable[[], Any], infer, threads: int):
    """The actor class for ``map_batches``. Built as a closure so the actor has no
    constructor arguments in the object store (Ray warns those may be lost on restart)."""

    class ModelActor:
        def __init__(self) -> None:
            import torch

            torch.set_num_threads(max(1, threads))
            self.model, self.error = None, ""
            try:
                self.model = model()
            except Exception as exc:  # noqa: BLE001 - reported to the driver, which stops the job
                # An actor that raises here would be restarted in a loop; its batches say why instead.
                import ray

                self.error = f"on node {ray.util.get_node_ip_address()}: {type(exc).__name__}: {exc}"

        def __call__(self, batch) -> dict:
            records = _records(batch)
            if self.error:
                return _column([{**r, "failure": self.error, "model_error": self.error} for r in records])
            todo = [i for i, r in enumerate(records) if r.get("failure") is None]
            if todo:
                try:
                    done = infer(self.model, [records[i] for i in todo])
                except Exception as exc:  # noqa: BLE001 - this batch's failure, reported; the job goes on
                    reason = f"{type(exc).__name__}: {exc}"
                    done = [{**records[i], "failure": reason} for i in todo]
                for i, record in zip(todo, done):
                    records[i] = record
            return _column(records)

    return ModelActor
