#!/usr/bin/env python
"""Where a PnP-OVSS image's time goes in ``label``, and how far the engine is from the GPU's floor.

One script for the whole GPU measurement (issue: "a GPU workstation at full speed"), so a
short loan of a GPU machine runs it once, unchanged:

    python benchmarks/gpu_profile.py --device cuda --json gpu_profile.json
    python benchmarks/gpu_profile.py --device cpu --size tiny --images 8 --batch 4   # smoke run

It builds BLIP ITM with random weights (speed does not depend on weight values; ``large``
is the released BLIP-L architecture), writes a folder of 640x480 JPEG photos made from
resources/samples, and measures, in one process on one card:

1. **floor**: the four no-grad ViT forwards of an image (one per Salience Dropout pass), batched,
   in the engine's own ViT dtype and attention: the arithmetic the algorithm cannot skip.
2. **engine**: ``segment_batch_pending`` (the model part of ``label``: presence, 4 ViT passes,
   4 text passes with their backward) in images/s, and its ratio to the floor.
3. **stages** of one batch, each timed between device syncs: decode, input tensor, host->device,
   ViT, presence text pass, text forward, backward to the GradCAM layer, GradCAM + class maps,
   Salience Dropout (top patches, zeroing), device->host; then per image blur, dense CRF,
   polygons and writing the annotation file.
4. **propose**: one image from pixels to proposal shapes (the window's Propose, model loaded).
5. **label**: ``pnp-annotator label`` on the folder, in this process through the CLI entry point,
   images/s; on CUDA a second run under ``torch.profiler`` gives the fraction of the wall time
   during which at least one GPU kernel ran.

Goals (one H100/H200): label >= 15 images/s at 640x480 with 3 classes, Propose <= 150 ms,
engine <= 2x the floor. The script prints each figure beside its goal.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine import Segmenter, SegmenterConfig  # noqa: E402
from engine.images import load_rgb, model_input  # noqa: E402
from engine.pnp_ovss.blip import class_maps  # noqa: E402
from engine.pnp_ovss.postprocess import label_map_from_maps, resize_rgb, working_size  # noqa: E402
from engine.pnp_ovss.segmenter import zero_patches  # noqa: E402
from engine.testing import build_random_model  # noqa: E402

CLASSES = ["cup", "table", "plate"]
GOALS = {"label_images_per_s": 15.0, "propose_ms": 150.0, "engine_to_floor": 2.0}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Clock:
    """Seconds per named stage, each measured between device syncs."""

    def __init__(self, device: torch.device):
        self.device = device
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str):
        sync(self.device)
        t = time.perf_counter()
        try:
            yield
        finally:
            sync(self.device)
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t


def make_photos(folder: Path, count: int, size=(640, 480)) -> list[Path]:
    """``count`` JPEG photos of ``size`` made from the sample images (mirrored / shifted so no two are equal)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    samples = sorted(p for p in (ROOT / "resources/samples").iterdir() if p.suffix.lower() in (".png", ".jpg"))
    paths = []
    for i in range(count):
        rgb = load_rgb(samples[i % len(samples)])
        rgb = resize_rgb(rgb, size[1], size[0])
        if (i // len(samples)) % 2:
            rgb = rgb[:, ::-1]
        rgb = np.roll(rgb, 7 * (i // (2 * len(samples))), axis=1)
        path = folder / f"photo_{i:04d}.jpg"
        Image.fromarray(np.ascontiguousarray(rgb)).save(path, quality=92)
        paths.append(path)
    return paths


def floor_seconds(seg, batch: int, repeats: int) -> float:
    """Seconds per image of the four no-grad ViT forwards, in batches of ``batch``."""
    cfg = seg.config
    x = torch.randn(batch, 3, cfg.image_size, cfg.image_size)
    if seg.device.type == "cuda":
        x = x.pin_memory()
    seg.itm.image_tokens(x)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        sync(seg.device)
        t = time.perf_counter()
        for _ in range(cfg.drop_passes):
            seg.itm.image_tokens(x)
        sync(seg.device)
        best = min(best, time.perf_counter() - t)
    return best / batch


def engine_seconds(seg, paths: list[Path], batch: int, repeats: int) -> float:
    """Seconds per image of the model part of ``label`` (decoded images in, maps out)."""
    rgbs = [load_rgb(p) for p in paths]
    seg.segment_batch_pending(rgbs[:batch], CLASSES, batch_size=batch)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        sync(seg.device)
        t = time.perf_counter()
        seg.segment_batch_pending(rgbs, CLASSES, batch_size=batch)
        sync(seg.device)
        best = min(best, time.perf_counter() - t)
    return best / len(rgbs)


def stage_profile(seg, paths: list[Path], batch: int, out_folder: Path) -> dict:
    """Seconds per image of every stage of one batch, each between device syncs (so the sum is
    the un-overlapped cost; ``label`` overlaps decode and post-processing with the model)."""
    from annotator.core.annotations import ImageAnnotations
    from annotator.core.atomic import atomic_write_text
    from annotator.core.project import annotation_text
    from annotator.core.proposals import shapes_from_label_map

    cfg, itm, dev = seg.config, seg.itm, seg.device
    clock = Clock(dev)
    paths = paths[:batch]
    with clock("decode"):
        rgbs = [load_rgb(p) for p in paths]
    with clock("input_tensor"):
        x = torch.from_numpy(np.stack([model_input(r, cfg.image_size, cfg.mean, cfg.std, cfg.resample) for r in rgbs]))
        if dev.type == "cuda":
            x = x.pin_memory()
    with clock("host_to_device"):
        x = x.to(dev, non_blocking=True)
    with clock("vit"):
        tokens = itm.image_tokens(x)
    with clock("presence_text_pass"):
        seg._presence(tokens, [CLASSES] * len(rgbs))
    caps = [seg.captions.build(CLASSES) for _ in rgbs]
    ids, mask = itm._as_tensors(*seg.captions.pad(caps))
    dropped = [[] for _ in rgbs]
    maps = [[] for _ in rgbs]
    grid = seg.grid
    for k in range(cfg.drop_passes):
        if k:
            with clock("salience_dropout"):
                xk = zero_patches(x, dropped, grid, seg.patch_size)
            with clock("vit"):
                tokens = itm.image_tokens(xk)
        with clock("text_forward"):
            t = tokens.detach().requires_grad_(True)
            with torch.enable_grad():
                out = itm._text(ids, mask, t, output_attentions=True)
                z = seg.model.itm_head(out.last_hidden_state[:, 0])
                attn = out.cross_attentions[itm.layer_index]
        with clock("text_backward"):
            (grad,) = torch.autograd.grad(z[:, 1].sum(), attn)
        with clock("gradcam_class_maps"):
            a = attn[:, cfg.head, :, 1:].detach().float()
            g = grad[:, cfg.head, :, 1:].float().clamp_min(0)
            cam = (a * g * mask[:, :, None].to(a.dtype)).reshape(len(rgbs), -1, grid, grid)
            per_image = [class_maps(cam[b], caps[b]) for b in range(len(rgbs))]
        if k + 1 < cfg.drop_passes:
            with clock("salience_dropout"):
                tops = []
                for b in range(len(rgbs)):
                    score = cam[b, caps[b].class_positions].sum(dim=0).flatten()
                    if dropped[b]:
                        score[dropped[b]] = -torch.inf
                    tops.append(torch.topk(score, cfg.drop_patches).indices)
                top = torch.stack(tops)
        with clock("device_to_host"):
            host = [m.cpu().numpy() for m in per_image]
            if k + 1 < cfg.drop_passes:
                top = top.cpu().tolist()
                dropped = [d + t for d, t in zip(dropped, top)]
        for b in range(len(rgbs)):
            maps[b].append(host[b])
    out_folder.mkdir(parents=True, exist_ok=True)
    post = {"blur": 0.0, "crf": 0.0}
    for b, rgb in enumerate(rgbs):
        heat = cfg.first_pass_weight * maps[b][0] + sum(maps[b][1:])
        h, w, _ = working_size(*rgb.shape[:2], cfg.crf_max_side)
        with clock("resize_for_crf"):
            work = resize_rgb(rgb, h, w)
        res = label_map_from_maps(heat.astype(np.float32), rgb.shape[:2], work, cfg)
        post["blur"] += res.seconds["blur"]
        post["crf"] += res.seconds["crf"]
        with clock("polygons"):
            shapes = shapes_from_label_map(res.label_map, CLASSES)
        with clock("save"):
            ann = ImageAnnotations(paths[b].name, rgb.shape[1], rgb.shape[0], shapes)
            atomic_write_text(out_folder / f"{paths[b].stem}.json", annotation_text(ann))
    clock.seconds.update(post)
    return {k: v / len(rgbs) for k, v in clock.seconds.items()}


def propose_seconds(seg, path: Path, repeats: int) -> float:
    """One image, pixels to proposal shapes (the model already loaded, as in the window)."""
    from annotator.core.proposals import shapes_from_label_map

    best = float("inf")
    for _ in range(repeats + 1):  # the first is a warm-up
        sync(seg.device)
        t = time.perf_counter()
        res = seg.segment(path, CLASSES)
        shapes_from_label_map(res.label_map, res.classes)
        sync(seg.device)
        best = min(best, time.perf_counter() - t)
    return best


def label_run(model: Path, photos: Path, device: str, batch: int, profile: bool) -> dict:
    """``pnp-annotator label`` on a fresh copy of the folder, in this process; images/s and,
    under the profiler, the fraction of the wall time a GPU kernel was running."""
    from annotator.cli import main as cli

    work = Path(tempfile.mkdtemp(prefix="gpu-profile-label-"))
    try:
        folder = work / "photos"
        shutil.copytree(photos, folder)
        count = sum(1 for _ in folder.iterdir())
        argv = ["label", str(folder), "--model", str(model), "--classes", ", ".join(CLASSES),
                "--device", device, "--batch-size", str(batch)]
        if not profile:
            t = time.perf_counter()
            code = cli(argv)
            wall = time.perf_counter() - t
            return {"exit": code, "images": count, "seconds": wall, "images_per_s": count / wall}
        from torch.profiler import ProfilerActivity, profile as torch_profile

        with torch_profile(activities=[ProfilerActivity.CUDA]) as prof:
            t0 = time.perf_counter()
            code = cli(argv)
            wall = time.perf_counter() - t0
        return {"exit": code, "images": count, "seconds_under_profiler": wall,
                "gpu_busy_fraction": busy_fraction(prof, wall)}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def busy_fraction(prof, wall: float) -> float:
    """Union of the GPU kernels' time intervals over the wall time."""
    spans = []
    for ev in prof.events():
        if getattr(ev, "device_type", None) is not None and "CUDA" in str(ev.device_type):
            spans.append((ev.time_range.start, ev.time_range.end))
    if not spans:
        return 0.0
    spans.sort()
    busy, (start, end) = 0.0, spans[0]
    for s, e in spans[1:]:
        if s > end:
            busy += end - start
            start, end = s, e
        else:
            end = max(end, e)
    busy += end - start
    return min(1.0, busy / 1e6 / wall)  # profiler times are in microseconds


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--size", choices=["large", "tiny"], default="large")
    ap.add_argument("--images", type=int, default=64, help="photos in the label folder (default 64)")
    ap.add_argument("--batch", type=int, default=8, help="images per model call (default 8)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-label", action="store_true", help="measure the engine only")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args(argv)

    torch.manual_seed(0)
    tmp = Path(tempfile.mkdtemp(prefix="gpu-profile-"))
    figures: dict = {"size": args.size, "device": args.device, "batch": args.batch, "images": args.images,
                     "torch": torch.__version__, "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(),
                     "classes": CLASSES, "photo": "640x480 JPEG"}
    try:
        t = time.perf_counter()
        model = build_random_model(tmp / "model", size=args.size)
        photos = make_photos(tmp / "photos", args.images)
        figures["setup_s"] = round(time.perf_counter() - t, 1)
        seg = Segmenter.load(str(model), device=args.device, config=SegmenterConfig())
        dev = seg.device
        figures["gpu"] = torch.cuda.get_device_name(dev) if dev.type == "cuda" else None
        figures["vision_dtype"] = str(seg.itm.vision_dtype)
        print(f"{figures['gpu'] or 'CPU'}: BLIP {args.size} (random weights), ViT {seg.itm.vision_dtype}, "
              f"{seg.config.image_size} px, {len(CLASSES)} classes, batch {args.batch}", flush=True)

        floor = floor_seconds(seg, args.batch, args.repeats)
        engine = engine_seconds(seg, photos, args.batch, args.repeats)
        figures["floor_images_per_s"] = 1 / floor
        figures["engine_images_per_s"] = 1 / engine
        figures["engine_to_floor"] = engine / floor
        print(f"  floor (4 no-grad ViT forwards)  {1 / floor:8.1f} images/s", flush=True)
        print(f"  engine (model part of label)    {1 / engine:8.1f} images/s   = {engine / floor:.2f} x the floor "
              f"(goal <= {GOALS['engine_to_floor']})", flush=True)

        stages = stage_profile(seg, photos, args.batch, tmp / "annotations_out")
        figures["stages_s_per_image"] = {k: round(v, 5) for k, v in stages.items()}
        total = sum(stages.values())
        print(f"  stages of one batch, s/image between syncs (sum {total:.3f}):")
        for k, v in sorted(stages.items(), key=lambda kv: -kv[1]):
            print(f"    {k:22s} {v:8.4f}  {100 * v / total:5.1f} %")

        prop = propose_seconds(seg, photos[0], args.repeats)
        figures["propose_ms"] = 1000 * prop
        print(f"  Propose, one image to shapes    {1000 * prop:8.0f} ms (goal <= {GOALS['propose_ms']:.0f})", flush=True)
        seg.close()
        del seg
        if dev.type == "cuda":
            torch.cuda.empty_cache()

        if not args.skip_label:
            run = label_run(model, tmp / "photos", args.device, args.batch, profile=False)
            figures["label"] = run
            print(f"  label, {run['images']} photos             {run['images_per_s']:8.2f} images/s "
                  f"(goal >= {GOALS['label_images_per_s']:.0f}; exit {run['exit']})", flush=True)
            if dev.type == "cuda":
                prof = label_run(model, tmp / "photos", args.device, args.batch, profile=True)
                figures["label_profiled"] = prof
                print(f"  GPU busy during label           {100 * prof['gpu_busy_fraction']:8.1f} % of the wall time")
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2))
            print(f"figures written to {args.json}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
