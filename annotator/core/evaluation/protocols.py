"""The two evaluation protocols: which classes are scored and how labels map onto them.

``reference``: the PnP-OVSS authors' evaluation (spec section 7), so numbers compare with
the paper. Class 0 (background / unlabeled / "other") is a scored class, VOC's void 255
counts as background, matrices have ``reference_n_class`` rows, and the mIoU averages the
classes that have ground-truth pixels.

``standard``: the mmseg protocol of the SCLIP / NACLIP / ProxyCLIP tables. 255 is
ignored; Pascal Context 59 and ADE20K reduce the zero label (0 -> ignored, others - 1);
COCO-Stuff scores its 171 classes with unlabeled ignored; VOC scores 21 classes and
COCO-Object 81 (background included); the mIoU averages classes with a non-empty union.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .classnames import natural_name, reference_name
from .datasets import VOID, DatasetInfo
from .metrics import IGNORE

PROTOCOLS = ("reference", "standard")


@dataclass(frozen=True)
class EvalSpace:
    """Scored classes of one (dataset, protocol) and the maps onto them."""

    names: tuple[str, ...]
    """Name of each scored class index (for the table)."""
    gt_lut: np.ndarray
    """int64 [256]: ground-truth id-mask value -> class index, or IGNORE."""
    id_to_index: dict[int, int]
    """Dataset class id -> class index."""
    unlabeled: int
    """Class index of the engine's label 0; ``n`` (= "none") where no class means it."""
    mean_over: str
    """'gt' or 'union' (see metrics.scores)."""

    @property
    def n(self) -> int:
        return len(self.names)

    def gt_labels(self, id_mask: np.ndarray) -> np.ndarray:
        return self.gt_lut[id_mask]

    def pred_labels(self, label_map: np.ndarray, class_ids: list[int]) -> np.ndarray:
        """Engine label map (0 = unlabeled, i = class_ids[i-1]) -> class indices.

        A lookup table, not the released in-place remap that merges classes whenever
        a written id equals a later channel number (spec 6.7 / 10.9).
        """
        lut = np.array([self.unlabeled] + [self.id_to_index[i] for i in class_ids], dtype=np.int64)
        if label_map.size and (label_map.min() < 0 or label_map.max() >= lut.size):
            raise ValueError(f"label map values outside [0, {lut.size - 1}] for {len(class_ids)} classes")
        return lut[label_map]


def eval_space(info: DatasetInfo, protocol: str) -> EvalSpace:
    if protocol == "reference":
        return _reference_space(info)
    if protocol == "standard":
        return _standard_space(info)
    raise ValueError(f"protocol must be one of {PROTOCOLS}, not {protocol!r}")


def _reference_space(info: DatasetInfo) -> EvalSpace:
    n = info.reference_n_class
    by_id = dict(info.classes)
    names = tuple(info.background if i == 0 else by_id.get(i, f"(unused id {i})") for i in range(n))
    lut = np.full(256, IGNORE, dtype=np.int64)
    lut[:n] = np.arange(n)  # values >= n_class are skipped, as in SEG:1106-1112
    if info.key == "voc":
        lut[VOID] = 0  # SEG:907-908: object boundaries count as background
    return EvalSpace(names, lut, {i: i for i in info.class_ids}, 0, "gt")


def _standard_space(info: DatasetInfo) -> EvalSpace:
    offset = 1 if info.has_background_class else 0
    names = ((info.background,) if offset else ()) + tuple(natural_name(nm) for _, nm in info.classes)
    id_to_index = {cid: k + offset for k, cid in enumerate(info.class_ids)}
    lut = np.full(256, IGNORE, dtype=np.int64)
    for cid, k in id_to_index.items():
        lut[cid] = k
    if offset:
        lut[0] = 0  # background is a scored class; 0 is ignored otherwise (reduce-zero-label)
    unlabeled = 0 if offset else len(names)
    return EvalSpace(names, lut, id_to_index, unlabeled, "union")


def prompt_names(info: DatasetInfo, protocol: str) -> dict[int, str]:
    """Dataset class id -> the name written in the caption.

    Reference: the released code's one-word names (its own ADE20K list included), so
    captions match the paper's. Two ids may then share a name (ADE20K "screen").
    """
    if protocol == "reference":
        return {cid: reference_name(info.released_names.get(cid, name)) for cid, name in info.classes}
    return {cid: natural_name(name) for cid, name in info.classes}


def engine_overrides(info: DatasetInfo, protocol: str) -> dict:
    """SegmenterConfig fields that the protocol fixes for this dataset (spec 2, 6.4)."""
    if info.has_background_class:
        background = "always"  # VOC and COCO-Object always stack the background channel
    elif protocol == "reference":
        background = "auto"  # background channel only for images with < 3 classes
    else:
        background = "never"  # no background class is scored: give every pixel a class
    overrides = {"background": background}
    if protocol == "reference" and info.key == "ade20k":
        # The released ADE20K loader resized bilinearly and did not normalise (spec 10.3).
        overrides.update(resample="bilinear", mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    return overrides
