"""Per-class heatmap as an RGBA overlay at image size (pure numpy, no Qt)."""

from __future__ import annotations

import cv2
import numpy as np

MAX_ALPHA = 170  # the photo stays readable under the hottest patches


def render_heatmap(heatmap: np.ndarray, size: tuple[int, int], color: tuple[int, int, int]) -> np.ndarray:
    """[P, P] float map -> RGBA uint8 [H, W, 4] in *color*, alpha from the min-max normalised map."""
    h, w = size
    lo, hi = float(heatmap.min()), float(heatmap.max())
    norm = (heatmap - lo) / (hi - lo) if hi > lo else np.zeros_like(heatmap)
    # Bilinear like the engine's own upsampling, so the overlay matches where regions come from.
    up = cv2.resize(norm.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    rgba = np.empty((h, w, 4), np.uint8)
    rgba[..., :3] = np.asarray(color, np.uint8)
    rgba[..., 3] = np.clip(up * MAX_ALPHA, 0, 255).astype(np.uint8)
    return rgba
