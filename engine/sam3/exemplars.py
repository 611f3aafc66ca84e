"""SAM 3 with exemplar boxes: "find every object like this one" on one image.

A positive box (label 1) says "objects like this", a negative box (label 0) "not like
this"; both go to SAM 3's geometry encoder beside a text prompt (the class name, or
"visual" when there is none: what ``Sam3Processor`` itself puts there for box-only
prompts). The image's vision features come from the segmenter's cache, so the encoder
runs once per image for every further box set and every text prompt of that image.

What comes back equals HF's own pipeline, ``Sam3Processor(images, input_boxes=[boxes],
input_boxes_labels=[labels][, text])`` -> ``Sam3Model`` -> ``post_process_instance_segmentation``.

Boxes are (x0, y0, x1, y1) in image pixels. A box is clipped to the image; one left
without width or height (drawn as a line, or lying outside the image) is not sent to
the model and is reported in ``ExemplarResult.ignored`` with the reason.
SAM 3 keeps nothing between calls: exemplars describe one image only.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from ..base import Instance, oom_guard
from ..images import load_rgb

BOX_ONLY_TEXT = "visual"
"""The text prompt of a box-only query (Sam3Processor's own default)."""


@dataclass
class ExemplarResult:
    """Instances SAM 3 found for a set of exemplar boxes (class_index 0), highest score first."""

    instances: list[Instance]
    image_size: tuple[int, int]
    boxes: list[tuple[float, float, float, float]]
    """The boxes sent to the model (clipped to the image), in the order given."""
    labels: list[int]
    ignored: list[str] = field(default_factory=list)
    """One message per box that was not sent to the model, saying why."""
    seconds: dict[str, float] = field(default_factory=dict)
    """vision (0 when cached), decoder, postprocess."""


def check_boxes(boxes: Sequence, labels: Sequence, image_size: tuple[int, int]
                ) -> tuple[list[tuple[float, float, float, float]], list[int], list[str]]:
    """(usable boxes clipped to the image, their labels, messages for the boxes left out).

    ValueError for input that is not boxes at all (not 4 numbers, labels other than 0 / 1,
    a label count that differs from the box count)."""
    boxes, labels = list(boxes), list(labels)
    if len(boxes) != len(labels):
        raise ValueError(f"{len(boxes)} boxes but {len(labels)} labels: give one label (1 or 0) per box")
    height, width = image_size
    kept, kept_labels, ignored = [], [], []
    for i, (box, label) in enumerate(zip(boxes, labels)):
        try:
            x0, y0, x1, y1 = (float(v) for v in box)
        except (TypeError, ValueError):
            raise ValueError(f"box {i + 1}: expected (x0, y0, x1, y1), got {box!r}") from None
        if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
            raise ValueError(f"box {i + 1}: coordinates must be finite numbers, got {box!r}")
        if label not in (0, 1):
            raise ValueError(f"box {i + 1}: label must be 1 (like this) or 0 (not like this), got {label!r}")
        x0, x1 = sorted((x0, x1))
        y0, y1 = sorted((y0, y1))
        cx0, cy0, cx1, cy1 = max(x0, 0.0), max(y0, 0.0), min(x1, float(width)), min(y1, float(height))
        if x1 - x0 <= 0 or y1 - y0 <= 0:
            ignored.append(f"box {i + 1} ({x0:g}, {y0:g}, {x1:g}, {y1:g}) has no width or height: ignored")
        elif cx1 - cx0 <= 0 or cy1 - cy0 <= 0:
            ignored.append(f"box {i + 1} ({x0:g}, {y0:g}, {x1:g}, {y1:g}) lies outside the "
                           f"{width}x{height} image: ignored")
        else:
            kept.append((cx0, cy0, cx1, cy1))
            kept_labels.append(int(label))
    return kept, kept_labels, ignored


def box_tensors(boxes: list, labels: list, image_size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """([1, n, 4] normalised (cx, cy, w, h), [1, n] int64): the model's box input, as Sam3Processor makes it."""
    height, width = image_size
    xyxy = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4) / torch.tensor(
        [width, height, width, height], dtype=torch.float32)
    cxcywh = torch.stack([(xyxy[:, 0] + xyxy[:, 2]) / 2, (xyxy[:, 1] + xyxy[:, 3]) / 2,
                          xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]], dim=-1)
    return cxcywh[None], torch.tensor(labels, dtype=torch.int64).reshape(1, -1)


def find_like(seg, image, boxes: Sequence, labels: Sequence, text: str | None = None,
              threshold: float | None = None) -> ExemplarResult:
    """Every instance like the positive boxes (and unlike the negative ones) on *image*.

    *seg*: a ``Sam3Segmenter``; *text*: the class name, or None for boxes only;
    *threshold*: instance score threshold (default: the segmenter's ``instance_threshold``).
    With no usable box and no text there is nothing to ask: no model call, no instances.
    """
    rgb = load_rgb(image)
    size = rgb.shape[:2]
    boxes, labels, ignored = check_boxes(boxes, labels, size)
    if threshold is not None and not 0.0 <= float(threshold) <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], not {threshold}")
    text = text.strip() if isinstance(text, str) else None
    if 1 not in labels and not text:
        if boxes:
            ignored.append("only negative boxes and no class: draw a positive box around an object first")
        return ExemplarResult([], size, boxes, labels, ignored, {"vision": 0.0, "decoder": 0.0, "postprocess": 0.0})
    ids, mask = seg._tokens([text or BOX_ONLY_TEXT])
    seconds = {}
    with oom_guard(seg.device):
        t0 = time.perf_counter()
        vision = seg._vision(rgb)
        seconds["vision"] = time.perf_counter() - t0
        t = time.perf_counter()
        kwargs = {}
        if boxes:
            box_in, label_in = box_tensors(boxes, labels, size)
            kwargs = dict(input_boxes=box_in.to(seg.device, dtype=seg.dtype),
                          input_boxes_labels=label_in.to(seg.device))
        with torch.no_grad():
            out = seg.model(vision_embeds=vision, input_ids=ids.to(seg.device), attention_mask=mask.to(seg.device),
                            **kwargs)
        seconds["decoder"] = time.perf_counter() - t
        t = time.perf_counter()
        found = seg._instances(out, size, [True], threshold=threshold)[0]
        seconds["postprocess"] = time.perf_counter() - t
    instances = [Instance(0, score, box, np.asarray(m, dtype=bool)) for score, box, m in found]
    return ExemplarResult(instances, size, boxes, labels, ignored, seconds)
