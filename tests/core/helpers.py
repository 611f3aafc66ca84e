"""Builders shared by the core tests (synthetic images, label maps, shapes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from annotator.core.shapes import Shape


def write_image(path: Path, width: int = 64, height: int = 48, color=(40, 120, 200)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (width, height), color).save(path)
    return path


def square(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)


def two_hole_shape(**kw) -> Shape:
    """A 30x20 rectangle with two rectangular holes (area 600 - 16 - 36 = 548)."""
    return Shape("wall", square(10, 10, 40, 30), [square(14, 14, 18, 18), square(25, 20, 31, 26)], **kw)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)
