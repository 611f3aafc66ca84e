#!/usr/bin/env python
"""Box-to-proposals speed of "find all like this" (SAM 3 exemplar boxes) with cached vision features.

The full SAM 3 architecture (Sam3Config defaults, 848M parameters) is built with random weights
(speed does not depend on weight values; no download). On one photo it measures:

* the first box: vision encoder + the decoders (once per image);
* each further box with the vision features cached, as the window runs it: the engine
  (text encoder, geometry encoder for the boxes, DETR encoder/decoder, mask decoder, instance
  post-processing) plus the instances -> proposal shapes step (``run_exemplar_job``, the
  interactive lane's code), milliseconds. Boxes grow one at a time: positive, + negative,
  + positive with the class text, ... (``--boxes`` of them).

Wall-clock and CPU seconds of this process are both printed: on a shared machine the wall clock
counts waiting for a core too.

    python benchmarks/exemplar_speed.py                   # CPU, full architecture, 2 cached boxes
    python benchmarks/exemplar_speed.py --device cuda --boxes 10
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

from annotator.gui.exemplar_jobs import ExemplarJob, run_exemplar_job  # noqa: E402  (no Qt there)
from engine.images import load_rgb  # noqa: E402

# (box as fractions of the photo, label, text): the prompts added one after another
PROMPTS = [((0.30, 0.25, 0.55, 0.60), 1, None), ((0.02, 0.60, 0.25, 0.95), 0, None),
           ((0.60, 0.20, 0.85, 0.55), 1, "cup"), ((0.05, 0.05, 0.25, 0.30), 0, "cup")]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--size", choices=["full", "tiny"], default="full")
    p.add_argument("--boxes", type=int, default=2, help="boxes timed with cached vision features")
    p.add_argument("--image", default=str(ROOT / "resources" / "samples" / "coffee.png"))
    p.add_argument("--threshold", type=float, default=0.5, help="instance score threshold (the slider)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--json", type=Path, help="write the figures to this file")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    from engine.loading import resolve_device
    from engine.sam3.config import Sam3SegmenterConfig
    from engine.sam3.segmenter import Sam3Segmenter
    from engine.testing import random_sam3, sam3_processor

    dev = resolve_device(args.device)
    t0 = time.perf_counter()
    model = random_sam3(args.size, seed=0)
    build = time.perf_counter() - t0
    params = sum(p.numel() for p in model.parameters())
    seg = Sam3Segmenter(model.to(dev), sam3_processor(args.size), Sam3SegmenterConfig(), dev)
    rgb = load_rgb(args.image)
    h, w = rgb.shape[:2]
    print(f"SAM 3 {args.size}: {params / 1e6:.0f}M parameters, random weights, built in {build:.1f} s; "
          f"{dev}, {seg.dtype}, {torch.get_num_threads()} torch threads; photo {w}x{h}", flush=True)
    if dev.type == "cuda":  # warm the kernels on another image, so the cache does not hold this one
        seg.find_like(np.ascontiguousarray(rgb[::-1]), [(10, 10, 100, 100)], [1])

    boxes, labels, text = [], [], None
    rows = []
    for k in range(args.boxes + 1):
        (fx0, fy0, fx1, fy1), label, prompt_text = PROMPTS[k % len(PROMPTS)]
        boxes.append((fx0 * w, fy0 * h, fx1 * w, fy1 * h))
        labels.append(label)
        text = prompt_text or text
        job = ExemplarJob(k, "photo", "photo", rgb, list(boxes), list(labels), text, text or "object",
                          args.threshold)
        sync(dev)
        c = time.process_time()
        t = time.perf_counter()
        result = run_exemplar_job(seg, job)
        sync(dev)
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        row = {"boxes": len(boxes), "negative": labels.count(0), "text": text, "ms": round(wall * 1000, 1),
               "cpu_ms": round(cpu * 1000, 1), "stages_ms": {s: round(v * 1000, 1) for s, v in result.seconds.items()},
               "proposals": len(result.shapes)}
        rows.append(row)
        what = "first box (vision encoder incl.)" if k == 0 else f"box {k + 1} (cached)"
        print(f"  {what:34s} {wall * 1000:10.1f} ms ({cpu * 1000:.0f} CPU ms)  "
              + ", ".join(f"{s} {v:.1f}" for s, v in row["stages_ms"].items())
              + f"  -> {len(result.shapes)} proposals", flush=True)
    cached = [r["ms"] for r in rows[1:]]
    figures = {"size": args.size, "parameters": params, "device": str(dev), "dtype": str(seg.dtype),
               "torch_threads": torch.get_num_threads(), "image": [h, w], "build_s": round(build, 1),
               "gpu": torch.cuda.get_device_name(dev) if dev.type == "cuda" else None, "rows": rows,
               "cached_box_ms_median": statistics.median(cached) if cached else None}
    if cached:
        print(f"box-to-proposals with cached vision features: median {statistics.median(cached):.1f} ms "
              f"over {len(cached)} box(es)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
