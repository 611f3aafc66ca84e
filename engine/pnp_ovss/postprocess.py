"""Per-class patch maps -> label map (spec section 6), with the NaN path fixed.

Steps: per-class threshold on the min-max normalised 21x21 map; bilinear
(align_corners=True) upsampling; optional background channel (1 where no class
survived); Gaussian blur (sigma = 5 % of the longer side) and min-max per channel;
dense CRF on the softmax of the channels; argmax. Channels that are constant
after blurring carry no spatial information and never win a pixel (the released
code turns them into NaN, which labels the whole image with channel 0).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter

from .config import SegmenterConfig


def threshold_maps(maps: np.ndarray, threshold) -> np.ndarray:
    """maps [C, P, P] -> raw values where the min-max normalised map >= threshold (a float, or
    one per class), else 0.

    A class whose map is constant keeps it unchanged (there is no "more salient"
    patch to prefer); a map of zeros stays zeros.
    """
    maps = np.asarray(maps, dtype=np.float32)
    if np.ndim(threshold):  # one threshold per class
        threshold = np.asarray(threshold, np.float32).reshape(-1, 1, 1)
    lo = maps.min(axis=(1, 2), keepdims=True)
    hi = maps.max(axis=(1, 2), keepdims=True)
    span = hi - lo
    norm = np.where(span > 0, (maps - lo) / np.where(span > 0, span, 1), 1.0)
    return np.where(norm >= threshold, maps, 0).astype(np.float32)


def upsample(maps: np.ndarray, height: int, width: int) -> np.ndarray:
    """[C, P, P] -> [C, height, width], bilinear with align_corners=True (as released)."""
    t = torch.from_numpy(np.ascontiguousarray(maps, dtype=np.float32))[None]
    return F.interpolate(t, size=(height, width), mode="bilinear", align_corners=True)[0].numpy()


def use_background(mode: str, n_classes: int) -> bool:
    """'auto' adds the background channel for fewer than 3 classes (spec 6.4)."""
    return mode == "always" or (mode == "auto" and n_classes < 3)


def _is_constant(channel: np.ndarray) -> bool:
    """Flat up to float rounding, relative to the channel's own scale (GradCAM values are ~1e-8)."""
    lo, hi = float(channel.min()), float(channel.max())
    return hi - lo <= 1e-6 * max(abs(hi), abs(lo))


def blur_normalize(channels: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur (scipy defaults: reflect, truncate 4) and min-max each channel.

    Constant channels come back as NaN so that callers can exclude them explicitly.
    """
    out = np.empty_like(channels, dtype=np.float32)
    for c, ch in enumerate(channels):
        b = gaussian_filter(ch.astype(np.float32), sigma=sigma)
        if _is_constant(b):
            out[c] = np.nan
        else:
            out[c] = (b - b.min()) / (b.max() - b.min())
    return out


def dense_crf(scores: np.ndarray, rgb: np.ndarray, cfg: SegmenterConfig, scale: float) -> np.ndarray:
    """Mean-field dense CRF on softmax(scores) [C, h, w] -> label index [h, w].

    ``scale`` (<= 1) is the working-size factor: the position kernels' widths are
    given in original-image pixels and are scaled with the image.
    """
    import pydensecrf.densecrf as dcrf
    from pydensecrf.utils import unary_from_softmax

    c, h, w = scores.shape
    probs = torch.from_numpy(scores).softmax(dim=0).numpy()
    unary = np.ascontiguousarray(unary_from_softmax(probs), dtype=np.float32)  # -log(clip(p, 1e-5))
    crf = dcrf.DenseCRF2D(w, h, c)
    crf.setUnaryEnergy(unary)
    crf.addPairwiseGaussian(sxy=max(cfg.crf_gaussian_sxy * scale, 1e-3), compat=cfg.crf_gaussian_compat)
    crf.addPairwiseBilateral(
        sxy=max(cfg.crf_bilateral_sxy * scale, 1e-3),
        srgb=cfg.crf_bilateral_srgb,
        rgbim=np.ascontiguousarray(rgb, dtype=np.uint8).copy(),  # pydensecrf needs a writable buffer
        compat=cfg.crf_bilateral_compat,
    )
    q = np.asarray(crf.inference(cfg.crf_iterations)).reshape(c, h, w)
    return q.argmax(axis=0)


def working_size(height: int, width: int, max_side: int | None) -> tuple[int, int, float]:
    """Size at which blur/CRF run: the image size, or scaled so its longer side is max_side."""
    longest = max(height, width)
    if not max_side or longest <= max_side:
        return height, width, 1.0
    scale = max_side / longest
    return max(1, round(height * scale)), max(1, round(width * scale)), scale


def resize_rgb(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    if rgb.shape[:2] == (height, width):
        return rgb
    return np.ascontiguousarray(cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA))


def nearest_resize(labels: np.ndarray, height: int, width: int) -> np.ndarray:
    """Upscale a label map with nearest neighbour (pixel centres), exact for integers."""
    h, w = labels.shape
    if (h, w) == (height, width):
        return labels
    rows = np.minimum(((np.arange(height) + 0.5) * h / height).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * w / width).astype(np.int64), w - 1)
    return labels[rows[:, None], cols[None, :]]


@dataclass
class PostprocessOutput:
    label_map: np.ndarray  # int32 [H, W]
    seconds: dict


def label_map_from_maps(
    maps: np.ndarray,
    image_size: tuple[int, int],
    work_rgb: np.ndarray,
    cfg: SegmenterConfig,
    *,
    threshold: float | None = None,
    background: str | None = None,
    blur: bool | None = None,
    crf: bool | None = None,
) -> PostprocessOutput:
    """maps [C, P, P] (aggregated GradCAM per class) -> int32 label map at image_size.

    0 = unlabeled (background channel or no class), i = class i-1. ``work_rgb`` is
    the image at the post-processing working size (see ``working_size``).
    """
    threshold = cfg.threshold if threshold is None else threshold
    background = cfg.background if background is None else background
    blur = cfg.blur if blur is None else blur
    crf = cfg.crf if crf is None else crf
    height, width = image_size
    n = maps.shape[0]
    started = time.perf_counter()
    seconds = {"blur": 0.0, "crf": 0.0, "postprocess": 0.0}
    if n == 0:
        return PostprocessOutput(np.zeros((height, width), np.int32), seconds)

    h, w = work_rgb.shape[:2]
    scale = h / height if height else 1.0
    kept = threshold_maps(maps, threshold)
    with_bg = use_background(background, n)
    # Channel j of the stack is label j if with_bg (bg = 0) else label j + 1.
    offset = 0 if with_bg else 1

    t0 = time.perf_counter()
    if blur:
        bh, bw, _ = working_size(h, w, cfg.blur_max_side)
        chans = _stack(kept, bh, bw, with_bg)
        chans = blur_normalize(chans, sigma=cfg.blur_sigma_fraction * max(bh, bw))
        if (bh, bw) != (h, w):
            chans = np.stack([cv2.resize(c, (w, h), interpolation=cv2.INTER_LINEAR) for c in chans])
    else:
        chans = _stack(kept, h, w, with_bg)
        for c in range(chans.shape[0]):
            if _is_constant(chans[c]):
                chans[c] = np.nan
    seconds["blur"] = time.perf_counter() - t0

    live = [c for c in range(chans.shape[0]) if not np.isnan(chans[c]).any()]
    if not live:
        # Every channel is flat (e.g. a 1x1 image): nothing to localise; compare raw values.
        raw = _stack(kept, h, w, with_bg)
        idx = raw.reshape(raw.shape[0], -1).mean(axis=1).argmax()
        labels = np.full((h, w), idx + offset, np.int32)
    elif len(live) == 1:
        labels = np.full((h, w), live[0] + offset, np.int32)
    else:
        scores = np.ascontiguousarray(chans[live], dtype=np.float32)
        t1 = time.perf_counter()
        if crf:
            pick = dense_crf(scores, work_rgb, cfg, scale)
        else:
            pick = scores.argmax(axis=0)
        seconds["crf"] = time.perf_counter() - t1
        lut = np.asarray(live, np.int32) + offset
        labels = lut[pick]
    labels = nearest_resize(labels.astype(np.int32), height, width)
    seconds["postprocess"] = time.perf_counter() - started
    return PostprocessOutput(labels, seconds)


def _stack(kept: np.ndarray, h: int, w: int, with_bg: bool) -> np.ndarray:
    up = upsample(kept, h, w)  # [C, h, w]
    if not with_bg:
        return up
    bg = (up.max(axis=0) == 0).astype(np.float32)[None]  # 1 where no class survived
    return np.concatenate([bg, up])
