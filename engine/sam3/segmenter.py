"""SAM 3 behind the ``Segmenter`` contract: one text prompt per class, the image encoded once.

Per image: the vision encoder runs once (its output is kept in a small LRU keyed by the
image's content and size, so a re-prompt with other classes skips it); the class prompts
run through the text encoder, DETR encoder/decoder and mask decoder ``prompt_batch_size``
at a time against that one embedding. For each class this gives what HF's own pipeline
(``Sam3Processor(images=img, text=c)`` -> ``Sam3Model`` -> post-processing) gives:

* heatmap: sigmoid of ``semantic_seg`` at the model's output resolution;
* presence: sigmoid of the prompt's presence logit;
* instances: HF's ``post_process_instance_segmentation`` (score > instance_threshold,
  mask > mask_threshold, at image size), highest score first;
* label map: the probabilities resized as HF resizes them, 1 + argmax where the max is
  >= the semantic threshold, else 0 (``postprocess`` redoes it without a model call).
"""

from __future__ import annotations

import hashlib
import time

import numpy as np
import torch

from ..base import (
    CancelToken, Instance, LRUCache, Progress, ProgressTracker, SegmentationResult, check_cancel, class_thresholds,
    dtype_for, move_to_device, oom_guard,
)
from ..errors import EngineError
from ..images import load_rgb
from ..loading import load_from_source
from ..segmenter import Segmenter
from .config import Sam3SegmenterConfig
from .postprocess import label_map_from_probabilities

ENGINE = "sam3"


class Sam3Segmenter(Segmenter):
    """SAM 3 (``Sam3Model`` + ``Sam3Processor``) with an image-embedding cache.

    Images go through the model one at a time (``segment_batch``'s ``batch_size`` is not
    used: the batch dimension carries the class prompts of one image instead)."""

    engine = ENGINE

    def __init__(self, model, processor, config: Sam3SegmenterConfig, device: torch.device, dtype=None):
        self.config = config
        self.device = device
        self.model = model.eval()
        self.model.requires_grad_(False)
        self.processor = processor
        self.dtype = dtype or dtype_for(config.dtype, device)
        self.model.to(dtype=self.dtype)
        self.max_tokens = int(model.config.text_config.max_position_embeddings)
        self.patch_size = int(model.config.vision_config.backbone_config.patch_size)
        self._vision_cache: LRUCache = LRUCache(config.vision_cache_size)

    @classmethod
    def from_source(cls, source, device: torch.device, *, dtype=None, config=None) -> "Sam3Segmenter":
        try:
            import torchvision  # noqa: F401 - SAM 3's image processor and roi_align need it
            from transformers import Sam3Model, Sam3Processor
        except ImportError as exc:
            raise EngineError(
                f"SAM 3 needs torchvision and transformers >= 5 ({exc}); install them next to torch, e.g. "
                "pip install torchvision 'transformers>=5' (the same CPU or CUDA build as your torch)") from exc

        config = cls.config_from(config)
        processor = load_from_source(source, "processor (image processor + tokenizer)", Sam3Processor.from_pretrained)
        net = load_from_source(source, "weights", Sam3Model.from_pretrained)
        if isinstance(dtype, str):
            dtype = dtype_for(dtype, device)
        return cls(move_to_device(net, device), processor, config, device, dtype=dtype)

    @staticmethod
    def config_from(config) -> Sam3SegmenterConfig:
        """Its own config as is; None -> defaults; another engine's config -> its presence_threshold
        (its ``threshold`` is on another scale and is not carried over)."""
        if config is None or isinstance(config, Sam3SegmenterConfig):
            return config or Sam3SegmenterConfig()
        return Sam3SegmenterConfig(presence_threshold=getattr(config, "presence_threshold", None))

    # ------------------------------------------------------------------ public API
    def postprocess(self, result: SegmentationResult, threshold: float | None = None,
                    background: str | None = None, crf: bool | None = None,
                    blur: bool | None = None) -> np.ndarray:
        """A new label map from the result's probabilities at another semantic threshold (no model call).

        ``background``, ``crf`` and ``blur`` are PnP-OVSS settings; SAM 3 has no such step
        and accepts them (checked) so that callers can treat both engines alike.
        """
        if background is not None and background not in ("auto", "always", "never"):
            raise ValueError(f"background must be 'auto', 'always' or 'never', not {background!r}")
        threshold = class_thresholds(threshold, result.classes, self.config.threshold)
        if not np.ndim(threshold) and not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], not {threshold}")
        return label_map_from_probabilities(result.heatmaps, result.image_size, threshold)

    def find_like(self, image, boxes, labels, text: str | None = None, threshold: float | None = None):
        """Instances like the positive exemplar boxes (label 1), unlike the negative ones (label 0),
        with the class *text* or boxes only: ``exemplars.find_like`` (the vision features cached)."""
        from .exemplars import find_like

        return find_like(self, image, boxes, labels, text, threshold)

    def close(self) -> None:
        self._vision_cache.clear()

    # ------------------------------------------------------------------ internals
    def _segment_batch(self, images: list, names: list[list[str]], progress: Progress | None,
                       cancel: CancelToken | None, batch_size: int) -> list[SegmentationResult]:
        tokens = [self._tokens(n) for n in names]  # fail before any model work on a too-long name
        step = self.config.prompt_batch_size
        chunks_per_image = [-(-len(n) // step) for n in names]
        tracker = ProgressTracker(progress, total_passes=sum(chunks_per_image), total_images=len(images))
        results = []
        for image, classes, (ids, mask) in zip(images, names, tokens):
            check_cancel(cancel)
            results.append(self._segment_one(load_rgb(image), classes, ids, mask, tracker, cancel))
            tracker.image_done()
        return results

    def _tokens(self, classes: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(input_ids, attention_mask) [C, max_tokens], padded as Sam3Processor pads one prompt."""
        tok = self.processor.tokenizer
        for name in classes:
            n = len(tok(name)["input_ids"])
            if n > self.max_tokens:
                raise ValueError(f"Class {name!r} is too long for SAM 3's text encoder: {n} tokens, the limit is "
                                 f"{self.max_tokens}; use a shorter name")
        enc = tok(classes, padding="max_length", max_length=self.max_tokens, return_tensors="pt")
        return enc["input_ids"], enc["attention_mask"]

    def _segment_one(self, rgb: np.ndarray, classes: list[str], ids, mask, tracker, cancel) -> SegmentationResult:
        height, width = rgb.shape[:2]
        seconds = {"vision": 0.0, "decoder": 0.0, "postprocess": 0.0}
        with oom_guard(self.device):
            t0 = time.perf_counter()
            vision = self._vision(rgb)
            seconds["vision"] = time.perf_counter() - t0
            heat, presence, found = [], [], []
            step = self.config.prompt_batch_size
            for start in range(0, len(classes), step):
                check_cancel(cancel)
                t = time.perf_counter()
                out = self._decode(vision, ids[start:start + step], mask[start:start + step])
                seconds["decoder"] += time.perf_counter() - t
                t = time.perf_counter()
                heat.append(out.semantic_seg.float().sigmoid()[:, 0].cpu().numpy())
                chunk_presence = out.presence_logits.float().sigmoid()[:, 0].cpu().tolist()
                presence.extend(chunk_presence)
                found.extend(self._instances(out, (height, width), [self._present(p) for p in chunk_presence]))
                seconds["postprocess"] += time.perf_counter() - t
                tracker.passes_done(1)
        t = time.perf_counter()
        heatmaps = np.concatenate(heat).astype(np.float32)
        presence_of = {c: float(p) for c, p in zip(classes, presence)}
        keep = [i for i, c in enumerate(classes) if self._present(presence_of[c])]
        instances = [Instance(keep.index(ci), score, box, m)
                     for ci in keep for score, box, m in found[ci]]
        heatmaps = heatmaps[keep]
        label_map = label_map_from_probabilities(heatmaps, (height, width), self.config.threshold)
        seconds["postprocess"] += time.perf_counter() - t
        return SegmentationResult(
            classes=[classes[i] for i in keep], heatmaps=heatmaps, presence=presence_of, label_map=label_map,
            image_size=(height, width), engine=ENGINE, instances=instances, seconds=seconds,
        )

    def _present(self, p: float) -> bool:
        thr = self.config.presence_threshold
        return thr is None or p >= thr

    def _vision(self, rgb: np.ndarray):
        """The vision encoder's output for this image (cached by content and size)."""
        key = (hashlib.blake2b(np.ascontiguousarray(rgb).data, digest_size=16).hexdigest(), rgb.shape)
        cached = self._vision_cache.get(key)
        if cached is not None:
            return cached
        from transformers.models.sam3.modeling_sam3 import Sam3VisionEncoderOutput

        pixels = self.processor.image_processor(images=rgb, return_tensors="pt",
                                                input_data_format="channels_last")["pixel_values"]
        with torch.no_grad():
            out = self.model.get_vision_features(pixel_values=pixels.to(self.device, dtype=self.dtype))
        # Only what the decoders read (the ViT's last hidden state is not kept).
        slim = Sam3VisionEncoderOutput(fpn_hidden_states=tuple(out.fpn_hidden_states),
                                       fpn_position_encoding=tuple(out.fpn_position_encoding))
        self._vision_cache.put(key, slim)
        return slim

    def _decode(self, vision, ids: torch.Tensor, mask: torch.Tensor):
        """Text encoder + DETR encoder/decoder + mask decoder for n prompts against one image."""
        from transformers.models.sam3.modeling_sam3 import Sam3VisionEncoderOutput

        n = ids.shape[0]
        batch = Sam3VisionEncoderOutput(
            fpn_hidden_states=tuple(t.expand(n, *t.shape[1:]) for t in vision.fpn_hidden_states),
            fpn_position_encoding=tuple(t.expand(n, *t.shape[1:]) for t in vision.fpn_position_encoding),
        )
        with torch.no_grad():
            return self.model(vision_embeds=batch, input_ids=ids.to(self.device),
                              attention_mask=mask.to(self.device))

    def _instances(self, out, image_size, wanted: list[bool],
                   threshold: float | None = None) -> list[list[tuple[float, tuple, np.ndarray]]]:
        """Per prompt of ``out``: [(score, box xyxy px, bool mask [H, W])], highest score first
        ([] for prompts not *wanted*: classes the presence threshold drops).

        HF's ``post_process_instance_segmentation`` runs on one query at a time, so at most
        one mask is resized to the image at once (a 100 MP photo would otherwise need every
        kept query's float mask at full size together); its results are the same.
        """
        threshold = self.config.instance_threshold if threshold is None else float(threshold)
        rows, queries = out.pred_logits.shape
        found = []
        for r in range(rows):
            kept = []
            for q in (self._candidates(out, r, threshold) if wanted[r] else ()):
                one = self.processor.post_process_instance_segmentation(
                    _Float(out, r, q), threshold=threshold,
                    mask_threshold=self.config.mask_threshold, target_sizes=[tuple(image_size)])[0]
                if len(one["scores"]):
                    kept.append((float(one["scores"][0]), tuple(float(v) for v in one["boxes"][0]),
                                 one["masks"][0].bool().cpu().numpy()))
            found.append(sorted(kept, key=lambda k: -k[0]))  # stable: ties keep query order
        return found

    def _candidates(self, out, r: int, threshold: float) -> list[int]:
        """Queries of prompt *r* whose score passes the instance threshold, found in one
        vectorised step on the device (score = sigmoid(logit) x sigmoid(presence), HF's rule),
        so the per-query post-processing runs only for those: on a GPU, 200 queries per
        prompt would otherwise cost 200 synchronising calls."""
        scores = out.pred_logits[r].float().sigmoid()
        if out.presence_logits is not None:
            scores = scores * out.presence_logits[r].float().sigmoid()
        return torch.nonzero(scores > threshold).flatten().tolist()


class _Float:
    """Query *q* of prompt *r* of the decoder outputs, as HF's instance post-processing reads them, in float32."""

    def __init__(self, out, r: int, q: int):
        self.pred_logits = out.pred_logits[r:r + 1, q:q + 1].float()
        self.pred_boxes = out.pred_boxes[r:r + 1, q:q + 1].float()
        self.pred_masks = out.pred_masks[r:r + 1, q:q + 1].float()
        self.presence_logits = None if out.presence_logits is None else out.presence_logits[r:r + 1].float()
