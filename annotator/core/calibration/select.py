"""Choosing a candidate per class, with numbers that were not fitted to the same images.

The choice shown and applied is the best candidate on every reviewed image. Its expected
quality is measured by two-fold cross-fitting: choose on half A and score that choice on
half B, choose on B and score on A, and pool the two held-out scores. When the choice is
robust the held-out IoU is close to the in-sample one; when it fits noise it is lower.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from annotator.core.calibration.candidates import Candidate
from annotator.core.calibration.scoring import S, Metrics, metrics
from annotator.core.calibration.truth import split_halves

DEFAULT_MIN_IMAGES = 6
"""Reviewed images showing a class needed before it is calibrated (3 per half)."""


@dataclass
class ClassChoice:
    label: str
    images: int
    """Reviewed images that show the class."""
    needed: int
    """More reviewed images showing the class needed before it is calibrated (0: enough)."""
    chosen: Candidate | None = None
    in_sample: Metrics | None = None
    """The choice scored on the images it was chosen on (optimistic)."""
    held_out: Metrics | None = None
    """Choose on one half, score on the other, both ways, pooled: the honest estimate."""
    current: Candidate | None = None
    current_metrics: Metrics | None = None
    """The current settings on every reviewed image (nothing fitted)."""
    halves: list[dict] = field(default_factory=list)
    per_candidate: list[Metrics] = field(default_factory=list)
    """Every candidate on every reviewed image (``Calibration.candidates`` order)."""

    @property
    def gain(self) -> float | None:
        """Expected IoU gain of the choice over the current settings (held-out), or None."""
        if self.held_out is None or self.current_metrics is None:
            return None
        return self.held_out.iou - self.current_metrics.iou

    def to_dict(self) -> dict:
        return {
            "label": self.label, "images": self.images, "needed": self.needed,
            "chosen": None if self.chosen is None else self.chosen.to_dict(),
            "in_sample": None if self.in_sample is None else self.in_sample.to_dict(),
            "held_out": None if self.held_out is None else self.held_out.to_dict(),
            "current": None if self.current is None else self.current.to_dict(),
            "current_metrics": None if self.current_metrics is None else self.current_metrics.to_dict(),
            "gain": self.gain, "halves": self.halves,
        }


def best(stats: np.ndarray, images: list[int], c: int) -> int:
    """Index of the best candidate for class *c* on *images*: highest IoU, then least area
    to repaint, then the first in candidate order (deterministic)."""
    sums = stats[images][:, :, c, :].sum(axis=0).astype(np.float64)  # [K, S]
    union = sums[:, S["union"]]
    iou = np.where(union > 0, sums[:, S["inter"]] / np.maximum(union, 1), 1.0)
    repaint = sums[:, S["xor"]] / np.maximum(sums[:, S["truth_px"]], 1)
    order = np.lexsort((np.arange(len(iou)), repaint, -np.round(iou, 9)))
    return int(order[0])


def choose_class(stats: np.ndarray, present: np.ndarray, images: list[str], candidates: list[Candidate],
                 c: int, label: str, current: Candidate | None, min_images: int = DEFAULT_MIN_IMAGES) -> ClassChoice:
    """The choice for class *c* (see the module docstring). *stats*: int [I, K, C, STATS];
    *present*: bool [I, C] (the class has a reviewed shape in the image)."""
    shown = int(present[:, c].sum())
    everything = list(range(len(images)))
    choice = ClassChoice(label, shown, max(0, min_images - shown))
    choice.per_candidate = [metrics(stats[everything, k, c, :].sum(axis=0), len(everything))
                            for k in range(len(candidates))]
    if current is not None and current in candidates:
        choice.current = current
        choice.current_metrics = choice.per_candidate[candidates.index(current)]
    else:
        choice.current = current
    if choice.needed or not images:
        return choice
    k_all = best(stats, everything, c)
    choice.chosen = candidates[k_all]
    choice.in_sample = choice.per_candidate[k_all]
    a, b = split_halves(images, list(present[:, c]))
    held = np.zeros(stats.shape[-1], np.int64)
    for name, fit, test in (("A", a, b), ("B", b, a)):
        k = best(stats, fit, c)
        held += stats[test, k, c, :].sum(axis=0)
        choice.halves.append({"chosen_on": name, "candidate": candidates[k].to_dict(),
                              "fit_iou": metrics(stats[fit, k, c, :].sum(axis=0)).iou,
                              "test_iou": metrics(stats[test, k, c, :].sum(axis=0)).iou,
                              "fit_images": len(fit), "test_images": len(test)})
    choice.held_out = metrics(held, len(everything))
    return choice
