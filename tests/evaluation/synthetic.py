"""Tiny datasets in each release layout, written from id masks the tests choose.

An *id mask* uses the evaluation package's convention (0 = background / unlabeled,
dataset class ids, 255 = void); each writer encodes it the way its release stores it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from annotator.core.evaluation.classnames import COCO_STUFF


def _photo(path: Path, height: int, width: int, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(path, quality=95)


def _png(path: Path, values: np.ndarray, palette: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(values.astype(np.uint8))
    if palette:  # VOC stores class indices in a palette PNG
        im.putpalette([c for i in range(256) for c in (i * 7 % 256, i * 13 % 256, i * 29 % 256)])
    im.save(path)


def write_voc(root: Path, masks: dict[str, np.ndarray]) -> Path:
    for k, (stem, m) in enumerate(masks.items()):
        _photo(root / "JPEGImages" / f"{stem}.jpg", *m.shape, seed=k)
        _png(root / "SegmentationClass" / f"{stem}.png", m, palette=True)
    _split(root / "ImageSets" / "Segmentation" / "val.txt", masks)
    return root


def write_context(root: Path, masks: dict[str, np.ndarray]) -> Path:
    for k, (stem, m) in enumerate(masks.items()):
        _photo(root / "JPEGImages" / f"{stem}.jpg", *m.shape, seed=k)
        _png(root / "SegmentationClassContext" / f"{stem}.png", m)
    _split(root / "ImageSets" / "SegmentationContext" / "val.txt", masks)
    return root


def write_ade20k(root: Path, masks: dict[str, np.ndarray]) -> Path:
    for k, (stem, m) in enumerate(masks.items()):
        _photo(root / "images" / "validation" / f"{stem}.jpg", *m.shape, seed=k)
        _png(root / "annotations" / "validation" / f"{stem}.png", m)
    return root


def write_coco_stuff(root: Path, masks: dict[str, np.ndarray], train_ids: bool = False) -> Path:
    """Raw release PNGs (value = id - 1, 255 = unlabeled) or mmseg ``_labelTrainIds``."""
    to_train = np.full(256, 255, dtype=np.uint8)
    to_train[[i for i, _ in COCO_STUFF]] = np.arange(len(COCO_STUFF))
    for k, (stem, m) in enumerate(masks.items()):
        _photo(root / "images" / "val2017" / f"{stem}.jpg", *m.shape, seed=k)
        if train_ids:
            _png(root / "annotations" / "val2017" / f"{stem}_labelTrainIds.png", to_train[m])
        else:
            _png(root / "annotations" / "val2017" / f"{stem}.png", np.where(m == 0, 255, m.astype(int) - 1))
    return root


def write_coco_object(root: Path, masks: dict[str, np.ndarray]) -> Path:
    """One compressed-RLE instance per class present in each mask."""
    from pycocotools import mask as mask_utils

    images, anns = [], []
    for k, (stem, m) in enumerate(masks.items()):
        _photo(root / "images" / "val2017" / f"{stem}.jpg", *m.shape, seed=k)
        images.append({"id": k + 1, "file_name": f"{stem}.jpg", "height": m.shape[0], "width": m.shape[1]})
        for cid in sorted(set(np.unique(m).tolist()) - {0, 255}):
            rle = mask_utils.encode(np.asfortranarray((m == cid).astype(np.uint8)))
            anns.append(coco_ann(len(anns) + 1, k + 1, cid, {"size": rle["size"], "counts": rle["counts"].decode()}))
    write_instances(root, images, anns)
    return root


def coco_ann(ann_id: int, image_id: int, category_id: int, segmentation) -> dict:
    return {"id": ann_id, "image_id": image_id, "category_id": category_id,
            "segmentation": segmentation, "iscrowd": 0, "area": 0, "bbox": [0, 0, 0, 0]}


def write_instances(root: Path, images: list[dict], anns: list[dict]) -> None:
    path = root / "annotations" / "instances_val2017.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": []}))


def _split(path: Path, masks: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{stem}\n" for stem in reversed(list(masks))))  # unsorted on purpose


WRITERS = {
    "voc": write_voc,
    "context": write_context,
    "coco-object": write_coco_object,
    "coco-stuff": write_coco_stuff,
    "ade20k": write_ade20k,
}

# Stems shaped like each release's image ids.
STEMS = {
    "voc": ["2007_000033", "2007_000042"],
    "context": ["2008_000002", "2008_000023"],
    "coco-object": ["000000000139", "000000000285"],
    "coco-stuff": ["000000000139", "000000000285"],
    "ade20k": ["ADE_val_00000001", "ADE_val_00000002"],
}

# Two classes (a < b) per dataset for the pattern below.
PAIRS = {"voc": (8, 15), "context": (29, 47), "coco-object": (3, 18), "coco-stuff": (18, 157), "ade20k": (3, 13)}

# Ground truth regions: A, B = the pair's classes, Z = background (id 0), 8 pixels each.
PATTERN = np.array([
    list("BBAAAA"),
    list("BBAAAA"),
    list("BBZZZZ"),
    list("BBZZZZ"),
])

# Engine label map against it, classes [a, b]: 0 unlabeled, 1 = a, 2 = b.
PATTERN_PRED = np.array([
    [2, 2, 1, 1, 1, 0],
    [2, 1, 1, 1, 1, 0],
    [2, 2, 0, 0, 1, 1],
    [0, 0, 0, 0, 0, 0],
], dtype=np.int32)


def pattern_mask(a: int, b: int, scale: int = 1) -> np.ndarray:
    m = np.select([PATTERN == "A", PATTERN == "B"], [a, b], 0).astype(np.uint8)
    return np.kron(m, np.ones((scale, scale), dtype=np.uint8))
