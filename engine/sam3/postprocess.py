"""SAM 3 semantic probabilities -> label map, resized exactly as HF's post-processing does."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def resize_probabilities(probs: torch.Tensor, image_size: tuple[int, int]) -> torch.Tensor:
    """probs [h, w] -> [H, W]: bilinear, align_corners=False, on probabilities
    (``Sam3ImageProcessor.post_process_semantic_segmentation``'s resize)."""
    return F.interpolate(probs[None, None], size=tuple(image_size), mode="bilinear", align_corners=False)[0, 0]


def label_map_from_probabilities(heatmaps: np.ndarray, image_size: tuple[int, int], threshold) -> np.ndarray:
    """heatmaps float32 [C, h, w] (sigmoid of semantic_seg per class) -> int32 [H, W].

    Each class's map is resized to the image, then a pixel gets 1 + argmax over classes
    where that maximum is >= threshold (a float, or one per class: the winning class's), else 0. One class at a time, so memory stays at
    two image-sized planes whatever the number of classes (ties keep the first class).
    """
    height, width = image_size
    labels = np.zeros((height, width), np.int32)
    if len(heatmaps) == 0:
        return labels
    maps = torch.from_numpy(np.ascontiguousarray(heatmaps, dtype=np.float32))
    best = None
    for c in range(maps.shape[0]):
        resized = resize_probabilities(maps[c], image_size)
        if best is None:
            best = resized
            winner = torch.zeros((height, width), dtype=torch.int32)
        else:
            better = resized > best
            best = torch.where(better, resized, best)
            winner = torch.where(better, torch.tensor(c, dtype=torch.int32), winner)
    if np.ndim(threshold):  # one threshold per class: the winner's own
        cut = torch.as_tensor(np.asarray(threshold, np.float32))[winner.long()]
    else:
        cut = threshold
    labels = torch.where(best >= cut, winner + 1, torch.zeros_like(winner))
    return labels.numpy().astype(np.int32)
