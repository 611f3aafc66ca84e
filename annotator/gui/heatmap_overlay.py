"""Per-class heatmap as an RGBA overlay (pure numpy + OpenCV, no Qt).

Two looks: a colour map (cold -> hot over the min-max normalised map, at a uniform
opacity, the usual CAM picture) or the class colour with alpha following the map.
"""

from __future__ import annotations

import cv2
import numpy as np

COLORMAPS = {"turbo": cv2.COLORMAP_TURBO, "jet": cv2.COLORMAP_JET, "viridis": cv2.COLORMAP_VIRIDIS,
             "inferno": cv2.COLORMAP_INFERNO}
CLASS_COLOR = "class colour"
LOOKS = (*COLORMAPS, CLASS_COLOR)


def render_heatmap(heatmap: np.ndarray, size: tuple[int, int], color: tuple[int, int, int],
                   look: str = "turbo", opacity: float = 0.5) -> np.ndarray:
    """[P, P] float map -> RGBA uint8 [H, W, 4] (size = (H, W)).

    *look*: a name of COLORMAPS, or CLASS_COLOR (*color* with alpha from the map).
    *opacity* in [0, 1]: the overlay's alpha (its peak alpha for CLASS_COLOR).
    """
    if look not in LOOKS:
        raise ValueError(f"heatmap look must be one of {', '.join(LOOKS)}, not {look!r}")
    h, w = size
    lo, hi = float(heatmap.min()), float(heatmap.max())
    norm = (heatmap - lo) / (hi - lo) if hi > lo else np.zeros_like(heatmap)
    # Bilinear like the engine's own upsampling, so the overlay matches where regions come from.
    up = np.clip(cv2.resize(norm.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)
    alpha = float(np.clip(opacity, 0.0, 1.0)) * 255
    rgba = np.empty((h, w, 4), np.uint8)
    if look == CLASS_COLOR:
        rgba[..., :3] = np.asarray(color, np.uint8)
        rgba[..., 3] = (up * alpha).astype(np.uint8)
    else:
        bgr = cv2.applyColorMap((up * 255).astype(np.uint8), COLORMAPS[look])
        rgba[..., :3] = bgr[..., ::-1]
        rgba[..., 3] = int(alpha)
    return rgba
