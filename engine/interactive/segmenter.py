"""The interactive segmenter: one image embedding per image, then cheap decodes per click.

    seg = InteractiveSegmenter.load("facebook/sam2.1-hiera-tiny", device="auto")
    seg.set_image("a.jpg", rgb)                    # image encoder (cached: LRU of `cache_size`)
    p = seg.predict([(120.5, 80.0)], [1])           # prompt encoder + mask decoder only
    p.mask  # bool [H, W] at the image's size;  p.score  # the decoder's predicted IoU

Coordinates are image pixels (x, y), continuous: pixel (col, row) covers
[col, col+1] x [row, row+1]. Labels: 1 = positive (on the object), 0 = negative.
A box is (x0, y0, x1, y1); a box with no width or no height is read as a positive
point at its centre.

Backends: on a CPU the prompt encoder + mask decoder run on ONNX Runtime
(``onnx_backend``: exported once per model, on first use, cached), about twice torch's
speed there, with the decoder's image-only part run once per image in ``set_image``; the
image encoder and everything on a GPU stay on torch. Any ONNX Runtime
failure (missing package, export, a damaged file, a run) falls back to torch with a
one-line notice through ``status`` and the click is decoded all the same.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from ..loading import resolve_device
from . import encoder_trim
from .encoder_memo import memoise_position_embeddings
from .loading import DEFAULT_INTERACTIVE_MODEL, load_interactive_model

BACKENDS = ("auto", "torch", "onnxruntime")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prediction:
    mask: np.ndarray  # bool [H, W], the image's size
    score: float  # predicted IoU of the chosen mask, in [0, 1] for a trained model

    @property
    def empty(self) -> bool:
        return not bool(self.mask.any())


@dataclass
class _Embedding:
    features: list  # the model's image embeddings (list of tensors, batch 1)
    size: tuple[int, int]  # original (H, W)
    onnx_image: dict | None = None  # the ONNX Runtime decoder's once-per-image part, run for this image


class InteractiveSegmenter:
    """SAM 2.1 / SAM 3 tracker point-and-box segmentation with cached image embeddings."""

    def __init__(self, model, processor, device: torch.device, engine: str = "sam2", cache_size: int = 4,
                 backend: str = "auto", status: Callable[[str], None] | None = None):
        if cache_size < 1:
            raise ValueError(f"cache_size must be at least 1, got {cache_size}")
        if backend not in BACKENDS:
            raise ValueError(f"unknown interactive backend {backend!r}; expected one of {', '.join(BACKENDS)}")
        self.model = model
        self.processor = processor
        self.device = device
        self.engine = engine
        self.cache_size = cache_size
        self._cache: OrderedDict[str, _Embedding] = OrderedDict()
        self._current: str | None = None
        # "auto": ONNX Runtime for the decoder on a CPU, torch elsewhere.
        self.requested_backend = backend
        self.status = status  # one-line messages for the user (export, fallback); None: logged
        self._onnx = None  # OnnxDecoder once prepared
        self._onnx_state = "off" if backend == "torch" or device.type != "cpu" else "pending"
        if device.type == "cpu":  # ~10 % of an embedding there (encoder_memo), for ~110 MB
            memoise_position_embeddings(model)
            encoder_trim.use_onednn(model)  # linear layers with bias (and GELU) in one oneDNN product
        # SAM 2.1's embedding without its unused attention weights and with its neck folded (encoder_trim)
        encoder_trim.trim_attention(model)
        self._folded_neck = encoder_trim.foldable(model)

    @classmethod
    def load(cls, model: str = DEFAULT_INTERACTIVE_MODEL, device: str = "auto", cache_size: int = 4,
             backend: str = "auto", status: Callable[[str], None] | None = None):
        """Load from a hub id or folder; ModelNotFoundError (with how to get it) when missing."""
        dev = resolve_device(device)
        net, processor, engine = load_interactive_model(model)
        return cls(net.to(dev), processor, dev, engine, cache_size, backend, status)

    @property
    def backend(self) -> str:
        """What decodes the clicks now: "onnxruntime" or "torch" (ONNX Runtime is prepared on first use)."""
        return "onnxruntime" if self._onnx is not None else "torch"

    def _notice(self, message: str) -> None:
        if self.status is not None:
            self.status(message)
        else:
            log.warning("%s", message)

    def _encode(self, pixels: torch.Tensor) -> list:
        """The image embeddings (torch: ONNX Runtime was measured no faster for the image encoder)."""
        with torch.inference_mode():
            if self._folded_neck:
                return encoder_trim.embed(self.model, pixels)
            return list(self.model.get_image_embeddings(pixels))

    def _onnx_decoder(self, features):
        """The ONNX Runtime decoder, prepared on first use; None when decoding stays on torch."""
        if self._onnx_state != "pending":
            return self._onnx
        from . import onnx_backend

        try:
            self._onnx = onnx_backend.prepare_decoder(self.model, self.engine, features, self.status)
            self._onnx_state = "ready"
        except Exception as exc:  # noqa: BLE001 - whatever failed, torch decodes instead
            self._fall_back(f"could not be prepared ({type(exc).__name__}: {_first_line(exc)})")
        return self._onnx

    def _onnx_image_state(self, emb: _Embedding) -> dict | None:
        """The decoder's once-per-image part for *emb* (run on first need); None: decode with torch."""
        onnx = self._onnx_decoder(emb.features)
        if onnx is not None and emb.onnx_image is None:
            try:
                emb.onnx_image = onnx.image_state(emb.features)
            except Exception as exc:  # noqa: BLE001 - torch decodes this image's clicks instead
                self._fall_back(f"failed on an image ({type(exc).__name__}: {_first_line(exc)})")
        return emb.onnx_image if self._onnx is not None else None

    def _fall_back(self, why: str) -> None:
        self._onnx, self._onnx_state = None, "off"
        self._notice(f"Clicks are decoded with torch: ONNX Runtime {why}")

    # --- image embeddings ------------------------------------------------------------
    def has_image(self, image_key: str) -> bool:
        return image_key in self._cache

    @property
    def current_image(self) -> str | None:
        return self._current

    def set_image(self, image_key: str, rgb: np.ndarray) -> bool:
        """Make `image_key` the image clicks refer to; run the encoder unless cached.

        `rgb`: uint8 [H, W, 3]. Returns True when the encoder ran.
        """
        self._current = image_key
        if image_key in self._cache:
            self._cache.move_to_end(image_key)
            return False
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] < 1 or rgb.shape[1] < 1:
            raise ValueError(f"set_image expects an RGB array [H, W, 3], got shape {rgb.shape}")
        inputs = self.processor(images=rgb, return_tensors="pt")
        pixels = inputs["pixel_values"].to(self.device, dtype=self.model.dtype)
        features = self._encode(pixels)
        self._cache[image_key] = _Embedding(list(features), (int(rgb.shape[0]), int(rgb.shape[1])))
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        self._onnx_image_state(self._cache[image_key])  # first use: export now, before the first click
        return True

    def forget(self, image_key: str | None = None) -> None:
        """Drop one cached embedding, or all of them."""
        if image_key is None:
            self._cache.clear()
            self._current = None
        else:
            self._cache.pop(image_key, None)
            if self._current == image_key:
                self._current = None

    def image_size(self, image_key: str | None = None) -> tuple[int, int]:
        return self._embedding(image_key).size

    # --- decoding ----------------------------------------------------------------------
    def predict(self, points: Sequence[Sequence[float]] = (), labels: Sequence[int] = (),
                box: Sequence[float] | None = None, *, image_key: str | None = None) -> Prediction:
        """Mask for the prompts on the current image (or `image_key`, which must be cached)."""
        emb = self._embedding(image_key)
        points, labels, box = normalise_prompts(points, labels, box, emb.size)
        kwargs = dict(original_sizes=[list(emb.size)], return_tensors="pt")
        if points:
            kwargs.update(input_points=[[points]], input_labels=[[labels]])
        if box is not None:
            kwargs["input_boxes"] = [[box]]
        prompts = self.processor(**kwargs)
        # SAM's own rule: one point alone is ambiguous (part or whole?), so ask for three
        # masks and keep the best; more prompts -> one mask (the decoder's stability fallback).
        multimask = box is None and len(points) == 1
        tensors = {k: prompts[k].to(self.device) for k in ("input_points", "input_labels", "input_boxes") if k in prompts}
        if "input_points" in tensors:
            tensors["input_points"] = tensors["input_points"].to(self.model.dtype)
        if "input_boxes" in tensors:
            tensors["input_boxes"] = tensors["input_boxes"].to(self.model.dtype)
        masks = iou = None
        state = self._onnx_image_state(emb)
        if state is not None:
            try:
                from .onnx_backend import prompt_points, select_masks

                all_masks, all_iou = self._onnx(state, *prompt_points(
                    tensors.get("input_points"), tensors.get("input_labels"), tensors.get("input_boxes")))
                masks, iou = select_masks(self.model.mask_decoder, all_masks, all_iou, multimask)
            except Exception as exc:  # noqa: BLE001 - the click is decoded by torch below
                self._fall_back(f"failed on a click ({type(exc).__name__}: {_first_line(exc)})")
        if masks is None:
            with torch.inference_mode():
                out = self.model(image_embeddings=emb.features, multimask_output=multimask, **tensors)
            masks, iou = out.pred_masks, out.iou_scores
        scores = iou[0, 0].float()
        best = int(torch.argmax(scores)) if multimask else 0
        low_res = masks[:, :, best:best + 1].float().cpu()  # [1, 1, 1, h, w]
        mask = self.processor.post_process_masks(low_res, [list(emb.size)])[0][0, 0]
        return Prediction(mask=mask.numpy().astype(bool), score=float(scores[best]))

    def _embedding(self, image_key: str | None) -> _Embedding:
        key = self._current if image_key is None else image_key
        if key is None or key not in self._cache:
            raise LookupError(f"no image embedding for {key!r}: call set_image first")
        return self._cache[key]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else ""


def normalise_prompts(points, labels, box, size: tuple[int, int]):
    """Validate prompts; a box without area becomes a positive point at its centre.

    Returns (points [[x, y], ...], labels [int, ...], box [x0, y0, x1, y1] | None).
    """
    points = [[float(p[0]), float(p[1])] for p in points]
    labels = [int(v) for v in labels]
    if len(points) != len(labels):
        raise ValueError(f"{len(points)} points but {len(labels)} labels: give one label (1 or 0) per point")
    if any(v not in (0, 1) for v in labels):
        raise ValueError(f"point labels must be 1 (object) or 0 (not object), got {sorted(set(labels))}")
    if box is not None:
        x0, y0, x1, y1 = (float(v) for v in box)
        x0, x1 = sorted((x0, x1))
        y0, y1 = sorted((y0, y1))
        if x1 - x0 < 1.0 or y1 - y0 < 1.0:  # a click that did not move far enough to be a box
            points.append([(x0 + x1) / 2, (y0 + y1) / 2])
            labels.append(1)
            box = None
        else:
            box = [x0, y0, x1, y1]
    if not points and box is None:
        raise ValueError("no prompt: give at least one point or a box")
    if not any(labels) and box is None:
        raise ValueError("only negative points: add a positive point or a box to say what the object is")
    h, w = size
    for x, y in points + ([box[:2], box[2:]] if box is not None else []):
        if not (0 <= x <= w and 0 <= y <= h) or not (np.isfinite(x) and np.isfinite(y)):
            raise ValueError(f"prompt point ({x:g}, {y:g}) is outside the {w}x{h} image")
    return points, labels, box
