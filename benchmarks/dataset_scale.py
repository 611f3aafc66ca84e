#!/usr/bin/env python
"""Dataset scale: opening a big annotated folder in the window, and export/import speed.

Builds annotated folders in the documented schema (N images of 640x480, 20 polygons
of 50 vertices each, version-2 annotation files), then prints:

- export and import of the first size: seconds, and the ratio to the floor measured
  in the same run (reading every annotation file + pycocotools frPyObjects / merge /
  area / toBbox + writing the JSON, in one process); goal <= 1.5x;
- for the window size: the longest GUI-thread stall from just before opening the
  folder until 4 s after (goal <= 100 ms) and the median time to show the next image
  (goal <= 50 ms), in the real main window, offscreen.

    python benchmarks/dataset_scale.py                    # 5,000 (export/import) and 20,000 (window)
    python benchmarks/dataset_scale.py --export 2000 --window 5000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

WIDTH, HEIGHT, POLYGONS, VERTICES = 640, 480, 20, 50


def build(root: Path, count: int) -> Path:
    """*count* images (one PNG written once, then hard-linked) with their annotation files."""
    from annotator.core.layout import STATE_DIR, StateLayout, layout_record

    root.mkdir(parents=True)
    state = root / STATE_DIR
    state.mkdir()
    layout = StateLayout(state)
    layout.layout_file.write_text(layout_record())
    template = root.parent / f"template-{count}.png"
    Image.fromarray(np.full((HEIGHT, WIDTH, 3), 90, np.uint8)).save(template)
    rng = np.random.default_rng(0)
    angles = np.linspace(0, 2 * np.pi, VERTICES, endpoint=False)
    labels = ["sky", "road", "car", "person", "tree"]
    for i in range(count):
        rel = f"d{i // 1000:02d}/img{i:06d}.png"
        (root / rel).parent.mkdir(exist_ok=True)
        os.link(template, root / rel)
        shapes = []
        for k in range(POLYGONS):
            cx, cy = rng.uniform(60, WIDTH - 60), rng.uniform(60, HEIGHT - 60)
            r = rng.uniform(15, 55, VERTICES)
            ring = np.stack([cx + r * np.cos(angles), cy + r * np.sin(angles)], 1).round(2)
            shapes.append({"id": f"{i:06d}{k:02d}" + "0" * 24, "label": labels[k % 5], "source": "human",
                           "accepted": True, "score": None, "iscrowd": False,
                           "parts": [{"exterior": ring.tolist(), "holes": []}]})
        data = {"schema": "pnp-annotator/image", "version": 2, "image": rel, "width": WIDTH, "height": HEIGHT,
                "shapes": shapes}
        path = layout.annotation(rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=1))
    project = {"schema": "pnp-annotator/project", "version": 1,
               "labels": {"categories": [{"id": j + 1, "name": n, "color": [10 * j, 100, 200]}
                                         for j, n in enumerate(labels)]},
               "settings": {}}
    (state / "project.json").write_text(json.dumps(project))
    return root


def floor_seconds(root: Path, out: Path) -> float:
    """Read every annotation file, pycocotools frPyObjects/merge/area/toBbox, write JSON."""
    from pycocotools import mask as mask_utils

    start = time.perf_counter()
    annotations = []
    for path in sorted((root / ".pnp-annotator").rglob("*.png.json")):
        data = json.loads(path.read_text())
        h, w = data["height"], data["width"]
        for s in data["shapes"]:
            polys = [np.asarray(p["exterior"], float).ravel().tolist() for p in s["parts"]]
            rle = mask_utils.merge(mask_utils.frPyObjects(polys, h, w))
            annotations.append({"segmentation": polys, "area": float(mask_utils.area(rle)),
                                "bbox": mask_utils.toBbox(rle).tolist()})
    out.write_text(json.dumps({"annotations": annotations}))
    return time.perf_counter() - start


def _children_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed_cli(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the command and its worker processes)."""
    import subprocess

    start, cpu = time.perf_counter(), _children_cpu()
    code = "import sys; from annotator.cli import main; sys.exit(main(sys.argv[1:]))"
    done = subprocess.run([sys.executable, "-c", code, *argv], cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"{argv[0]} failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds, _children_cpu() - cpu


def _load() -> str:
    return ", ".join(f"{v:.1f}" for v in os.getloadavg())


def export_import(tmp: Path, count: int) -> None:
    root = build(tmp / f"export-{count}", count)
    cpu = time.process_time()
    floor = floor_seconds(root, tmp / "floor.json")
    floor_cpu = time.process_time() - cpu
    out = tmp / "export.json"
    export, export_cpu = timed_cli(["export", str(root), "--out", str(out)])
    n = len(json.loads(out.read_text())["annotations"])
    print(f"floor: {floor:.1f} s wall, {floor_cpu:.1f} s CPU (one process); load average {_load()}")
    print(f"export {count} images ({n} polygons): {export:.1f} s = {export / floor:.2f}x the floor "
          f"(goal <= 1.5x); CPU {export_cpu:.1f} s; load average {_load()}")
    for workers in ("auto", "0"):
        fresh = tmp / f"fresh-{count}-{workers}"
        shutil.copytree(root, fresh, ignore=shutil.ignore_patterns(".pnp-annotator"), copy_function=os.link)
        extra = [] if workers == "auto" else ["--workers", workers]
        imported, import_cpu = timed_cli(["import", str(out), "--images", str(fresh), *extra])
        print(f"import into a fresh folder, --workers {workers}: {imported:.1f} s = {imported / floor:.2f}x the "
              f"floor (goal <= 1.5x); CPU {import_cpu:.1f} s (with its workers); load average {_load()}")


def open_and_browse(app, win, root: Path, label: str) -> None:
    """Longest GUI-thread stall from just before opening until 4 s after; then 30 next-image steps."""
    from PySide6.QtCore import QElapsedTimer, QTimer

    gaps, clock = [], QElapsedTimer()
    timer = QTimer()
    timer.timeout.connect(lambda: gaps.append(clock.restart()))
    clock.start()
    timer.start(5)
    opened, cpu = time.perf_counter(), time.process_time()
    QTimer.singleShot(20, lambda: win.open_path(root))
    end, listed = opened + 4.02, None
    while time.perf_counter() < end:
        app.processEvents()
        if listed is None and win.current is not None:
            listed = time.perf_counter() - opened
        time.sleep(0.001)
    timer.stop()
    open_cpu = time.process_time() - cpu
    stall = max(gaps[1:], default=0)
    while not win._images and time.perf_counter() - opened < 600:  # listed off the GUI thread
        app.processEvents()
        time.sleep(0.01)
    while win.files.status(win._images[-1]) != "reviewed" and time.perf_counter() - opened < 600:
        app.processEvents()
        time.sleep(0.01)
    statuses = time.perf_counter() - opened
    steps, cpu_steps = [], []
    for _ in range(30):
        t, c = time.perf_counter(), time.process_time()
        win.on_next_image()
        while win.pixels is None and time.perf_counter() - t < 5:
            app.processEvents()
        app.processEvents()
        steps.append((time.perf_counter() - t) * 1000)
        cpu_steps.append((time.process_time() - c) * 1000)
        wait = time.perf_counter() + 0.15  # a user looks at the image for a moment
        while time.perf_counter() < wait:
            app.processEvents()
            time.sleep(0.002)
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"window, {len(win._images)} images, {label} (load average {load}): longest GUI-thread stall from "
          f"opening to 4 s after: {stall} ms (goal <= 100 ms); first image shown after "
          f"{listed if listed is None else round(listed * 1000)} ms; every status shown after {statuses:.1f} s; "
          f"window process CPU over the 4 s: {open_cpu:.2f} s")
    print(f"  next image: median {statistics.median(steps):.0f} ms, max {max(steps):.0f} ms (goal <= 50 ms median); "
          f"process CPU per step: median {statistics.median(cpu_steps):.0f} ms")


def window(tmp: Path, count: int) -> None:
    from PySide6.QtWidgets import QApplication

    from annotator.gui.main_window import MainWindow
    from annotator.gui.settings import AppSettings, use_settings_folder

    root = build(tmp / f"window-{count}", count)
    use_settings_folder(tmp / "qsettings")
    app = QApplication.instance() or QApplication([])
    for label in ("no index yet (rebuilt in the background)", "index present"):
        win = MainWindow(AppSettings())
        win.show()
        end = time.perf_counter() + 3  # the window settles (its helper process starts)
        while time.perf_counter() < end:
            app.processEvents()
            time.sleep(0.005)
        open_and_browse(app, win, root, label)
        win.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", type=int, default=5000, help="images for export/import (0: skip)")
    parser.add_argument("--window", type=int, default=20000, help="images for the window (0: skip)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pnp-scale-") as tmp:
        if args.export:
            export_import(Path(tmp), args.export)
        if args.window:
            window(Path(tmp), args.window)


if __name__ == "__main__":
    main()
