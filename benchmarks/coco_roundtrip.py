#!/usr/bin/env python
"""The issue-9 measurements, redone: COCO files written by other tools, imported and exported
again, compared with pycocotools; our own export re-imported; poisoned coordinates.

Prints one line per figure (the issue's "Measured" list, before -> now). Uses the files
under tests/data/coco (see its README) and blank images of the listed sizes in a temp folder.

    python benchmarks/coco_roundtrip.py
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from annotator.cli import main as cli_main  # noqa: E402
from annotator.core.annotations import ImageAnnotations  # noqa: E402
from annotator.core.coco import build_coco, export_coco, import_coco  # noqa: E402
from annotator.core.coco.convert import annotation_mask  # noqa: E402
from annotator.core.project import Project  # noqa: E402
from annotator.core.proposals import shapes_from_label_map  # noqa: E402

DATA = ROOT / "tests" / "data" / "coco"


def blank_project(coco_file: Path, root: Path) -> Project:
    for im in json.loads(coco_file.read_text())["images"]:
        path = root / im["file_name"]
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (im["width"], im["height"])).save(path)
    return Project.open(root)


def round_trip(coco_file: Path, tmp: Path) -> None:
    project = blank_project(coco_file, tmp / coco_file.stem)
    t0 = time.perf_counter()
    report = import_coco(project, coco_file)
    exported, _ = build_coco(project)
    seconds = time.perf_counter() - t0
    original = json.loads(coco_file.read_text())
    sizes = {im["id"]: (im["height"], im["width"]) for im in original["images"]}
    out = {a["id"]: a for a in exported["annotations"]}
    ious = []
    for a in original["annotations"]:
        b = out.get(a["id"])
        if b is None:
            ious.append(0.0)
            continue
        m1, m2 = annotation_mask(a, *sizes[a["image_id"]]), annotation_mask(b, *sizes[a["image_id"]])
        union = np.logical_or(m1, m2).sum()
        ious.append(1.0 if union == 0 else np.logical_and(m1, m2).sum() / union)
    crowd_in = sum(a.get("iscrowd", 0) for a in original["annotations"])
    crowd_out = sum(a["iscrowd"] for a in exported["annotations"])
    cats_in = sorted(c["id"] for c in original["categories"])
    cats_out = sorted(c["id"] for c in exported["categories"])
    kept_keys = all(k in out.get(a["id"], {}) for a in original["annotations"] for k in a)
    print(f"{coco_file.parent.name}/{coco_file.name}: annotations {len(original['annotations'])} -> "
          f"{len(exported['annotations'])}, min IoU {min(ious, default=1.0):.4f}, iscrowd {crowd_in} -> {crowd_out}, "
          f"category ids {cats_in} -> {cats_out}, every annotation key kept: {kept_keys}, "
          f"import exit-code class {'0' if report.complete else '1'}, {seconds * 1000:.0f} ms")


def own_reimport(tmp: Path) -> None:
    rng = np.random.default_rng(0)
    lm = np.zeros((240, 320), np.int32)
    yy, xx = np.ogrid[:240, :320]
    for _ in range(60):
        cy, cx, r = rng.integers(0, 240), rng.integers(0, 320), rng.integers(6, 40)
        ring = (yy - cy) ** 2 + (xx - cx) ** 2
        lm[ring < r * r] = rng.integers(1, 5)
        lm[ring < (r // 3) ** 2] = 0
    root = tmp / "own"
    root.mkdir()
    Image.new("RGB", (320, 240)).save(root / "a.png")
    project = Project.open(root)
    for name in ("sky", "road", "car", "tree"):
        project.labels.add(name)
    shapes = shapes_from_label_map(lm, ["sky", "road", "car", "tree"])
    project.save(ImageAnnotations("a.png", 320, 240, shapes))
    export_coco(project, tmp / "own.json", segmentation="auto")
    counts = [len(shapes)]
    for _ in range(2):
        import_coco(project, tmp / "own.json")
        counts.append(len(project.load("a.png").shapes))
    fresh = tmp / "own_fresh"
    shutil.copytree(root, fresh, ignore=shutil.ignore_patterns(".pnp-annotator"))
    fp = Project.open(fresh)
    import_coco(fp, tmp / "own.json")
    same = all(np.array_equal(a.mask(240, 320), b.mask(240, 320))
               for a, b in zip(project.load("a.png").shapes, fp.load("a.png").shapes))
    print(f"own `--segmentation auto` export re-imported into the same folder: {' -> '.join(map(str, counts))}; "
          f"into a fresh folder: {len(shapes)} -> {len(fp.load('a.png').shapes)}, identical pixels: {same}")
    poly, _ = build_coco(project, segmentation="polygon")
    bad = 0
    for a in poly["annotations"]:
        rle = mask_utils.merge(mask_utils.frPyObjects(a["segmentation"], 240, 320))
        bad += a["area"] != mask_utils.area(rle) or a["bbox"] != mask_utils.toBbox(rle).tolist()
    print(f"`--segmentation polygon`: area/bbox disagree with the written polygons in {bad} of "
          f"{len(poly['annotations'])} annotations")


def poisoned(tmp: Path) -> None:
    source = DATA / "labelme" / "annotations.json"
    project = blank_project(source, tmp / "poison")
    for value in ("1e308", "NaN", "Infinity"):
        path = tmp / f"poison_{value}.json"
        path.write_text(source.read_text().replace("250.8142292490119", value, 1))
        code = cli_main(["import", str(path), "--images", str(project.root)])
        written = project.state_dir.exists()
        print(f"coordinate {value}: import exit {code}, anything written: {written}")


def main() -> None:
    import engine.images  # noqa: F401 - the importer loads it (and torch) once; keep that out of the timings
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for f in [DATA / "labelme" / "annotations.json", *sorted((DATA / "datumaro").glob("*.json"))]:
            try:
                round_trip(f, tmp)
            except ValueError as exc:
                print(f"{f.parent.name}/{f.name}: refused: {str(exc).split(': ', 1)[1][:110]}...")
        own_reimport(tmp)
        poisoned(tmp)


if __name__ == "__main__":
    main()
