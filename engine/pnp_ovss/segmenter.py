"""PnP-OVSS (GradCAM + Salience Dropout on BLIP ITM) behind the ``Segmenter`` contract.

Per image (spec section 5): K passes; before pass k, the 10*k most salient patches
found so far are zeroed in the (normalised) input; each pass runs the ViT without
autograd and the text encoder with a backward to the chosen cross-attention, giving a
GradCAM map per class; the maps are summed with the first pass counted twice and
turned into a label map by ``postprocess``.
"""

from __future__ import annotations

import time
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
import numpy as np
import torch

from ..base import (
    CancelToken, PendingResult, Progress, ProgressTracker, SegmentationResult, check_cancel, class_thresholds, dtype_for,
    move_to_device, oom_guard,
)
from ..images import load_rgb, model_input
from ..segmenter import Segmenter
from .blip import BlipItm, class_maps, load_blip, use_sdpa_vision_attention
from .captions import Caption, CaptionBuilder
from .config import SegmenterConfig
from .postprocess import PostprocessOutput, label_map_from_maps, resize_rgb, working_size

ENGINE = "pnp-ovss"


@dataclass
class _Maps:
    """One image's model output before post-processing (the label map is computed from it)."""

    classes: list[str]
    heatmaps: np.ndarray  # float32 [C, P, P]
    passes: list[np.ndarray]
    dropped: list[list[int]]
    presence: dict[str, float]
    logits: list[float]
    image_size: tuple[int, int]
    work_image: np.ndarray
    seconds: dict = field(default_factory=dict)


@dataclass
class _PassOutput:
    """The dropout passes of one image: K maps [C, P, P], dropped patches, match logits."""

    maps: list[np.ndarray]
    dropped: list[list[int]]
    logits: list[float]


class PnpOvssSegmenter(Segmenter):
    """PnP-OVSS on a loaded BLIP ITM model."""

    engine = ENGINE
    wants_postprocess_pool = True  # the dense CRF holds the GIL for 0.2-1 s per image

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
        self.patch_size = int(model.config.vision_config.patch_size)
        if config.image_size % self.patch_size:
            raise ValueError(f"image_size must be a multiple of the model's {self.patch_size} px patch, "
                             f"not {config.image_size}")
        self.grid = config.image_size // self.patch_size
        """Patches per side (21 at 336 px with 16 px patches)."""
        vision_dtype = vision_dtype or dtype_for(config.vision_dtype, device)
        model.vision_model.to(dtype=vision_dtype)
        if config.vision_attention == "sdpa":
            use_sdpa_vision_attention(model)
        self.itm = BlipItm(model, layer_index=layer_index, head=config.head, vision_dtype=vision_dtype, device=device)
        self.captions = CaptionBuilder(
            tokenizer, prefix=config.caption_prefix, max_length=text_cfg.max_position_embeddings
        )

    @classmethod
    def from_source(cls, source, device: torch.device, *, dtype=None, config=None) -> "PnpOvssSegmenter":
        """``dtype`` overrides the ViT's compute dtype (default: config.vision_dtype, i.e.
        bf16/fp16 on CUDA and fp32 elsewhere); the text encoder, whose gradient gives
        the maps, always runs in float32."""
        config = cls.config_from(config)
        net, tokenizer = load_blip(source)
        if isinstance(dtype, str):
            dtype = dtype_for(dtype, device)
        return cls(move_to_device(net, device), tokenizer, config, device, vision_dtype=dtype)

    @staticmethod
    def config_from(config) -> SegmenterConfig:
        """Its own config as is; None -> defaults; another engine's config -> its presence_threshold."""
        if config is None or isinstance(config, SegmenterConfig):
            return config or SegmenterConfig()
        return SegmenterConfig(presence_threshold=getattr(config, "presence_threshold", None))

    # ------------------------------------------------------------------ public API
    def _segment_batch(self, images: list, names: list[list[str]], progress: Progress | None,
                       cancel: CancelToken | None, batch_size: int) -> list[SegmentationResult]:
        chunks, tracker = self._plan(images, names, progress, batch_size)
        pool = self._pool()
        results: list[SegmentationResult] = []
        pending: list[tuple[_Maps, object]] = []
        try:
            for chunk in chunks:
                rgbs = [load_rgb(images[i]) for i in chunk]
                for maps in self._segment_chunk(rgbs, [names[i] for i in chunk], tracker, cancel):
                    if pool is None:
                        results.append(_result(maps, self._label_map(maps)))
                        tracker.image_done()
                    else:  # the CRF holds the GIL: another process overlaps it with the next chunk
                        # and leaves this process's other threads (a GUI) free to run
                        pending.append((maps, pool.submit(label_map_from_maps, maps.heatmaps, maps.image_size,
                                                          maps.work_image, self.config)))
            for maps, fut in pending:
                results.append(_result(maps, _wait(fut, cancel)))
                tracker.image_done()
        except BaseException:
            for _, fut in pending:
                fut.cancel()
            raise
        return results

    def _plan(self, images: list, names: list[list[str]], progress: Progress | None, batch_size: int):
        """(chunks of image indices, progress tracker); fails before any model work if a
        caption cannot fit."""
        for n in names:
            self.captions.build(n)
        chunks = [range(i, min(i + batch_size, len(images))) for i in range(0, len(images), batch_size)]
        tracker = ProgressTracker(progress, total_passes=self.config.drop_passes * len(chunks),
                                  total_images=len(images))
        return chunks, tracker

    def _segment_batch_pending(self, images: list, names: list[list[str]], progress: Progress | None,
                               cancel: CancelToken | None, batch_size: int) -> list[PendingResult]:
        chunks, tracker = self._plan(images, names, progress, batch_size)
        pending = []
        for chunk in chunks:
            rgbs = [load_rgb(images[i]) for i in chunk]
            for maps in self._segment_chunk(rgbs, [names[i] for i in chunk], tracker, cancel):
                pending.append(PendingResult(finish_maps, (maps, self.config)))
        return pending

    def _pool(self):
        """The processes handed for blur + CRF (``use_postprocess_pool``; None: this thread)."""
        return self.postprocess_pool

    def postprocess(self, result: SegmentationResult, threshold: float | None = None,
                    background: str | None = None, crf: bool | None = None,
                    blur: bool | None = None) -> np.ndarray:
        """A new label map from the result's heatmaps with other settings (no model call)."""
        if background is not None and background not in ("auto", "always", "never"):
            raise ValueError(f"background must be 'auto', 'always' or 'never', not {background!r}")
        threshold = class_thresholds(threshold, result.classes, self.config.threshold)
        args = (result.heatmaps, result.image_size, result.work_image, self.config)
        options = dict(threshold=threshold, background=background, blur=blur, crf=crf)
        future = self.postprocess_async(result, threshold, background=background, crf=crf, blur=blur)
        if future is None:
            return label_map_from_maps(*args, **options).label_map
        return future.result()

    def postprocess_async(self, result: SegmentationResult, threshold: float | None = None,
                          background: str | None = None, crf: bool | None = None, blur: bool | None = None):
        """``postprocess`` in the handed pool (a Future of the label map), None without one."""
        pool = self._pool()
        if pool is None:
            return None
        if background is not None and background not in ("auto", "always", "never"):
            raise ValueError(f"background must be 'auto', 'always' or 'never', not {background!r}")
        threshold = class_thresholds(threshold, result.classes, self.config.threshold)
        return pool.submit(label_map_only, result.heatmaps, result.image_size, result.work_image, self.config,
                           threshold=threshold, background=background, blur=blur, crf=crf)

    # ------------------------------------------------------------------ internals
    def _label_map(self, maps: _Maps) -> PostprocessOutput:
        return label_map_from_maps(maps.heatmaps, maps.image_size, maps.work_image, self.config)

    def _segment_chunk(self, rgbs, names, tracker: ProgressTracker, cancel) -> list[_Maps]:
        cfg = self.config
        check_cancel(cancel)
        with oom_guard(self.device):
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
            if active:
                outputs = dict(zip(active, self._dropout_passes(x, tokens0, [kept[i] for i in active], active,
                                                                seconds, tracker, cancel)))
            else:
                outputs = {}
                tracker.passes_done(cfg.drop_passes)

        return [self._maps(rgb, kept[i], outputs.get(i), presence[i], dict(seconds)) for i, rgb in enumerate(rgbs)]

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

    def _dropout_passes(self, x, tokens0, kept: list[list[str]], active: list[int], seconds: dict,
                        tracker: ProgressTracker, cancel) -> list[_PassOutput]:
        """The K GradCAM passes of the images ``active`` (rows of x / tokens0), in that order."""
        cfg = self.config
        grid = self.grid
        caps: list[Caption] = [self.captions.build(k) for k in kept]
        ids, mask = self.captions.pad(caps)
        x = x[active]
        tokens = tokens0[active]
        outs = [_PassOutput([], [[] for _ in range(cfg.drop_passes)], []) for _ in active]
        for k in range(cfg.drop_passes):
            check_cancel(cancel)
            if k > 0:
                t = time.perf_counter()
                tokens = self.itm.image_tokens(zero_patches(x, [o.dropped[k] for o in outs], grid, self.patch_size))
                seconds["vit"] += time.perf_counter() - t
            t = time.perf_counter()
            cam, z = self.itm.gradcam(tokens, ids, mask)  # [B, L, P, P]
            # Everything of this pass stays on the device until one copy per kind at the
            # end (the class maps, the match logits, the patches to drop): per-image
            # copies cost B host syncs per kind and pass on a GPU.
            maps_dev = []
            tops = []  # the indices of each image's top patches
            for b, out in enumerate(outs):
                per_class = class_maps(cam[b], caps[b])  # [C, P, P]
                zero = out.dropped[k]
                if zero:
                    per_class[:, [p // grid for p in zero], [p % grid for p in zero]] = 0
                maps_dev.append(per_class)
                if k + 1 < cfg.drop_passes:
                    # Most salient patches over every class row (the [SEP] and padding
                    # rows never count, so batch composition cannot change the choice).
                    score = cam[b, caps[b].class_positions].sum(dim=0).flatten()  # [N]
                    if zero:
                        score[zero] = -torch.inf
                    # one topk per image, as before: a batched call could break exact ties
                    # differently, so an image's patches would depend on its batch
                    tops.append(torch.topk(score, cfg.drop_patches).indices)
            sizes = [m.shape[0] for m in maps_dev]
            host_maps = torch.cat(maps_dev).cpu().numpy().astype(np.float32)
            logits = z.cpu().tolist()
            top = torch.stack(tops).cpu().tolist() if tops else None
            start = 0
            for b, out in enumerate(outs):
                out.maps.append(host_maps[start:start + sizes[b]])
                start += sizes[b]
                out.logits.append(float(logits[b]))
                if top is not None:
                    out.dropped[k + 1] = out.dropped[k] + top[b]
            seconds["text"] += time.perf_counter() - t
            tracker.passes_done(1)
        return outs

    def _maps(self, rgb, classes, passes: _PassOutput | None, presence, seconds) -> _Maps:
        """Everything of one image but its label map."""
        cfg = self.config
        height, width = rgb.shape[:2]
        if passes is not None:
            heat = cfg.first_pass_weight * passes.maps[0]
            for later in passes.maps[1:]:  # 2*G0 + G1 + G2 + G3, summed in pass order
                heat = heat + later
            per_pass, dropped, logits = passes.maps, passes.dropped, passes.logits
        else:
            heat = np.zeros((0, self.grid, self.grid), np.float32)
            per_pass = [heat.copy() for _ in range(cfg.drop_passes)]
            dropped, logits = [[] for _ in range(cfg.drop_passes)], []
        h, w, _ = working_size(height, width, cfg.crf_max_side)
        return _Maps(list(classes), heat.astype(np.float32), per_pass, dropped, presence, logits,
                     (height, width), resize_rgb(rgb, h, w), seconds)


def label_map_only(*args, **options) -> np.ndarray:
    """``label_map_from_maps(...).label_map`` (what a pool's process sends back for ``postprocess``)."""
    return label_map_from_maps(*args, **options).label_map


def finish_maps(maps: _Maps, config: SegmenterConfig, threshold: float | None = None,
                background: str | None = None) -> SegmentationResult:
    """The result of one image's model output: its label map made here (blur + CRF). *threshold*:
    a float or per class (``engine.base.class_thresholds``)."""
    threshold = class_thresholds(threshold, maps.classes, config.threshold)
    return _result(maps, label_map_from_maps(maps.heatmaps, maps.image_size, maps.work_image, config,
                                             threshold=threshold, background=background))


def _result(maps: _Maps, post: PostprocessOutput) -> SegmentationResult:
    return SegmentationResult(
        classes=maps.classes, heatmaps=maps.heatmaps, presence=maps.presence, label_map=post.label_map,
        image_size=maps.image_size, engine=ENGINE, passes=maps.passes, dropped=maps.dropped,
        work_image=maps.work_image, match_logits=maps.logits, seconds={**maps.seconds, **post.seconds},
    )


def _wait(fut, cancel) -> PostprocessOutput:
    """A post-processing future's output, checking the cancel token every 0.1 s."""
    while True:
        check_cancel(cancel)
        try:
            return fut.result(timeout=0.1)
        except FutureTimeout:
            continue


def zero_patches(x: torch.Tensor, dropped: list[list[int]], grid: int, patch: int) -> torch.Tensor:
    """Zero patch-sized input blocks (0 in normalised space = the mean colour) per image.

    One mask for the whole batch, built on the host and applied in one kernel (a block
    per dropped patch cost up to 30 kernel launches per image and pass on a GPU).
    """
    batch, side = x.shape[0], grid * patch
    if x.shape[-2:] != (side, side):
        raise ValueError(f"input is {tuple(x.shape[-2:])} px, expected {side} x {side} ({grid} patches of {patch} px)")
    keep = torch.ones(batch, grid * grid, dtype=torch.bool)
    for b, patches in enumerate(dropped):
        if patches:
            keep[b, list(patches)] = False
    if bool(keep.all()):
        return x.clone()
    keep = keep.view(batch, 1, grid, 1, grid, 1).expand(batch, 1, grid, patch, grid, patch).reshape(batch, 1, side, side)
    keep = keep.to(x.device, non_blocking=True)
    return torch.where(keep, x, torch.zeros((), dtype=x.dtype, device=x.device))
