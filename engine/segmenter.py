"""``Segmenter``: PnP-OVSS (GradCAM + Salience Dropout on BLIP ITM) behind one small API.

    seg = Segmenter.load("Salesforce/blip-itm-large-flickr", device="auto")
    res = seg.segment("photo.jpg", ["sky", "road", "car"])
    res.label_map   # int32 [H, W]: 0 = unlabeled, i = res.classes[i - 1]

Per image (spec section 5): K passes; before pass k, the 10*k most salient patches
found so far are zeroed in the (normalised) input; each pass runs the ViT without
autograd and the text encoder with a backward to the chosen cross-attention, giving a
GradCAM map per class; the maps are summed with the first pass counted twice and
turned into a label map by ``postprocess``.
"""

from __future__ import annotations

import contextlib
import os
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Callable, Optional, Protocol, Sequence

import numpy as np
import torch

from .blip import BlipItm, class_maps, use_sdpa_vision_attention
from .config import DEFAULT_MODEL, SegmenterConfig
from .errors import Cancelled, DeviceOutOfMemoryError
from .images import ImageInput, load_rgb, model_input
from .loading import load_model_and_tokenizer, resolve_device
from .postprocess import label_map_from_maps, resize_rgb, working_size
from .prompts import Caption, CaptionBuilder, normalize_classes

Progress = Callable[[str, int, int], None]


class CancelToken(Protocol):
    def is_set(self) -> bool: ...


@dataclass
class SegmentationResult:
    classes: list[str]
    """Classes as used: normalised, deduplicated, presence-filtered, in the given order."""
    heatmaps: np.ndarray
    """float32 [C, P, P]: aggregated GradCAM per class."""
    passes: list[np.ndarray]
    """K float32 [C, P, P]: the per-pass maps, dropped patches zeroed."""
    dropped: list[list[int]]
    """K lists of patch indices (row * P + col) zeroed before each pass."""
    presence: dict[str, float]
    """ITM match probability of 'a picture of {class}' for every requested class."""
    label_map: np.ndarray
    """int32 [H, W] at the original image size: 0 = unlabeled, i = classes[i - 1]."""
    image_size: tuple[int, int]
    """(H, W) of the original image."""
    work_image: np.ndarray = field(repr=False, default=None)
    """The RGB image at the post-processing working size (for re-running postprocess)."""
    match_logits: list[float] = field(default_factory=list)
    """ITM match logit of the full caption at each pass (drops as salient patches go)."""
    seconds: dict = field(default_factory=dict)
    """Wall time per stage: vit, text, postprocess (blur, crf)."""


def _dtype_for(name: str, device: torch.device) -> torch.dtype:
    if name == "auto":
        # Reduced precision only where it is fast: bf16 on CPUs without AMX is ~8x slower.
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


class Segmenter:
    """A loaded model plus its configuration; thread-compatible (one job at a time)."""

    def __init__(self, model, tokenizer, config: SegmenterConfig, device: torch.device, vision_dtype=None):
        self.config = config
        self.device = device
        self.model = model
        self.tokenizer = tokenizer
        text_cfg = model.config.text_config
        layer_index = config.layer - 1
        if not 0 <= layer_index < text_cfg.num_hidden_layers:
            raise ValueError(f"layer must be in 1..{text_cfg.num_hidden_layers} (1-based), not {config.layer}")
        if not 0 <= config.head < text_cfg.num_attention_heads:
            raise ValueError(f"head must be in 0..{text_cfg.num_attention_heads - 1}, not {config.head}")
        vision_dtype = vision_dtype or _dtype_for(config.vision_dtype, device)
        model.vision_model.to(dtype=vision_dtype)
        if config.vision_attention == "sdpa":
            use_sdpa_vision_attention(model)
        self.itm = BlipItm(model, layer_index=layer_index, head=config.head, vision_dtype=vision_dtype, device=device)
        self._executor: ProcessPoolExecutor | None = None
        self.captions = CaptionBuilder(
            tokenizer, prefix=config.caption_prefix, max_length=text_cfg.max_position_embeddings
        )

    @classmethod
    def load(
        cls,
        model: str = DEFAULT_MODEL,
        device: str = "auto",
        dtype: Optional[torch.dtype | str] = None,
        config: Optional[SegmenterConfig] = None,
    ) -> "Segmenter":
        """Load from a Hugging Face id or a local folder.

        ``dtype`` overrides the ViT's compute dtype (default: config.vision_dtype, i.e.
        bf16/fp16 on CUDA and fp32 elsewhere); the text encoder, whose gradient gives
        the maps, always runs in float32. Raises ModelNotFoundError with instructions.
        """
        config = config or SegmenterConfig()
        dev = resolve_device(device)
        net, tokenizer = load_model_and_tokenizer(model)
        if isinstance(dtype, str):
            dtype = _dtype_for(dtype, dev)
        try:
            net.to(dev)
        except torch.OutOfMemoryError as exc:
            raise DeviceOutOfMemoryError(f"Not enough {dev} memory to load the model: {exc}; try --device cpu") from exc
        return cls(net, tokenizer, config, dev, vision_dtype=dtype)

    # ------------------------------------------------------------------ public API
    def segment(self, image: ImageInput, classes, progress: Progress | None = None,
                cancel: CancelToken | None = None) -> SegmentationResult:
        """Segment one image (path, PIL image or uint8 array) into the given classes."""
        return self.segment_batch([image], [classes], progress=progress, cancel=cancel)[0]

    def segment_batch(self, images: Sequence[ImageInput], classes_per_image, progress: Progress | None = None,
                      cancel: CancelToken | None = None, batch_size: int = 8) -> list[SegmentationResult]:
        """Segment several images, ``batch_size`` at a time through the model.

        ``classes_per_image``: one class list per image, or a single list for all.
        Results do not depend on which images share a batch.
        """
        images = list(images)
        if _is_single_list(classes_per_image):
            classes_per_image = [classes_per_image] * len(images)
        classes_per_image = list(classes_per_image)
        if len(classes_per_image) != len(images):
            raise ValueError(f"{len(images)} images but {len(classes_per_image)} class lists")
        names = [normalize_classes(c) for c in classes_per_image]
        for n in names:  # fail before any model work if a caption cannot fit
            self.captions.build(n)
        chunks = [range(i, min(i + batch_size, len(images))) for i in range(0, len(images), max(1, batch_size))]
        tracker = _Progress(progress, total_passes=self.config.drop_passes * len(chunks), total_images=len(images))
        pool = self._pool()
        pending: list[SegmentationResult] = []
        futures = []
        try:
            for chunk in chunks:
                rgbs = [load_rgb(images[i]) for i in chunk]
                for res in self._segment_chunk(rgbs, [names[i] for i in chunk], tracker, cancel):
                    pending.append(res)
                    if pool is None:
                        self._postprocess_into(res)
                        tracker.image_done()
                    else:  # the CRF holds the GIL: another process overlaps it with the next chunk
                        # and leaves this process's other threads (a GUI) free to run
                        futures.append(pool.submit(label_map_from_maps, res.heatmaps, res.image_size,
                                                   res.work_image, self.config))
            for res, fut in zip(pending, futures):
                while True:
                    _check(cancel)
                    try:
                        out = fut.result(timeout=0.1)
                        break
                    except FutureTimeout:
                        continue
                res.label_map = out.label_map
                res.seconds.update(out.seconds)
                tracker.image_done()
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise
        return pending

    def _pool(self):
        """Processes for blur + CRF (None: post-process in this thread)."""
        workers = self.config.postprocess_workers
        if workers is None:
            # The model keeps a GPU busy with few CPU cores, so the CRF gets the rest;
            # on CPU the model already uses every core.
            workers = min(8, (os.cpu_count() or 1) - 1) if self.device.type == "cuda" else 0
        if workers < 1:
            return None
        if self._executor is None:
            import multiprocessing

            # spawn: forking a process that holds CUDA or OpenMP threads is unsafe.
            self._executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        return self._executor

    def close(self) -> None:
        """Stop the post-processing processes, if any were started."""
        if self._executor is not None:
            self._executor.shutdown(cancel_futures=True)
            self._executor = None

    def postprocess(self, result: SegmentationResult, threshold: float | None = None,
                    background: str | None = None, crf: bool | None = None,
                    blur: bool | None = None) -> np.ndarray:
        """A new label map from the result's heatmaps with other settings (no model call)."""
        if background is not None and background not in ("auto", "always", "never"):
            raise ValueError(f"background must be 'auto', 'always' or 'never', not {background!r}")
        args = (result.heatmaps, result.image_size, result.work_image, self.config)
        options = dict(threshold=threshold, background=background, blur=blur, crf=crf)
        pool = self._pool()
        if pool is None:
            return label_map_from_maps(*args, **options).label_map
        return pool.submit(label_map_from_maps, *args, **options).result().label_map

    # ------------------------------------------------------------------ internals
    def _segment_chunk(self, rgbs, names, tracker: "_Progress", cancel) -> list[SegmentationResult]:
        cfg = self.config
        _check(cancel)
        with _oom_guard(self.device):
            t0 = time.perf_counter()
            x = torch.from_numpy(np.stack([
                model_input(rgb, cfg.image_size, cfg.mean, cfg.std, cfg.resample) for rgb in rgbs
            ]))  # [B, 3, S, S]
            if self.device.type == "cuda":
                x = x.pin_memory()
            tokens0 = self.itm.image_tokens(x)  # [B, 1 + N, D], shared by presence and pass 0
            seconds = {"vit": time.perf_counter() - t0, "text": 0.0}

            presence = self._presence(tokens0, names)
            kept = [self._filter(n, p) for n, p in zip(names, presence)]
            active = [i for i, k in enumerate(kept) if k]
            maps = {i: [] for i in active}  # per image: K maps [C, P, P]
            dropped = {i: [[] for _ in range(cfg.drop_passes)] for i in range(len(rgbs))}
            logits = {i: [] for i in active}
            if active:
                self._dropout_passes(x, tokens0, active, kept, maps, dropped, logits, seconds, tracker, cancel)
            else:
                tracker.passes_done(cfg.drop_passes)

        return [self._assemble(rgb, kept[i], maps.get(i, []), dropped[i], presence[i], logits.get(i, []),
                               dict(seconds)) for i, rgb in enumerate(rgbs)]

    def _presence(self, tokens0: torch.Tensor, names: list[list[str]]) -> list[dict[str, float]]:
        pairs = [(i, n) for i, ns in enumerate(names) for n in ns]
        scores: list[float] = []
        for start in range(0, len(pairs), 64):  # bounded memory for long class lists
            part = pairs[start:start + 64]
            ids, mask = self.captions.pad([self.captions.presence_caption(n) for _, n in part])
            toks = tokens0[[i for i, _ in part]]
            scores.extend(self.itm.presence(toks, ids, mask).cpu().tolist())
        out: list[dict[str, float]] = [{} for _ in names]
        for (i, n), s in zip(pairs, scores):
            out[i][n] = float(s)
        return out

    def _filter(self, names: list[str], presence: dict[str, float]) -> list[str]:
        thr = self.config.presence_threshold
        return list(names) if thr is None else [n for n in names if presence[n] >= thr]

    def _dropout_passes(self, x, tokens0, active, kept, maps, dropped, logits, seconds, tracker, cancel):
        cfg = self.config
        grid = cfg.grid
        caps: list[Caption] = [self.captions.build(kept[i]) for i in active]
        ids, mask = self.captions.pad(caps)
        x = x[active]
        tokens = tokens0[active]
        for k in range(cfg.drop_passes):
            _check(cancel)
            if k > 0:
                t = time.perf_counter()
                tokens = self.itm.image_tokens(_zero_patches(x, [dropped[i][k] for i in active], grid))
                seconds["vit"] += time.perf_counter() - t
            t = time.perf_counter()
            cam, z = self.itm.gradcam(tokens, ids, mask)  # [B, L, P, P]
            for b, i in enumerate(active):
                per_class = class_maps(cam[b], caps[b])  # [C, P, P]
                zero = dropped[i][k]
                if zero:
                    per_class[:, [p // grid for p in zero], [p % grid for p in zero]] = 0
                maps[i].append(per_class.cpu().numpy().astype(np.float32))
                logits[i].append(float(z[b]))
                if k + 1 < cfg.drop_passes:
                    # Most salient patches over every class row (the [SEP] and padding
                    # rows never count, so batch composition cannot change the choice).
                    score = cam[b, caps[b].class_positions].sum(dim=0).flatten()  # [N]
                    if zero:
                        score[zero] = -torch.inf
                    top = torch.topk(score, cfg.drop_patches).indices.cpu().tolist()
                    dropped[i][k + 1] = zero + top
            seconds["text"] += time.perf_counter() - t
            tracker.passes_done(1)

    def _assemble(self, rgb, classes, maps, dropped, presence, logits, seconds) -> SegmentationResult:
        """A result with every field but the label map (see ``_postprocess_into``)."""
        cfg = self.config
        grid = cfg.grid
        height, width = rgb.shape[:2]
        if maps:
            heat = cfg.first_pass_weight * maps[0]
            for later in maps[1:]:  # 2*G0 + G1 + G2 + G3, summed in pass order
                heat = heat + later
        else:
            heat = np.zeros((0, grid, grid), np.float32)
            maps = [heat.copy() for _ in range(cfg.drop_passes)]
        h, w, _ = working_size(height, width, cfg.crf_max_side)
        return SegmentationResult(
            classes=list(classes), heatmaps=heat.astype(np.float32), passes=maps, dropped=dropped,
            presence=presence, label_map=None, image_size=(height, width), work_image=resize_rgb(rgb, h, w),
            match_logits=logits, seconds=seconds,
        )

    def _postprocess_into(self, res: SegmentationResult) -> None:
        out = label_map_from_maps(res.heatmaps, res.image_size, res.work_image, self.config)
        res.label_map = out.label_map
        res.seconds.update(out.seconds)


def _zero_patches(x: torch.Tensor, dropped: list[list[int]], grid: int) -> torch.Tensor:
    """Zero 16x16 input blocks (0 in normalised space = the mean colour) per image."""
    x = x.clone()
    for b, patches in enumerate(dropped):
        for p in patches:
            r, c = divmod(p, grid)
            x[b, :, 16 * r:16 * (r + 1), 16 * c:16 * (c + 1)] = 0
    return x


def _is_single_list(classes) -> bool:
    return isinstance(classes, str) or (
        isinstance(classes, (list, tuple)) and all(isinstance(c, str) for c in classes) and len(classes) > 0
    )


def _check(cancel) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("Cancelled")


class _Progress:
    def __init__(self, callback: Progress | None, total_passes: int, total_images: int):
        self.callback, self.total_passes, self.total_images = callback, total_passes, total_images
        self.passes = self.images = 0

    def passes_done(self, n: int) -> None:
        for _ in range(n):
            self.passes += 1
            if self.callback:
                self.callback("pass", self.passes, self.total_passes)

    def image_done(self) -> None:
        self.images += 1
        if self.callback:
            self.callback("postprocess", self.images, self.total_images)


@contextlib.contextmanager
def _oom_guard(device: torch.device):
    try:
        yield
    except torch.OutOfMemoryError as exc:
        if device.type == "cuda":
            torch.cuda.empty_cache()
        raise DeviceOutOfMemoryError(
            f"The {device} ran out of memory ({str(exc).splitlines()[0]}). Label fewer images at once "
            "(smaller batch), close other GPU programs, or use --device cpu."
        ) from exc
    except RuntimeError as exc:
        if "out of memory" in str(exc).lower():
            raise DeviceOutOfMemoryError(
                f"The {device} ran out of memory ({str(exc).splitlines()[0]}); use fewer images at once or --device cpu."
            ) from exc
        raise
