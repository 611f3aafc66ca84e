"""Readers for the five benchmarks, each laid out as its usual release.

Every reader yields ``Sample``s in sorted order and decodes a ground truth into one
convention, the *id mask*: uint8 [H, W] with 0 = background / unlabeled / "other",
the dataset's own class ids (VOC 1-20, PC 1-59, ADE 1-150, COCO category ids), and
255 = void (VOC object boundaries). The protocols (``protocols.py``) start from it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from . import classnames

VOID = 255


class DatasetError(ValueError):
    """The dataset folder is not laid out as expected; the message names the path."""


@dataclass(frozen=True)
class DatasetInfo:
    key: str
    title: str
    classes: tuple[tuple[int, str], ...]
    """(dataset id, dataset name) in dataset order; the background is not a class."""
    background: str | None
    """Name of id 0 ("background", "other", "unlabeled")."""
    reference_n_class: int
    """Matrix size of the released evaluation (ids 0 .. n-1)."""
    has_background_class: bool
    """Whether the standard protocol scores a background class (VOC 21, COCO-Object 81)."""
    paper_miou: float
    """PnP-OVSS + BLIP mIoU reported for this dataset (spec section 7)."""
    released_names: dict[int, str] = field(default_factory=dict)
    """Ids whose name in the released code differs from the dataset's (ADE20K)."""

    @property
    def class_ids(self) -> tuple[int, ...]:
        return tuple(i for i, _ in self.classes)


INFOS = {
    "voc": DatasetInfo("voc", "Pascal VOC 2012", classnames.VOC, "background", 21, True, 51.3),
    "context": DatasetInfo("context", "Pascal Context 59", classnames.PASCAL_CONTEXT59,
                           "background", 60, False, 28.0),
    "coco-object": DatasetInfo("coco-object", "COCO-Object", classnames.COCO_THINGS,
                               "background", 91, True, 36.2),
    "coco-stuff": DatasetInfo("coco-stuff", "COCO-Stuff 164k", classnames.COCO_STUFF,
                              "unlabeled", 183, False, 17.9),
    "ade20k": DatasetInfo("ade20k", "ADE20K-150", classnames.ADE20K, "other", 151, False, 14.2,
                          classnames.ADE20K_RELEASED),
}


@dataclass(frozen=True)
class Sample:
    image_id: str  # file stem, the key of the authors' GPT-4o class lists
    image: Path
    gt: Path  # PNG mask, or the instances JSON for COCO-Object


class Dataset:
    """A benchmark split: sorted samples and their ground-truth id masks."""

    def __init__(self, info: DatasetInfo, root: Path, samples: list[Sample]):
        self.info = info
        self.root = root
        self.samples = samples

    def load_gt(self, sample: Sample) -> np.ndarray:
        """uint8 [H, W] id mask (see the module docstring)."""
        return _read_png(sample.gt)


def open_dataset(key: str, root: str | Path, split: str | None = None) -> Dataset:
    """Open *root* as dataset *key*; raises DatasetError naming what is missing."""
    if key not in INFOS:
        raise DatasetError(f"unknown dataset {key!r}; choose one of {', '.join(INFOS)}")
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset root {root} is not a folder")
    return _OPENERS[key](INFOS[key], root, split)


def _open_voc_like(info, root, split, mask_folder, list_folder):
    # VOC2012 and mmseg's Pascal Context share the layout: a split list naming stems.
    images = _folder(root, "JPEGImages")
    masks = _folder(root, mask_folder)
    listing = root / "ImageSets" / list_folder / f"{split or 'val'}.txt"
    if not listing.is_file():
        raise DatasetError(f"split list {listing} not found (expected ImageSets/{list_folder}/<split>.txt)")
    stems = sorted({line.strip() for line in listing.read_text().splitlines() if line.strip()})
    samples = [Sample(s, images / f"{s}.jpg", masks / f"{s}.png") for s in stems]
    return Dataset(info, root, _checked(samples))


def _open_voc(info, root, split):
    return _open_voc_like(info, root, split, "SegmentationClass", "Segmentation")


def _open_context(info, root, split):
    return _open_voc_like(info, root, split, "SegmentationClassContext", "SegmentationContext")


def _open_ade20k(info, root, split):
    split = split or "validation"
    images = _folder(root, f"images/{split}")
    masks = _folder(root, f"annotations/{split}")
    samples = [Sample(p.stem, p, masks / f"{p.stem}.png") for p in _images_in(images)]
    return Dataset(info, root, _checked(samples))


class _CocoStuff(Dataset):
    """COCO-Stuff 164k PNGs: raw ``<stem>.png`` (value = id - 1, 255 = unlabeled), or
    mmseg's ``<stem>_labelTrainIds.png`` (value = position among the 171 classes)."""

    _train_to_id = np.full(256, 0, dtype=np.uint8)
    _train_to_id[: len(classnames.COCO_STUFF)] = [i for i, _ in classnames.COCO_STUFF]

    def load_gt(self, sample):
        raw = _read_png(sample.gt)
        if sample.gt.name.endswith("_labelTrainIds.png"):
            return self._train_to_id[raw]
        # Spec 7 (SEGC:1111-1124): +1, and 255 (unlabeled) -> 0.
        return np.where(raw == VOID, 0, raw.astype(np.int32) + 1).astype(np.uint8)


def _open_coco_stuff(info, root, split):
    split = split or "val2017"
    images = _folder(root, f"images/{split}")
    masks = _folder(root, f"annotations/{split}")
    samples = []
    for p in _images_in(images):
        raw = masks / f"{p.stem}.png"  # the authors' file; prefer it when both exist
        samples.append(Sample(p.stem, p, raw if raw.is_file() else masks / f"{p.stem}_labelTrainIds.png"))
    return _CocoStuff(info, root, _checked(samples))


class _CocoObject(Dataset):
    """Masks painted from ``instances_<split>.json``: annotation order, first writer
    wins, 0 = background, value = COCO category id (spec 7, SEGC:1097-1110)."""

    def __init__(self, info, root, samples, anns, sizes):
        super().__init__(info, root, samples)
        self._anns = anns
        self._sizes = sizes

    def load_gt(self, sample):
        from annotator.core.coco.convert import annotation_mask

        h, w = self._sizes[sample.image_id]
        out = np.zeros((h, w), dtype=np.uint8)
        for ann in self._anns.get(sample.image_id, ()):
            m = annotation_mask(ann, h, w)
            out[m & (out == 0)] = ann["category_id"]
        return out


def _open_coco_object(info, root, split):
    split = split or "val2017"
    images = _folder(root, f"images/{split}")
    ann_file = root / "annotations" / f"instances_{split}.json"
    if not ann_file.is_file():
        raise DatasetError(f"COCO instances file {ann_file} not found")
    try:
        coco = json.loads(ann_file.read_text(encoding="utf-8"))
        entries = {im["id"]: im for im in coco["images"]}
        anns = defaultdict(list)
        for ann in coco["annotations"]:  # keep file order: it decides overlaps
            anns[Path(entries[ann["image_id"]]["file_name"]).stem].append(ann)
    except (ValueError, KeyError, TypeError) as exc:
        raise DatasetError(f"{ann_file} is not a COCO instances file: {exc}") from exc
    sizes = {Path(im["file_name"]).stem: (im["height"], im["width"]) for im in entries.values()}
    names = sorted(im["file_name"] for im in entries.values())
    samples = [Sample(Path(n).stem, images / n, ann_file) for n in names]
    return _CocoObject(info, root, _checked(samples), dict(anns), sizes)


_OPENERS = {
    "voc": _open_voc,
    "context": _open_context,
    "coco-object": _open_coco_object,
    "coco-stuff": _open_coco_stuff,
    "ade20k": _open_ade20k,
}

_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


def _folder(root: Path, rel: str) -> Path:
    path = root / rel
    if not path.is_dir():
        raise DatasetError(f"folder {path} not found: is {root} the dataset root?")
    return path


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)


def _checked(samples: list[Sample]) -> list[Sample]:
    if not samples:
        raise DatasetError("the split lists no images")
    for s in samples:
        for path in (s.image, s.gt):
            if not path.is_file():
                raise DatasetError(f"{path} not found (image {s.image_id})")
    return samples


def _read_png(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as im:
            # Palette PNGs (VOC) hold class indices; converting to RGB would lose them.
            if im.mode not in ("P", "L", "I", "I;16"):
                raise DatasetError(f"{path}: expected a single-channel label PNG, got mode {im.mode}")
            arr = np.asarray(im)
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the label PNG ({exc})") from exc
    if arr.max(initial=0) > 255:
        raise DatasetError(f"{path}: label values above 255")
    return arr.astype(np.uint8)
