"""Model output -> Label Studio results (one dict per region) and predictions.

Polygons: each part of a shape is one ``polygonlabels`` region, its exterior ring in
percent of the image (``x / width * 100``); Label Studio polygons have no holes and no
parts, so holes are filled and a shape of several parts becomes several regions of the
same label and score.

Brushes: ``brushlabels`` regions in Label Studio's RLE, encoded by label-studio-sdk's own
``converter.brush.mask2rle``: one region per class present in the label map (regions), or
one per detected object (SAM 3 instances).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

import numpy as np

from annotator.serve.labeling import Control


class BrushEncoderMissing(RuntimeError):
    """label-studio-sdk is not installed, so brush results cannot be encoded."""


def region_id() -> str:
    return uuid.uuid4().hex[:10]


def _base(control: Control, width: int, height: int, score: float | None) -> dict:
    region = {"id": region_id(), "from_name": control.name, "to_name": control.to_name,
              "type": control.result_type, "original_width": int(width), "original_height": int(height),
              "image_rotation": 0, "origin": "prediction"}
    if score is not None:
        region["score"] = round(float(score), 4)
    return region


def polygon_points(ring: np.ndarray, width: int, height: int) -> list[list[float]]:
    """Pixel coordinates [[x, y], ...] -> percent of the image, inside [0, 100]."""
    ring = np.asarray(ring, dtype=np.float64)
    pct = np.empty_like(ring)
    pct[:, 0] = ring[:, 0] / width * 100.0
    pct[:, 1] = ring[:, 1] / height * 100.0
    return np.clip(pct, 0.0, 100.0).round(4).tolist()


def polygon_results(shapes: Iterable, control: Control, width: int, height: int,
                    label_of: dict[str, str]) -> list[dict]:
    """``polygonlabels`` regions of shapes (``annotator.core.shapes.Shape``), one per part;
    *label_of* maps a shape's label (the model's class name) to the Label Studio label."""
    out = []
    for shape in shapes:
        label = label_of.get(shape.label, shape.label)
        for part in shape.parts:
            region = _base(control, width, height, shape.score)
            region["value"] = {"points": polygon_points(part.exterior, width, height), "closed": True,
                               control.result_type: [label]}
            out.append(region)
    return out


def brush_region(mask: np.ndarray, control: Control, label: str, score: float | None) -> dict:
    """One ``brushlabels`` region of a bool mask [H, W]."""
    height, width = mask.shape
    region = _base(control, width, height, score)
    region["value"] = {"format": "rle", "rle": encode_mask(mask), control.result_type: [label]}
    return region


def encode_mask(mask: np.ndarray) -> list[int]:
    """Label Studio's brush RLE of a bool mask (label-studio-sdk's encoder)."""
    try:
        from label_studio_sdk.converter.brush import mask2rle
    except ImportError as exc:
        raise BrushEncoderMissing("BrushLabels results need label-studio-sdk, which is not installed: "
                                  "pip install 'pnp-annotator[serve]' (or use PolygonLabels)") from exc
    return [int(v) for v in mask2rle(np.where(np.asarray(mask, dtype=bool), 255, 0).astype(np.uint8))]


def brush_results_from_label_map(label_map: np.ndarray, classes: Sequence[str], control: Control,
                                 label_of: dict[str, str], heatmaps: np.ndarray | None = None) -> list[dict]:
    """One brush region per class present in the label map (0 = unlabeled, i = classes[i-1]);
    its score: the mean min-max-normalised class heatmap over its pixels (as polygon regions)."""
    out = []
    for index, name in enumerate(classes, start=1):
        mask = label_map == index
        if not mask.any():
            continue
        score = None if heatmaps is None else mean_heat(heatmaps[index - 1], mask)
        out.append(brush_region(mask, control, label_of.get(name, name), score))
    return out


def brush_results_from_instances(instances: Sequence, classes: Sequence[str], control: Control,
                                 label_of: dict[str, str]) -> list[dict]:
    """One brush region per detected object (``engine.Instance``), highest score first."""
    out = []
    for inst in sorted(instances, key=lambda i: -i.score):
        mask = np.asarray(inst.mask, dtype=bool)
        if mask.any():
            name = classes[inst.class_index]
            out.append(brush_region(mask, control, label_of.get(name, name), inst.score))
    return out


def mean_heat(heatmap: np.ndarray, mask: np.ndarray) -> float:
    """Mean of the class heatmap, min-max normalised and resized to the mask, over the mask."""
    import cv2

    heat = np.asarray(heatmap, dtype=np.float32)
    lo, hi = float(heat.min()), float(heat.max())
    norm = (heat - lo) / (hi - lo) if hi > lo else np.zeros_like(heat)
    height, width = mask.shape
    return float(cv2.resize(norm, (width, height), interpolation=cv2.INTER_LINEAR)[mask].mean())


def prediction(regions: list[dict], model_version: str) -> dict:
    """A task's prediction: its regions, the mean region score (0 with none) and the model."""
    scores = [r["score"] for r in regions if r.get("score") is not None]
    return {"result": regions, "score": round(float(np.mean(scores)), 4) if scores else 0.0,
            "model_version": model_version}
