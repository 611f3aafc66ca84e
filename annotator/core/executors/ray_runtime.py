"""Join or start a Ray runtime for one command, and size the work from its resources.

``--ray`` with no address joins ``RAY_ADDRESS`` when it is set, else starts a Ray
runtime on this machine for the length of the command; ``--ray ADDRESS`` joins that
cluster. A runtime somebody else started in this process (a test, a notebook) is used
as it is and left running.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINT = "pip install 'pnp-annotator[cluster]'"

# A runtime this module starts on one machine: bound to the loopback address (Ray
# otherwise advertises the machine's network address) and no usage report. Values the
# user already set in the environment win.
LOCAL_RUNTIME_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
}

# CPU threads one CPU model actor gets before a second actor is worth starting
# (torch's matrix products scale well up to about this many cores).
CPU_THREADS_PER_ACTOR = 4


class ClusterError(RuntimeError):
    """The cluster cannot run the job; the message says why and what to do."""


class RayUnavailableError(ClusterError):
    """Ray Data is not installed, or the cluster cannot be reached."""


def import_ray():
    """The ``ray`` module with ``ray.data`` loaded; RayUnavailableError names the install command."""
    try:
        import ray
        import ray.data  # noqa: F401 - the executor needs Ray Data, not only Ray Core
    except ImportError as exc:
        raise RayUnavailableError(
            f"--ray needs Ray Data, which is not installed here ({exc}). "
            f"Install it with: {INSTALL_HINT}") from exc
    return ray


class ImagesNotVisibleError(ClusterError):
    """A node of the cluster cannot read the image folder; the message names it and the fix."""


@dataclass(frozen=True)
class NodeResources:
    cpus: float
    gpus: float = 0.0


@dataclass(frozen=True)
class RaySession:
    address: str
    """What was joined: the cluster address, or "local" for a runtime started here."""
    started: bool
    """True when this session started the runtime (and stops it at the end)."""
    nodes: tuple[NodeResources, ...]
    """CPUs and GPUs of every live node."""

    @property
    def cpus(self) -> float:
        return sum(n.cpus for n in self.nodes)

    @property
    def gpus(self) -> float:
        return sum(n.gpus for n in self.nodes)

    def describe(self) -> str:
        where = "a local Ray runtime" if self.address == "local" else f"Ray cluster {self.address}"
        gpus = f", {self.gpus:g} GPUs" if self.gpus else ""
        return f"{where}: {len(self.nodes)} node(s), {self.cpus:g} CPUs{gpus}"


@contextlib.contextmanager
def ray_session(address: str | None = None, *, num_cpus: int | None = None) -> Iterator[RaySession]:
    """Join the cluster at *address* (or ``RAY_ADDRESS``), else start a local runtime
    (*num_cpus*: its size; default all of this machine's). The runtime is stopped, or
    the cluster left, at the end, also on errors and Ctrl-C: leaving a cluster ends the
    job's tasks and actors there. RayUnavailableError: Ray missing or unreachable."""
    address = address or os.environ.get("RAY_ADDRESS") or None
    if not address:
        # Ray reads these when it is imported: set them first.
        for key, value in LOCAL_RUNTIME_ENV.items():
            os.environ.setdefault(key, value)
    ray = import_ray()
    if ray.is_initialized():
        yield RaySession("(this process's runtime)", False, cluster_nodes(ray))
        return
    try:
        if address:
            ray.init(address=address, logging_level=logging.WARNING)
        else:
            _loopback_even_if_imported(ray)
            ray.init(address="local", num_cpus=num_cpus, include_dashboard=False,
                     logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address!r}" if address else "a local Ray runtime"
        raise RayUnavailableError(
            f"cannot start or join {where}: {exc}. Start a cluster with `ray start --head` "
            "and pass its address (--ray HOST:6379), or set RAY_ADDRESS.") from exc
    try:
        yield RaySession(address or "local", True, cluster_nodes(ray))
    finally:
        ray.shutdown()


def _loopback_even_if_imported(ray) -> None:
    """Ray reads RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER once, when it is imported; if something
    imported it before the variable was set, apply the variable's value now, so that the
    runtime started here never advertises the machine's network address."""
    constants = getattr(getattr(ray, "_private", None), "ray_constants", None)
    if constants is not None and os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER") == "0":
        constants.ENABLE_RAY_CLUSTER = False


def cluster_nodes(ray) -> tuple[NodeResources, ...]:
    """CPUs and GPUs of the cluster's live nodes."""
    nodes = []
    for node in ray.nodes():
        if not node.get("Alive", False):
            continue
        res = node.get("Resources", {})
        nodes.append(NodeResources(float(res.get("CPU", 0.0)), float(res.get("GPU", 0.0))))
    return tuple(nodes)


def quiet_ray_data() -> None:
    """Ray Data's own progress bars and per-run log lines would interleave with ours."""
    import ray.data

    ray.data.DataContext.get_current().enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)


@dataclass(frozen=True)
class ResourcePlan:
    """How a job is laid out on a cluster: the model actor pool and the CPU tasks around it."""

    actors: int
    """Model actors in the pool (one per GPU on a GPU cluster)."""
    actor_cpus: float
    """CPUs each model actor reserves."""
    actor_gpus: float
    """GPUs each model actor reserves: 1 on a GPU cluster, else 0."""
    task_cpus: float
    """CPUs each decoding or post-processing task reserves."""
    threads: int
    """torch threads in each model actor."""

    def describe(self) -> str:
        kind = "GPU" if self.actor_gpus else "CPU"
        gpu = f"{self.actor_gpus:g} GPU, " if self.actor_gpus else ""
        return (f"{self.actors} {kind} model actor(s) ({gpu}{self.actor_cpus:g} CPU, {self.threads} "
                f"thread(s) each); decoding and polygons in tasks of {self.task_cpus:g} CPU")


def plan_resources(nodes: Sequence[NodeResources], actors: int | None = None) -> ResourcePlan:
    """Size the model actor pool and the tasks from the cluster's *nodes*.

    On every node one CPU (half of a one-CPU node) stays free for the decoding and
    post-processing tasks: model actors that hold every CPU starve the tasks that feed
    them and the job never finishes (measured: 2 actors of 1 CPU on 2 CPUs hang).
    With GPUs: one actor per GPU (``num_gpus=1``) and up to one CPU each. Without:
    *actors* CPU actors (default: one per ``CPU_THREADS_PER_ACTOR`` free CPUs, at least
    one) sharing the free CPUs. ValueError when the cluster has no CPU or *actors*
    asks for more GPU actors than there are GPUs.
    """
    if actors is not None and actors < 1:
        raise ValueError(f"the model actor pool needs at least 1 actor, not {actors}")
    nodes = [n for n in nodes if n.cpus > 0]
    if not nodes:
        raise ValueError("the Ray cluster has no CPU: decoding images needs at least one node with a CPU")
    reserve = [1.0 if n.cpus >= 2 else n.cpus / 2 for n in nodes]
    free = [n.cpus - r for n, r in zip(nodes, reserve)]
    task_cpus = min(reserve)
    gpus = sum(math.floor(n.gpus) for n in nodes)
    if gpus >= 1:
        count = gpus if actors is None else actors
        if count > gpus:
            raise ValueError(f"{count} GPU model actors asked for, but the cluster has {gpus} GPU(s): "
                             "one actor per GPU")
        per_gpu = min(f / math.floor(n.gpus) for f, n in zip(free, nodes) if n.gpus >= 1)
        actor_cpus = _round_down(min(1.0, per_gpu))
        return ResourcePlan(count, actor_cpus, 1.0, task_cpus, 1)
    if actors is None:
        count = sum(max(1, int(f // CPU_THREADS_PER_ACTOR)) for f in free)
    else:
        count = actors
    # Every actor the same size; no bigger than the smallest node's free CPUs, so
    # each node can host at least one.
    actor_cpus = _round_down(min(sum(free) / count, min(free)))
    return ResourcePlan(count, actor_cpus, 0.0, task_cpus, max(1, int(actor_cpus)))


def _round_down(cpus: float) -> float:
    """Ray counts resources in 1/10000 units; rounding down keeps a sum from exceeding a node."""
    return math.floor(cpus * 1000) / 1000


def check_images_visible(folder: str | Path) -> None:
    """Ask a task on every node with a CPU whether it can list *folder* (the images the
    workers will read). ImagesNotVisibleError names the nodes that cannot, and the fix."""
    ray = import_ray()
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    probe = ray.remote(num_cpus=0)(_can_list)
    nodes = [n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) > 0]
    refs = [probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False))
            .remote(str(folder)) for n in nodes]
    blind = [n.get("NodeManagerAddress", n["NodeID"]) for n, ok in zip(nodes, ray.get(refs)) if not ok]
    if blind:
        raise ImagesNotVisibleError(
            f"the folder {folder} is not readable on Ray node(s) {', '.join(blind)}: "
            "the workers read the images from the same path as this machine. Mount the folder "
            "(read-only is enough) at that path on every node, or label on a cluster that shares it.")


def _can_list(root: str) -> bool:
    path = Path(root)
    return path.is_dir() and any(True for _ in path.iterdir())
