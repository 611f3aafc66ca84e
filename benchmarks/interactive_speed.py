#!/usr/bin/env python
"""Click-to-preview speed of the AI polygon on the full SAM 2.1 hiera-tiny architecture.

Speed does not depend on weight values, so the model is built with random weights
(no download). Measures, on one photo:

* image embedding (image processor + Hiera encoder + FPN), seconds: once per image;
* click-to-preview: prompt encoder + mask decoder + mask upsampled to the photo
  + mask -> polygons (what the engine thread does per click), median and p90 of
  ``--clicks`` clicks with 1 to 3 points, milliseconds. Goal: <= 50 ms on a CPU.
  Decoding does not depend on weight values; the polygon step does (a random model's
  masks are speckled: specks below ``--min-area`` of the image are dropped, as in the GUI);
* the cache: a second ``set_image`` of the same image is a lookup.

Each figure is given as wall-clock time and as CPU time of this process: on a machine
shared with other jobs the wall clock includes waiting for a core, the CPU time does not
(with ``--threads 1`` the CPU time is what the wall clock would be on an idle core).

    python benchmarks/interactive_speed.py                    # CPU, resources/samples/rocket.jpg
    python benchmarks/interactive_speed.py --device cuda --image photo.jpg
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from annotator.gui.interactive_jobs import mask_parts  # noqa: E402  (no Qt in that module's imports)
from engine.images import load_rgb  # noqa: E402
from engine.testing import random_interactive_segmenter  # noqa: E402


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def smooth_object(h: int, w: int, fraction: float, centre) -> np.ndarray:
    """An ellipse covering *fraction* of the image around *centre* (clipped by the borders)."""
    yy, xx = np.mgrid[:h, :w]
    r = np.sqrt(max(fraction, 0.001) * h * w / np.pi)
    return ((xx + 0.5 - centre[0]) / (1.3 * r)) ** 2 + ((yy + 0.5 - centre[1]) / (r / 1.3)) ** 2 <= 1


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--image", default=str(ROOT / "resources" / "samples" / "rocket.jpg"))
    p.add_argument("--device", default="cpu")
    p.add_argument("--clicks", type=int, default=20)
    p.add_argument("--tolerance", type=float, default=1.0, help="polygon simplification (px), as the GUI")
    p.add_argument("--min-area", type=float, default=0.0005,
                   help="specks below this fraction of the image are not outlined, as the GUI (0.05 %%)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON line too")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    t = time.perf_counter()
    seg = random_interactive_segmenter("full", device=args.device)
    build = time.perf_counter() - t
    rgb = load_rgb(args.image)
    h, w = rgb.shape[:2]
    params = sum(p.numel() for p in seg.model.parameters())
    print(f"SAM 2.1 hiera-tiny architecture, random weights: {params / 1e6:.1f} M parameters, "
          f"built in {build:.1f} s; device {seg.device}, torch threads {torch.get_num_threads()}")
    print(f"image {Path(args.image).name}: {w}x{h}")

    embeds, embeds_cpu = [], []
    for k in range(2):  # the first call includes one-off warm-up
        seg.forget()
        sync(seg.device)
        t, c = time.perf_counter(), time.process_time()
        seg.set_image("photo", rgb)
        sync(seg.device)
        embeds.append(time.perf_counter() - t)
        embeds_cpu.append(time.process_time() - c)
    t = time.perf_counter()
    ran = seg.set_image("photo", rgb)
    cached = time.perf_counter() - t
    print(f"image embedding: first {embeds[0]:.2f} s, then {min(embeds[1:]):.2f} s "
          f"(CPU {embeds_cpu[-1]:.2f} s); "
          f"cached set_image {cached * 1e3:.3f} ms (encoder ran: {ran})")

    rng = np.random.default_rng(0)
    decode_ms, polygon_ms, total_ms, cpu_ms, areas, regions, smooth_ms = [], [], [], [], [], [], []
    decode_cpu_ms = []
    seg.predict([[w / 2, h / 2]], [1])  # warm-up of the decoder path
    for i in range(args.clicks):
        n = 1 + i % 3
        points = [[float(rng.uniform(0, w)), float(rng.uniform(0, h))] for _ in range(n)]
        labels = [1] + [int(v) for v in rng.integers(0, 2, n - 1)]
        sync(seg.device)
        c0, t0 = time.process_time(), time.perf_counter()
        pred = seg.predict(points, labels)
        sync(seg.device)
        t1, c1 = time.perf_counter(), time.process_time()
        decode_cpu_ms.append((c1 - c0) * 1e3)
        parts = mask_parts(pred.mask, args.tolerance, args.min_area) if pred.mask.any() else []
        t2, c2 = time.perf_counter(), time.process_time()
        cpu_ms.append((c2 - c0) * 1e3)
        # The polygon step for a trained model's mask: one smooth object of the same area.
        blob = smooth_object(h, w, float(pred.mask.mean()), points[0])
        t3 = time.perf_counter()
        mask_parts(blob, args.tolerance, args.min_area)
        smooth_ms.append((time.perf_counter() - t3) * 1e3)
        decode_ms.append((t1 - t0) * 1e3)
        polygon_ms.append((t2 - t1) * 1e3)
        total_ms.append((t2 - t0) * 1e3)
        areas.append(float(pred.mask.mean()))
        regions.append(len(parts))

    def p90(values):
        return float(np.percentile(values, 90))

    figures = {
        "device": str(seg.device), "image": f"{w}x{h}", "embedding_s": round(min(embeds[1:]), 3),
        "embedding_first_s": round(embeds[0], 3), "embedding_cpu_s": round(embeds_cpu[-1], 3),
        "click_to_preview_cpu_ms_median": round(statistics.median(cpu_ms), 1),
        "click_to_preview_ms_median": round(statistics.median(total_ms), 1),
        "click_to_preview_ms_p90": round(p90(total_ms), 1),
        "decode_ms_median": round(statistics.median(decode_ms), 1),
        "decode_cpu_ms_median": round(statistics.median(decode_cpu_ms), 1),
        "polygon_ms_median": round(statistics.median(polygon_ms), 1),
        "clicks": args.clicks, "mean_mask_fraction": round(float(np.mean(areas)), 3),
        "median_regions_outlined": int(statistics.median(regions)),
        "polygon_smooth_object_ms_median": round(statistics.median(smooth_ms), 1),
        "click_to_preview_smooth_object_ms_median": round(statistics.median(
            [d + q for d, q in zip(decode_ms, smooth_ms)]), 1),
    }
    print(f"click-to-preview over {args.clicks} clicks: median {figures['click_to_preview_ms_median']} ms "
          f"(p90 {figures['click_to_preview_ms_p90']} ms) = prompt encoder + decoder + upsampling "
          f"{figures['decode_ms_median']} ms + mask->polygon {figures['polygon_ms_median']} ms "
          f"(goal <= 50 ms); CPU time per click: median {figures['click_to_preview_cpu_ms_median']} ms (decode {figures['decode_cpu_ms_median']} ms); masks cover {figures['mean_mask_fraction']:.0%} of the image on average, "
          f"{figures['median_regions_outlined']} regions outlined (median; random weights give speckled masks, "
          f"a trained model's are a few smooth regions)")
    print(f"with a trained model's mask (one smooth object of the same area) the polygon step takes "
          f"{figures['polygon_smooth_object_ms_median']} ms: click-to-preview "
          f"{figures['click_to_preview_smooth_object_ms_median']} ms (median)")
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
