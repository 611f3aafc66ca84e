#!/usr/bin/env python
"""Throughput of ``pnp-annotator label`` (the one labelling pipeline) on 640x480 photos.

- images/s with the tiny random model (goal >= 3 on 2 cores), the whole command timed
  from the first to the last saved image (model loading excluded), as the CLI prints it;
- seconds/image with a full-size random BLIP-L (speed does not depend on weight
  values; no download), through ``run_pipeline`` on a segmenter built in memory.

    python benchmarks/label_throughput.py                  # 24 images tiny, 2 images BLIP-L
    python benchmarks/label_throughput.py --tiny 24 --large 0 --workers auto,1,0
    python benchmarks/label_throughput.py --tiny 0 --large 32 --device cuda --large-batch 8 --workers auto,0

Each figure comes with the CPU seconds of the whole process tree (the post-processing
workers included) and the load average, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SAMPLES = ROOT / "resources" / "samples"
CLASSES = "cat, sky, road"


def photos(folder: Path, count: int) -> Path:
    """*count* 640x480 photos cut from the shipped samples (real texture, so CRF and polygons
    do real work)."""
    folder.mkdir(parents=True)
    sources = sorted(p for p in SAMPLES.iterdir() if p.suffix.lower() in (".png", ".jpg"))
    for i in range(count):
        img = Image.open(sources[i % len(sources)]).convert("RGB").resize((640, 480))
        if i // len(sources) % 2:
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        img.save(folder / f"photo{i:04d}.jpg", quality=90)
    return folder


class TreeCpu:
    """CPU seconds of this process and every process below it (the post-processing workers
    are forked by a fork server, so they are no children of ours for getrusage): /proc is
    read every 0.2 s and each process's last reading is kept (Linux only)."""

    def __init__(self) -> None:
        import threading

        self._last: dict[int, float] = {}
        self._stop = threading.Event()
        self._tick = os.sysconf("SC_CLK_TCK")
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeCpu:
        self._start = self._sample_tree()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample_tree()

    @property
    def seconds(self) -> float:
        return sum(self._last.values()) - self._start

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self._sample_tree()

    def _sample_tree(self) -> float:
        parents, cpu = {}, {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry)] = int(fields[1])
            cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / self._tick
        mine = {os.getpid()}
        grew = True
        while grew:
            below = {pid for pid, parent in parents.items() if parent in mine} - mine
            grew = bool(below)
            mine |= below
        for pid in mine:
            self._last[pid] = max(self._last.get(pid, 0.0), cpu[pid])
        return sum(self._last.values())


def tiny(tmp: Path, count: int, batch_size: int, workers: list[str]) -> None:
    from annotator.cli import main
    from engine.testing import build_random_model

    model = build_random_model(tmp / "tiny-model", size="tiny")
    import contextlib
    import io
    import shutil

    for setting in workers:
        folder = tmp / "tiny"
        shutil.rmtree(folder, ignore_errors=True)
        photos(folder, count)
        extra = [] if setting == "auto" else ["--postprocess-workers", setting]
        out = io.StringIO()
        wall = time.perf_counter()
        with TreeCpu() as tree, contextlib.redirect_stdout(out):
            code = main(["label", str(folder), "--classes", CLASSES, "--model", str(model), "--device", "cpu",
                         "--batch-size", str(batch_size), *extra])
        wall, cpu = time.perf_counter() - wall, tree.seconds
        line = next((ln for ln in out.getvalue().splitlines() if ln.startswith("Labelled")), out.getvalue())
        rate = re.search(r"\(([\d.]+) images/s\)", line)
        load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
        print(f"label, tiny model, {count} images 640x480, batch {batch_size}, --postprocess-workers {setting}: "
              f"{rate.group(1) if rate else '?'} images/s (goal >= 3 on 2 cores); exit {code}; {line}\n"
              f"  whole command (model load included): wall {wall:.1f} s, CPU {cpu:.1f} s (this process + "
              f"its workers) = {cpu / count:.2f} CPU s/image; load average {load}")


def large(tmp: Path, count: int, device: str = "cpu", batch_size: int = 1, workers: tuple = ("auto",)) -> None:
    import shutil

    from annotator.core.pipeline import PipelineOptions, run_pipeline
    from annotator.core.project import Project
    from engine.testing import random_segmenter

    t = time.perf_counter()
    seg = random_segmenter("large", device)
    built = time.perf_counter() - t
    for setting in workers:
        folder = tmp / "large"
        shutil.rmtree(folder, ignore_errors=True)
        project = Project.open(photos(folder, count))
        options = PipelineOptions(CLASSES.split(", "), batch_size=batch_size,
                                  postprocess_workers=None if setting == "auto" else int(setting))
        with TreeCpu() as tree:
            summary = run_pipeline(project, seg, project.images(), options)
        per_image = summary.seconds / max(1, len(summary.labelled))
        print(f"label pipeline, random BLIP-L on {seg.device}, {count} images 640x480, batch {batch_size}, "
              f"postprocess_workers {setting}: {per_image:.2f} s/image = {1 / max(per_image, 1e-9):.2f} images/s "
              f"(model built in {built:.0f} s, not counted); failed {len(summary.failed)}; CPU {tree.seconds:.1f} s; "
              f"load average {', '.join(f'{v:.1f}' for v in os.getloadavg())}")
    seg.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", type=int, default=24, help="images for the tiny model (0: skip)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--workers", default="auto",
                        help="comma-separated --postprocess-workers settings to compare (both models), e.g. auto,0,1,2")
    parser.add_argument("--large", type=int, default=2, help="images for BLIP-L (0: skip)")
    parser.add_argument("--device", default="cpu", help="device for BLIP-L (the tiny model runs on the CPU)")
    parser.add_argument("--large-batch", type=int, default=1, help="pipeline batch size for BLIP-L")
    args = parser.parse_args()
    np.random.seed(0)
    with tempfile.TemporaryDirectory(prefix="pnp-label-") as tmp:
        if args.tiny:
            tiny(Path(tmp), args.tiny, args.batch_size, args.workers.split(","))
        if args.large:
            large(Path(tmp), args.large, args.device, args.large_batch, tuple(args.workers.split(",")))


if __name__ == "__main__":
    main()
