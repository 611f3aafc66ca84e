#!/usr/bin/env python
"""Images per second of ``label`` locally and on Ray, with the tiny random model.

The four sample photos are repeated to ``--images`` files (default 200) in a temporary
project; each configuration labels all of them from scratch:

  local        the local pipeline (``run_pipeline``: decode thread, model, save thread),
               with torch's default threads and with --local-threads (default 1, as in an actor)
  ray-cpu-1    Ray Data on a local runtime, 1 CPU model actor
  ray-cpu-2    the same with 2 CPU model actors
  ray-gpu      with --gpu: one GPU actor per GPU (the default plan on a GPU machine)

For Ray, "total" counts from the job's start (actor start and model load included) and
"steady" from the first image back to the last, which is what a long job approaches.

    python benchmarks/ray_scaling.py                   # 200 images, local + 1 and 2 CPU actors
    python benchmarks/ray_scaling.py --images 400 --gpu --json out.json
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# A runtime on this machine only: loopback, no usage report (read when ray is imported).
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from annotator.core.executors.ray_label import label_on_ray  # noqa: E402
from annotator.core.executors.ray_runtime import NodeResources, plan_resources, ray_session  # noqa: E402
from annotator.core.pipeline import PipelineOptions, run_pipeline  # noqa: E402
from annotator.core.project import Project  # noqa: E402

SAMPLES = ROOT / "resources" / "samples"
CLASSES = ["sky", "cat", "rocket"]


def make_project(folder: Path, count: int) -> Project:
    """*count* images: the samples repeated, with distinct names."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    samples = sorted(p for p in SAMPLES.iterdir() if p.is_file())
    for i in range(count):
        src = samples[i % len(samples)]
        shutil.copyfile(src, folder / f"img_{i:05d}{src.suffix}")
    return Project.open(folder)


def load_tiny(model_dir: str, device: str):
    from engine import Segmenter

    return Segmenter.load(model=model_dir, device=device)


class Clock:
    """on_progress callback: the time of the first and last finished image."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.first = self.last = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage == "images" and done > 0:
            now = time.perf_counter()
            self.first = self.first or now
            self.last = now


def figures(name: str, summary, clock: Clock, plan=None) -> dict:
    n = len(summary.labelled)
    steady = (n - 1) / (clock.last - clock.first) if n > 1 and clock.last > clock.first else float("nan")
    return {"config": name, "images": n, "failed": len(summary.failed), "seconds": round(summary.seconds, 2),
            "total_images_per_s": round(n / summary.seconds, 3), "steady_images_per_s": round(steady, 3),
            "plan": plan.describe() if plan else "local threads"}


def run_local(project: Project, model_dir: str, batch_size: int, threads: int | None) -> dict:
    import torch

    default = torch.get_num_threads()
    torch.set_num_threads(threads or default)
    try:
        segmenter = load_tiny(model_dir, "cpu")
        options = PipelineOptions(classes=CLASSES, batch_size=batch_size)
        clock = Clock()
        summary = run_pipeline(project, segmenter, project.images(), options, on_progress=clock)
        return figures(f"local ({torch.get_num_threads()} torch threads)", summary, clock)
    finally:
        torch.set_num_threads(default)


def run_ray(project: Project, model_dir: str, batch_size: int, nodes, actors: int | None, device: str) -> dict:
    plan = plan_resources(nodes, actors=actors)
    options = PipelineOptions(classes=CLASSES, batch_size=batch_size)
    clock = Clock()
    summary = label_on_ray(project, functools.partial(load_tiny, model_dir, device), project.images(), options,
                           plan, on_progress=clock)
    kind = "gpu" if plan.actor_gpus else "cpu"
    return figures(f"ray-{kind}-{plan.actors}", summary, clock, plan)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--actors", type=int, nargs="*", default=[1, 2], help="CPU actor pool sizes to run")
    ap.add_argument("--gpu", action="store_true", help="also run one GPU actor per GPU")
    ap.add_argument("--no-local", action="store_true")
    ap.add_argument("--local-threads", type=int, nargs="*", default=[1],
                    help="also run the local pipeline with these torch thread counts (default: 1)")
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()

    from engine.testing import build_random_model

    rows = []
    with tempfile.TemporaryDirectory(prefix="ray-scaling-") as tmp:
        tmp = Path(tmp)
        model_dir = str(build_random_model(tmp / "tiny", size="tiny"))
        if not args.no_local:
            for threads in [None, *args.local_threads]:
                rows.append(run_local(make_project(tmp / "imgs", args.images), model_dir, args.batch_size,
                                      threads))
                print(rows[-1], flush=True)
        with ray_session() as session:
            print(session.describe(), flush=True)
            cpu_nodes = [NodeResources(n.cpus) for n in session.nodes]  # CPU actors even on a GPU machine
            for actors in args.actors:
                rows.append(run_ray(make_project(tmp / "imgs", args.images), model_dir, args.batch_size,
                                    cpu_nodes, actors, "cpu"))
                print(rows[-1], flush=True)
            if args.gpu:
                if session.gpus < 1:
                    print("--gpu: this machine's Ray runtime has no GPU", file=sys.stderr)
                else:
                    rows.append(run_ray(make_project(tmp / "imgs", args.images), model_dir, args.batch_size,
                                        session.nodes, None, "cuda"))
                    print(rows[-1], flush=True)

    print(f"\n{args.images} images (the 4 samples repeated), tiny random model, batch {args.batch_size}, "
          f"{os.cpu_count()} CPUs")
    print(f"{'config':<28}{'labelled':>9}{'seconds':>9}{'total img/s':>13}{'steady img/s':>14}  plan")
    for r in rows:
        print(f"{r['config']:<28}{r['images']:>9}{r['seconds']:>9}{r['total_images_per_s']:>13}"
              f"{r['steady_images_per_s']:>14}  {r['plan']}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
