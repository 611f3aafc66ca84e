#!/usr/bin/env python
"""Calibration speed: 100 reviewed 640x480 images, 3 classes, tiny random models of both
engines (PnP-OVSS and SAM 3), no sharpening. Prints the seconds of a first calibration
(every image through both models) and a second one (everything from the cache), split into
model runs and the threshold grid (post-processing + scoring of every candidate).

    python benchmarks/calibration_speed.py [--images 100] [--device cpu]

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
              f"load average {os.getloadavg()[0]:.1f}")
        for run in ("first (model on every image)", "second (all from the cache)"):
            engines = [CalibrationEngine(Segmenter.load(str(pnp_dir), device=args.device), str(pnp_dir)),
                       CalibrationEngine(Segmenter.load(str(sam_dir), device=args.device,
                                                        config=Sam3SegmenterConfig(instance_threshold=0.2)),
                                         str(sam_dir))]
            cal = calibrate(project, engines, CalibrationOptions(CLASSES, min_images=2))
            s = cal.seconds
            runs = ", ".join(f"{k} model {v['model_runs']} / cached {v['cached']}" for k, v in cal.engines.items())
            print(f"{run}: {s['total']:.1f} s total = model {s['model']:.1f} s + grid {s['grid']:.1f} s "
                  f"+ truth {s['truth']:.1f} s; {len(cal.candidates)} candidates x {len(CLASSES)} classes; "
                  f"{runs}; load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
