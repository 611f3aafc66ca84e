"""``--ray [ADDRESS]`` and ``--ray-actors N``, shared by ``label`` and ``eval``."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator

from annotator.core.commands.argtypes import positive_int


def add_ray_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="run on a Ray cluster: with no ADDRESS, the one in RAY_ADDRESS if set, else a Ray "
                        "runtime started on this machine for this run; ADDRESS: join that cluster "
                        "(HEAD_IP:6379). Needs: pip install 'pnp-annotator[cluster]'")
    p.add_argument("--ray-actors", type=positive_int, metavar="N",
                   help="with --ray: model actors (default: one per GPU, else one per 4 free CPUs)")


@contextlib.contextmanager
def ray_job(args: argparse.Namespace) -> Iterator:
    """Join or start the runtime ``args.ray`` names and size the job; yields the
    ResourcePlan. The runtime is stopped (or the cluster left) at the end. Raises
    ClusterError: Ray missing or unreachable, or no plan fits the cluster."""
    from annotator.core.executors.ray_runtime import ClusterError, plan_resources, ray_session

    with ray_session(args.ray or None) as session:
        try:
            plan = plan_resources(session.nodes, actors=args.ray_actors)
        except ValueError as exc:
            raise ClusterError(f"--ray-actors: {exc}" if args.ray_actors else str(exc)) from exc
        print(f"Running on {session.describe()}; {plan.describe()}.", file=sys.stderr)
        yield plan
