#!/usr/bin/env python
"""Calibration speed: 100 reviewed 640x480 images, 3 classes, tiny random models of both
engines (PnP-OVSS and SAM 3), no sharpening. Three calibrations, each split into model runs
and the threshold grid (post-processing + scoring of every candidate):

1. the first 90 images (both models run on every image),
2. 10 more reviewed images (the models and the grid run on those 10 only),
3. the same 100 again (everything from the caches).

A line every 10 images of the first calibration gives the running split, so a run cut
short still says something.

    python benchmarks/calibration_speed.py [--images 100] [--new 10] [--device cpu]

Random weights make the choices meaningless; speed does not depend on them.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from annotator.core.annotations import ImageAnnotations  # noqa: E402
from annotator.core.calibration import CalibrationEngine, CalibrationOptions, calibrate  # noqa: E402
from annotator.core.project import Project  # noqa: E402
from annotator.core.shapes import Shape  # noqa: E402

CLASSES = ["sky", "road", "car"]


def make_project(root: Path, count: int) -> Project:
    rng = np.random.default_rng(0)
    project = Project.open(root)
    for i in range(count):
        h, w = 480, 640
        horizon = int(rng.integers(150, 300))
        rgb = rng.integers(0, 40, (h, w, 3), dtype=np.uint8)
        rgb[:horizon] += np.array([90, 140, 200], np.uint8)
        rgb[horizon:] += np.array([90, 90, 90], np.uint8)
        sky = np.zeros((h, w), bool)
        sky[:horizon] = True
        road = ~sky
        shapes = [Shape.from_mask("sky", sky, source="human")]
        cars = []
        for _ in range(int(rng.integers(1, 4))):
            y0, x0 = int(rng.integers(horizon + 10, h - 60)), int(rng.integers(0, w - 120))
            car = np.zeros((h, w), bool)
            car[y0:y0 + 50, x0:x0 + 110] = True
            rgb[car] = (200, 30, 30)
            cars.append(car)
            road &= ~car
        shapes.append(Shape.from_mask("road", road, source="human"))
        shapes += [Shape.from_mask("car", c, source="human") for c in cars]
        Image.fromarray(rgb).save(root / f"im{i:03d}.jpg", quality=92)
        project.save(ImageAnnotations(f"im{i:03d}.jpg", w, h, shapes))
    return project


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--new", type=int, default=10, help="images reviewed between the first two calibrations")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    from engine import Segmenter
    from engine.sam3.config import Sam3SegmenterConfig
    from engine.testing import build_random_model, build_random_sam3

    import torch

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        pnp_dir = build_random_model(tmp / "pnp", size="tiny")
        sam_dir = build_random_sam3(tmp / "sam3", size="tiny")
        (tmp / "photos").mkdir()
        t0 = time.perf_counter()
        project = make_project(tmp / "photos", args.images)
        print(f"made {args.images} reviewed images in {time.perf_counter() - t0:.1f} s; "
              f"torch threads {torch.get_num_threads()}, cores {os.cpu_count()}, "
              f"load average {os.getloadavg()[0]:.1f}", flush=True)
        everything = sorted(project.images())
        first = everything[:args.images - args.new]
        engines = [CalibrationEngine(Segmenter.load(str(pnp_dir), device=args.device), str(pnp_dir)),
                   CalibrationEngine(Segmenter.load(str(sam_dir), device=args.device,
                                                    config=Sam3SegmenterConfig(instance_threshold=0.2)),
                                     str(sam_dir))]
        model = _timed(engines)
        for name, images in ((f"1. {len(first)} images, nothing cached", first),
                             (f"2. {args.new} more reviewed images", everything),
                             (f"3. the same {len(everything)} again", everything)):
            model["s"] = 0.0
            start = time.perf_counter()

            def progress(done, total, start=start):
                if done and done % 10 == 0 and done < total:
                    spent = time.perf_counter() - start
                    print(f"   {done}/{total}: {spent:.0f} s (model {model['s']:.0f} s, grid and cache "
                          f"{spent - model['s']:.0f} s), load average {os.getloadavg()[0]:.1f}", flush=True)

            cal = calibrate(project, engines, CalibrationOptions(CLASSES, min_images=2), images=images,
                            progress=progress)
            s = cal.seconds
            runs = ", ".join(f"{k} model {v['model_runs']} / cached {v['cached']}" for k, v in cal.engines.items())
            print(f"{name}: {s['total']:.1f} s total = model {s['model']:.1f} s + grid {s['grid']:.1f} s "
                  f"+ truth {s['truth']:.1f} s; {len(cal.candidates)} candidates x {len(CLASSES)} classes; "
                  f"{runs}; scored {cal.rescored}; load average {os.getloadavg()[0]:.1f}", flush=True)
    return 0


def _timed(engines) -> dict:
    """Adds each model run's seconds to the returned dict's "s" (the running split)."""
    spent = {"s": 0.0}
    for engine in engines:
        run = engine.run

        def timed(*args, run=run, **kwargs):
            t0 = time.perf_counter()
            try:
                return run(*args, **kwargs)
            finally:
                spent["s"] += time.perf_counter() - t0

        engine.run = timed
    return spent


if __name__ == "__main__":
    raise SystemExit(main())
