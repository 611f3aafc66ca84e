"""Confusion-matrix segmentation metrics (spec section 7 and mmseg's IoU metric).

The matrix is ``hist[gt, pred]`` with one extra prediction column, ``n``, for pixels the
model left without a class (the engine's label 0 on datasets whose protocol has no
background class). Those pixels count against their ground-truth class (a false
negative) without being credited to any class, so leaving pixels unlabeled can never
raise a score. Under the reference protocol that column stays empty and every number
equals the authors' ``Calculate_mIoU.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IGNORE = -1
"""Ground-truth value skipped by the matrix (void / reduce-zero-label pixels)."""


class ConfusionMatrix:
    """Pixel counts ``hist[gt, pred]`` summed over images (``n`` classes + "none")."""

    def __init__(self, n_classes: int):
        self.n = int(n_classes)
        self.hist = np.zeros((self.n, self.n + 1), dtype=np.int64)

    @property
    def none(self) -> int:
        """Prediction index meaning "no class"."""
        return self.n

    def add(self, gt: np.ndarray, pred: np.ndarray) -> None:
        """Count one image. *gt* in [0, n) or IGNORE; *pred* in [0, n] (n = none)."""
        if gt.shape != pred.shape:
            raise ValueError(f"ground truth {gt.shape} and prediction {pred.shape} differ in size")
        valid = (gt >= 0) & (gt < self.n)
        g = gt[valid].astype(np.int64)
        p = pred[valid].astype(np.int64)
        if p.size and (p.min() < 0 or p.max() > self.n):
            raise ValueError(f"prediction values must lie in [0, {self.n}], got [{p.min()}, {p.max()}]")
        width = self.n + 1
        self.hist += np.bincount(g * width + p, minlength=self.n * width).reshape(self.n, width)


@dataclass(frozen=True)
class Scores:
    iou: np.ndarray  # [n] float, NaN where undefined
    accuracy: np.ndarray  # [n] float (recall), NaN without ground truth
    gt_pixels: np.ndarray  # [n] int
    pred_pixels: np.ndarray  # [n] int (pixels predicted as the class, "none" excluded)
    counted: np.ndarray  # [n] bool: classes that enter the mean IoU
    miou: float
    pixel_accuracy: float
    mean_accuracy: float
    fw_iou: float


def scores(hist: np.ndarray, mean_over: str = "gt") -> Scores:
    """Metrics of a ``[n, n+1]`` matrix (a square ``[n, n]`` one is accepted too).

    ``mean_over="gt"``: mIoU over classes with >= 1 ground-truth pixel (the authors').
    ``mean_over="union"``: over classes with a non-empty union, so a class predicted
    but absent from the ground truth counts as IoU 0 (mmseg, used by SCLIP/NACLIP/ProxyCLIP).
    """
    hist = np.asarray(hist, dtype=np.int64)
    n = hist.shape[0]
    if hist.shape not in ((n, n), (n, n + 1)):
        raise ValueError(f"confusion matrix must be [n, n] or [n, n+1], got {hist.shape}")
    tp = np.diag(hist[:, :n]).astype(np.float64)
    gt_pixels = hist.sum(axis=1)
    pred_pixels = hist[:, :n].sum(axis=0)
    union = gt_pixels + pred_pixels - tp
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = tp / union
        accuracy = tp / gt_pixels
    if mean_over == "gt":
        counted = gt_pixels > 0
    elif mean_over == "union":
        counted = union > 0
    else:
        raise ValueError(f"mean_over must be 'gt' or 'union', not {mean_over!r}")
    total = gt_pixels.sum()
    freq = gt_pixels / total if total else np.zeros(n)
    seen = freq > 0
    return Scores(
        iou=iou,
        accuracy=accuracy,
        gt_pixels=gt_pixels,
        pred_pixels=pred_pixels,
        counted=counted,
        miou=_mean(iou[counted]),
        pixel_accuracy=float(tp.sum() / total) if total else float("nan"),
        mean_accuracy=_mean(accuracy[gt_pixels > 0]),
        fw_iou=float((freq[seen] * iou[seen]).sum()) if total else float("nan"),
    )


def _mean(values: np.ndarray) -> float:
    # nanmean without the "mean of empty slice" warning: an empty run has no mean.
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else float("nan")
