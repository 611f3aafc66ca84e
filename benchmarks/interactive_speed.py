#!/usr/bin/env python
"""Click-to-preview speed of the AI polygon on the full SAM 2.1 hiera-tiny architecture,
torch and ONNX Runtime side by side (the CPU default decodes clicks on ONNX Runtime).

Speed does not depend on weight values, so the model is built with random weights
(no download). Measures, on one photo:

* image embedding (image processor + Hiera encoder + FPN, and with ONNX Runtime the
  decoder's once-per-image part), seconds, median of ``--embeddings``: once per image;
  beside it, transformers' own ``get_image_embeddings`` on the same weights (without the
  segmenter's ``encoder_memo`` and ``encoder_trim``);
* click-to-preview: prompt encoder + mask decoder + mask upsampled to the photo
  + mask -> polygons (what the engine thread does per click), median and p90 of
  ``--clicks`` clicks with 1 to 3 points, milliseconds. Goal: <= 50 ms on a CPU.
  Decoding does not depend on weight values; the polygon step does (a random model's
  masks are speckled: specks below ``--min-area`` of the image are dropped, as in the GUI);
* the cache: a second ``set_image`` of the same image is a lookup;
* the machine's fp32 matrix-product rate before and after (a 1024^3 product): a shared
  host's speed drifts by a third within minutes while the load average stays the same;
* with ONNX Runtime: the one-off export of the prompt encoder + mask decoder, and the image
  encoder run on ONNX Runtime too (``--onnx-encoder``: measured, not what the app does).

The two backends take turns (one embedding or click on torch, the same on ONNX Runtime),
with ``--pause`` seconds before each, so a machine whose speed drifts during the run (a
shared one does) weighs on both alike.

Each figure is given as wall-clock time and as CPU time of this process: on a machine
shared with other jobs the wall clock includes waiting for a core, the CPU time does not
(with ``--threads 1`` the CPU time is what the wall clock would be on an idle core).

    python benchmarks/interactive_speed.py                    # CPU, resources/samples/rocket.jpg, both backends
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
from engine.interactive import InteractiveSegmenter  # noqa: E402
from engine.testing import random_interactive_segmenter, random_sam2  # noqa: E402


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def smooth_object(h: int, w: int, fraction: float, centre) -> np.ndarray:
    """An ellipse covering *fraction* of the image around *centre* (clipped by the borders)."""
    yy, xx = np.mgrid[:h, :w]
    r = np.sqrt(max(fraction, 0.001) * h * w / np.pi)
    return ((xx + 0.5 - centre[0]) / (1.3 * r)) ** 2 + ((yy + 0.5 - centre[1]) / (r / 1.3)) ** 2 <= 1


def measure(segs, rgb, args, plain=None) -> tuple[list[dict], float | None]:
    """Embedding seconds and click-to-preview milliseconds of each segmenter (one per backend),
    and the seconds of transformers' own embedding by the model *plain* (None without it).

    The backends take turns (embedding, then each click, on one and then the other), so a
    machine that slows down or speeds up during the run weighs on both alike."""
    h, w = rgb.shape[:2]
    rows = [{"embeds": [], "embeds_cpu": [], "decode": [], "decode_cpu": [], "polygon": [], "total": [], "cpu": [],
             "smooth": [], "areas": [], "regions": []} for _ in segs]
    reference = []  # transformers' own get_image_embeddings (no memo, no encoder_trim), same weights
    for _ in range(1 + args.embeddings):  # the first round includes one-off warm-up (and the ONNX Runtime export)
        for seg, row in zip(segs, rows):
            seg.forget()
            time.sleep(args.pause)
            sync(seg.device)
            t, c = time.perf_counter(), time.process_time()
            seg.set_image("photo", rgb)
            sync(seg.device)
            row["embeds"].append(time.perf_counter() - t)
            row["embeds_cpu"].append(time.process_time() - c)
        if plain is not None:
            time.sleep(args.pause)
            sync(segs[0].device)
            t = time.perf_counter()
            with torch.inference_mode():
                pixels = segs[0].processor(images=rgb, return_tensors="pt")["pixel_values"].to(segs[0].device)
                plain.get_image_embeddings(pixels)
            sync(segs[0].device)
            reference.append(time.perf_counter() - t)
    for seg, row in zip(segs, rows):
        t = time.perf_counter()
        row["ran"] = seg.set_image("photo", rgb)
        row["cached"] = time.perf_counter() - t
        seg.predict([[w / 2, h / 2]], [1])  # warm-up of the decoder path

    rng = np.random.default_rng(0)
    for i in range(args.clicks):
        n = 1 + i % 3
        points = [[float(rng.uniform(0, w)), float(rng.uniform(0, h))] for _ in range(n)]
        labels = [1] + [int(v) for v in rng.integers(0, 2, n - 1)]
        for seg, row in zip(segs, rows):
            time.sleep(args.pause)  # a person's next click comes later: the previous one's thread pools settle
            sync(seg.device)
            c0, t0 = time.process_time(), time.perf_counter()
            pred = seg.predict(points, labels)
            sync(seg.device)
            t1, c1 = time.perf_counter(), time.process_time()
            parts = mask_parts(pred.mask, args.tolerance, args.min_area) if pred.mask.any() else []
            t2, c2 = time.perf_counter(), time.process_time()
            # The polygon step for a trained model's mask: one smooth object of the same area.
            blob = smooth_object(h, w, float(pred.mask.mean()), points[0])
            t3 = time.perf_counter()
            mask_parts(blob, args.tolerance, args.min_area)
            row["smooth"].append((time.perf_counter() - t3) * 1e3)
            row["decode"].append((t1 - t0) * 1e3)
            row["decode_cpu"].append((c1 - c0) * 1e3)
            row["polygon"].append((t2 - t1) * 1e3)
            row["total"].append((t2 - t0) * 1e3)
            row["cpu"].append((c2 - c0) * 1e3)
            row["areas"].append(float(pred.mask.mean()))
            row["regions"].append(len(parts))
    med = lambda values: round(statistics.median(values), 1)  # noqa: E731
    reference_s = round(statistics.median(reference[1:]), 3) if reference else None
    return [{
        "backend": seg.backend, "embedding_s": round(statistics.median(r["embeds"][1:]), 3),
        "embedding_min_s": round(min(r["embeds"][1:]), 3), "embedding_first_s": round(r["embeds"][0], 3),
        "embedding_cpu_s": round(statistics.median(r["embeds_cpu"][1:]), 3),
        "cached_set_image_ms": round(r["cached"] * 1e3, 3), "encoder_ran_when_cached": r["ran"],
        "decode_ms_median": med(r["decode"]), "decode_cpu_ms_median": med(r["decode_cpu"]),
        "polygon_ms_median": med(r["polygon"]), "polygon_smooth_object_ms_median": med(r["smooth"]),
        "click_to_preview_ms_median": med(r["total"]),
        "click_to_preview_ms_p90": round(float(np.percentile(r["total"], 90)), 1),
        "click_to_preview_cpu_ms_median": med(r["cpu"]),
        "click_to_preview_smooth_object_ms_median": med([d + q for d, q in zip(r["decode"], r["smooth"])]),
        "mean_mask_fraction": round(float(np.mean(r["areas"])), 3),
        "median_regions_outlined": int(statistics.median(r["regions"])),
    } for seg, r in zip(segs, rows)], reference_s


def gemm_rate(device: torch.device, size: int = 1024, repeats: int = 7) -> float:
    """This machine's fp32 matrix-product rate now, G multiply-adds per second (median of *repeats*
    products of two size x size matrices): how fast the CPU is in this phase, since a shared
    host's speed drifts while the load average and steal time stay the same."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    runs = []
    for _ in range(repeats + 1):  # the first warms up
        sync(device)
        t = time.perf_counter()
        torch.mm(a, b)
        sync(device)
        runs.append(time.perf_counter() - t)
    return round(size ** 3 / statistics.median(runs[1:]) / 1e9, 1)


def onnx_encoder_seconds(seg, rgb, repeats: int = 2) -> tuple[float, float]:
    """(export seconds, best run seconds) of the image encoder on ONNX Runtime (a measurement only)."""
    import tempfile

    import onnxruntime as ort

    class Encoder(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, pixel_values):
            return tuple(self.model.get_image_embeddings(pixel_values))

    pixels = seg.processor(images=rgb, return_tensors="pt")["pixel_values"]
    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/encoder.onnx"
        t = time.perf_counter()
        torch.onnx.export(Encoder(seg.model).eval(), (pixels,), path, dynamo=False, opset_version=17)
        export_s = time.perf_counter() - t
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        runs = []
        for _ in range(repeats + 1):  # the first run warms up
            t = time.perf_counter()
            session.run(None, {session.get_inputs()[0].name: pixels.numpy()})
            runs.append(time.perf_counter() - t)
    return export_s, min(runs[1:])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--image", default=str(ROOT / "resources" / "samples" / "rocket.jpg"))
    p.add_argument("--device", default="cpu")
    p.add_argument("--clicks", type=int, default=20)
    p.add_argument("--embeddings", type=int, default=3, help="image embeddings timed per backend (median)")
    p.add_argument("--pause", type=float, default=0.1,
                   help="seconds between clicks (0.1: a quick person; 0: back to back, where one click's "
                        "thread pools still spin into the next)")
    p.add_argument("--tolerance", type=float, default=1.0, help="polygon simplification (px), as the GUI")
    p.add_argument("--min-area", type=float, default=0.0005,
                   help="specks below this fraction of the image are not outlined, as the GUI (0.05 %%)")
    p.add_argument("--threads", type=int, default=0, help="torch (and ONNX Runtime) threads (0: torch's default)")
    p.add_argument("--onnx-encoder", action="store_true", help="also time the image encoder on ONNX Runtime")
    p.add_argument("--no-reference", action="store_true",
                   help="do not time transformers' own image embedding beside ours")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON line too")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    import os
    import tempfile

    # The ONNX Runtime file is exported into a fresh folder: the one-off export is measured too.
    os.environ["PNP_ANNOTATOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="interactive-speed-")
    t = time.perf_counter()
    base = random_interactive_segmenter("full", device=args.device, backend="torch")
    build = time.perf_counter() - t
    rgb = load_rgb(args.image)
    h, w = rgb.shape[:2]
    params = sum(p.numel() for p in base.model.parameters())
    print(f"SAM 2.1 hiera-tiny architecture, random weights: {params / 1e6:.1f} M parameters, "
          f"built in {build:.1f} s; device {base.device}, torch threads {torch.get_num_threads()}, "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"image {Path(args.image).name}: {w}x{h}")

    plain = None
    if not args.no_reference:  # the same weights, with none of the segmenter's encoder changes
        plain = random_sam2("full")[0].requires_grad_(False).to(base.device)
    notices = []
    fast = InteractiveSegmenter(base.model, base.processor, base.device, "sam2", backend="auto",
                                status=notices.append)
    t = time.perf_counter()
    fast.set_image("export", rgb)  # embedding + (on a CPU) the one-off export of the decoder
    first_use = time.perf_counter() - t
    rate_before = gemm_rate(base.device)
    results, reference_s = measure([base, fast], rgb, args, plain)
    rates = (rate_before, gemm_rate(base.device))
    if fast.backend == "onnxruntime":
        results[1]["first_use_with_export_s"] = round(first_use, 1)
    for note in notices:
        print(f"  ({note})")

    rows = [("image embedding, s median (once per image)", "embedding_s"),
            ("prompt encoder + decoder + upsampling, ms median", "decode_ms_median"),
            ("  the same, CPU time of this process, ms", "decode_cpu_ms_median"),
            ("mask -> polygons, a trained model's smooth mask, ms", "polygon_smooth_object_ms_median"),
            ("mask -> polygons, the random model's speckled mask, ms", "polygon_ms_median"),
            ("click-to-preview (smooth mask), ms median", "click_to_preview_smooth_object_ms_median"),
            ("click-to-preview (speckled mask), ms median / p90", "click_to_preview_ms_median")]
    print(f"{'':56s} {'torch':>12s} {results[1]['backend']:>12s}")
    for title, name in rows:
        cells = [f"{r[name]}" + (f" / {r['click_to_preview_ms_p90']}" if name == "click_to_preview_ms_median" else "")
                 for r in results]
        print(f"{title:56s} {cells[0]:>12s} {cells[1]:>12s}")
    print(f"fp32 matrix products on this machine before / after the run: {rates[0]} / {rates[1]} G multiply-adds/s")
    if reference_s is not None:
        print(f"transformers' own image embedding (get_image_embeddings, same weights), s median: "
              f"{reference_s}")
    if "first_use_with_export_s" in results[1]:
        print(f"first use with ONNX Runtime (embedding + one-off export of the decoder): "
              f"{results[1]['first_use_with_export_s']} s; later models with the same weights read the cached file")
    print(f"goal on a CPU: click-to-preview <= 50 ms median, embedding <= 2.0 s; masks cover "
          f"{results[0]['mean_mask_fraction']:.0%} of the image on average (random weights)")
    figures = {"device": str(base.device), "image": f"{w}x{h}", "threads": torch.get_num_threads(),
               "load_average": round(os.getloadavg()[0], 2), "torch": results[0], "fast": results[1],
               "transformers_embedding_s": reference_s, "gemm_gmacs": rates}
    if args.onnx_encoder and base.device.type == "cpu":
        export_s, run_s = onnx_encoder_seconds(base, rgb)
        figures["onnx_encoder"] = {"export_s": round(export_s, 1), "run_s": round(run_s, 3)}
        print(f"image encoder on ONNX Runtime (not used by the app): {run_s:.2f} s per image "
              f"(torch: {results[0]['embedding_s']:.2f} s, including the image processor); export {export_s:.0f} s")
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
