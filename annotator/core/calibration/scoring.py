"""Scores of one prediction against the reviewed shapes, as additive pixel and shape counts.

Counts (not ratios) are kept per image, candidate and class, so any set of images (a
half, all of them) is scored by summing, and the ratios come last:

* mask IoU = intersection / union of the class's pixels;
* boundary F-score: a boundary pixel counts as found when the other side has a boundary
  pixel within ``tolerance`` pixels (precision on the prediction, recall on the truth);
* annotator work: shapes to delete (predicted shapes no true shape overlaps with IoU >= 0.5),
  shapes to add (true shapes no predicted shape matches), area to repaint (pixels
  predicted wrong or missed) -- each as a fraction of the true shapes or pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

STATS = ("inter", "union", "truth_px", "pred_px", "bnd_pred", "bnd_pred_hit", "bnd_truth", "bnd_truth_hit",
         "pred_shapes", "pred_wrong", "truth_shapes", "truth_missed", "xor")
S = {name: i for i, name in enumerate(STATS)}
MATCH_IOU = 0.5
BOUNDARY_TOLERANCE = 3


@dataclass(frozen=True)
class Metrics:
    iou: float
    boundary_f: float
    delete: float
    """Shapes to delete per true shape."""
    add: float
    """True shapes to add (missed) per true shape."""
    repaint: float
    """Pixels to repaint (wrong or missed) per true pixel."""
    images: int = 0

    def to_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in self.__dict__.items()}


def metrics(counts: np.ndarray, images: int = 0) -> Metrics:
    """Ratios of summed counts (``STATS`` order); IoU 1 when neither side has a pixel."""
    c = np.asarray(counts, np.float64)
    iou = c[S["inter"]] / c[S["union"]] if c[S["union"]] > 0 else 1.0
    p = c[S["bnd_pred_hit"]] / c[S["bnd_pred"]] if c[S["bnd_pred"]] > 0 else (1.0 if c[S["bnd_truth"]] == 0 else 0.0)
    r = c[S["bnd_truth_hit"]] / c[S["bnd_truth"]] if c[S["bnd_truth"]] > 0 else (1.0 if c[S["bnd_pred"]] == 0 else 0.0)
    f = 2 * p * r / (p + r) if p + r > 0 else 0.0
    truths = max(c[S["truth_shapes"]], 1.0)
    return Metrics(iou=float(iou), boundary_f=float(f), delete=float(c[S["pred_wrong"]] / truths),
                   add=float(c[S["truth_missed"]] / truths),
                   repaint=float(c[S["xor"]] / max(c[S["truth_px"]], 1.0)), images=int(images))


def components(mask: np.ndarray, min_pixels: int) -> tuple[np.ndarray, int]:
    """(label image int32, count) of the 8-connected regions of *mask* of at least *min_pixels*."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    keep = np.zeros(n, np.int32)
    k = 0
    for i in range(1, n):
        if stats[i, cv2.CC_STAT_AREA] >= min_pixels:
            k += 1
            keep[i] = k
    return keep[labels], k


def _boundary(mask: np.ndarray) -> np.ndarray:
    m = mask.astype(np.uint8)
    return mask & ~(cv2.erode(m, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0)


def _hits(boundary: np.ndarray, other: np.ndarray, tolerance: int) -> int:
    """Pixels of *boundary* within *tolerance* of a pixel of *other* (a boundary)."""
    if not boundary.any() or not other.any():
        return 0
    dist = cv2.distanceTransform((~other).astype(np.uint8), cv2.DIST_L2, 3)
    return int((dist[boundary] <= tolerance).sum())


def score_class(truth: list[np.ndarray], pred: np.ndarray, count: int,
                tolerance: int = BOUNDARY_TOLERANCE) -> np.ndarray:
    """Counts (``STATS``) of one class on one image.

    *truth*: the true shapes' masks (bool [H, W], may overlap); *pred*: int32 [H, W] label
    image of the predicted shapes (0 = none, 1..count, no overlaps).
    """
    out = np.zeros(len(STATS), np.int64)
    height, width = pred.shape
    truth_union = np.zeros((height, width), bool)
    for m in truth:
        truth_union |= m
    pred_union = pred > 0
    both = truth_union | pred_union
    if not both.any():
        return out
    ys, xs = np.nonzero(both)  # work on the box around both (plus the tolerance)
    pad = tolerance + 2
    y0, y1 = max(0, ys.min() - pad), min(height, ys.max() + pad + 1)
    x0, x1 = max(0, xs.min() - pad), min(width, xs.max() + pad + 1)
    t = truth_union[y0:y1, x0:x1]
    p = pred_union[y0:y1, x0:x1]
    lab = pred[y0:y1, x0:x1]
    out[S["inter"]] = int((t & p).sum())
    out[S["union"]] = int((t | p).sum())
    out[S["truth_px"]] = int(t.sum())
    out[S["pred_px"]] = int(p.sum())
    out[S["xor"]] = int((t ^ p).sum())
    bt, bp = _boundary(t), _boundary(p)
    out[S["bnd_pred"]], out[S["bnd_truth"]] = int(bp.sum()), int(bt.sum())
    out[S["bnd_pred_hit"]] = _hits(bp, bt, tolerance)
    out[S["bnd_truth_hit"]] = _hits(bt, bp, tolerance)
    # shapes: IoU of every true shape with every predicted one
    pred_area = np.bincount(lab.ravel(), minlength=count + 1)
    matched_pred = np.zeros(count + 1, bool)
    missed = 0
    for m in truth:
        g = m[y0:y1, x0:x1]
        area = int(g.sum())
        if area == 0:
            continue
        inter = np.bincount(lab[g], minlength=count + 1)
        iou = inter / np.maximum(area + pred_area - inter, 1)
        iou[0] = 0.0
        good = iou >= MATCH_IOU
        matched_pred |= good
        missed += 0 if good.any() else 1
    out[S["truth_shapes"]] = sum(1 for m in truth if m.any())
    out[S["truth_missed"]] = missed
    out[S["pred_shapes"]] = count
    out[S["pred_wrong"]] = int(count - matched_pred[1:].sum())
    return out
