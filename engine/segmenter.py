"""``Segmenter``: the one entry point; ``Segmenter.load`` picks the engine from the checkpoint.

    seg = Segmenter.load("Salesforce/blip-itm-large-flickr")   # BlipConfig -> PnP-OVSS
    seg = Segmenter.load("facebook/sam3")                      # Sam3Config -> SAM 3
    seg.engine                                                 # "pnp-ovss" | "sam3"
    res = seg.segment("photo.jpg", ["sky", "road", "car"])
    res.label_map   # int32 [H, W]: 0 = unlabeled, i = res.classes[i - 1]

Every engine subclasses ``Segmenter`` and implements ``from_source``, ``segment_batch`` and
``postprocess`` with the same progress/cancel/errors behaviour.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch

from .base import CancelToken, PendingResult, Progress, SegmentationResult, per_image_classes
from .config import DEFAULT_MODEL
from .errors import ModelNotFoundError
from .images import ImageInput
from .loading import ModelSource, check_torch_stack, resolve_device, resolve_model_source
from .prompts import normalize_classes


class Segmenter:
    """A loaded model plus its configuration; thread-compatible (one job at a time)."""

    engine: str = ""
    """"pnp-ovss" or "sam3"."""
    config: object
    device: torch.device

    @classmethod
    def load(
        cls,
        model: str = DEFAULT_MODEL,
        device: str = "auto",
        dtype: Optional[torch.dtype | str] = None,
        config=None,
    ) -> "Segmenter":
        """Load from a Hugging Face id or a local folder; the checkpoint's config picks the engine.

        ``config``: the engine's own config (``SegmenterConfig`` for PnP-OVSS,
        ``Sam3SegmenterConfig`` for SAM 3) or None for its defaults. A config of the other
        engine passes on what both share (``presence_threshold``); see each engine's
        ``config_from``. ``dtype`` overrides the compute dtype. Raises ModelNotFoundError
        with instructions, ValueError for a device that is not there.
        """
        dev = resolve_device(device)
        check_torch_stack()
        source = resolve_model_source(model)
        impl = engine_class(source.engine.name)
        if not issubclass(impl, cls):
            raise ModelNotFoundError(f"'{model}' is a {source.engine.title} model, not one {cls.__name__} runs")
        return impl.from_source(source, dev, dtype=dtype, config=config)

    @classmethod
    def from_source(cls, source: ModelSource, device: torch.device, *, dtype=None, config=None) -> "Segmenter":
        raise NotImplementedError(f"{cls.__name__} is not an engine; use Segmenter.load")

    # ------------------------------------------------------------------ public API
    def segment(self, image: ImageInput, classes, progress: Progress | None = None,
                cancel: CancelToken | None = None) -> SegmentationResult:
        """Segment one image (path, PIL image or uint8 array) into the given classes."""
        return self.segment_batch([image], [classes], progress=progress, cancel=cancel)[0]

    def segment_batch(self, images: Sequence[ImageInput], classes_per_image, progress: Progress | None = None,
                      cancel: CancelToken | None = None, batch_size: int = 8) -> list[SegmentationResult]:
        """Segment several images, ``batch_size`` at a time through the model.

        ``classes_per_image``: one class list per image, or a single list for all; each is
        normalised (``engine.prompts.normalize_classes``: ValueError naming a bad entry)
        before any model work. Results do not depend on which images share a batch.
        """
        images = list(images)
        names = [normalize_classes(c) for c in per_image_classes(images, classes_per_image)]
        return self._segment_batch(images, names, progress, cancel, max(1, int(batch_size)))

    def _segment_batch(self, images: list, names: list[list[str]], progress: Progress | None,
                       cancel: CancelToken | None, batch_size: int) -> list[SegmentationResult]:
        """The engine's work on checked inputs (class lists already normalised)."""
        raise NotImplementedError

    def segment_batch_pending(self, images: Sequence[ImageInput], classes_per_image,
                              progress: Progress | None = None, cancel: CancelToken | None = None,
                              batch_size: int = 8) -> list[PendingResult]:
        """``segment_batch`` without the post-processing: the model runs now, and each
        ``PendingResult.finish()`` (picklable: any process) gives the result
        ``segment_batch`` would have given (with ``postprocess``'s threshold/background
        when given). The "postprocess" progress stage is not reported. Engines whose
        post-processing is cheap return finished results.
        """
        images = list(images)
        names = [normalize_classes(c) for c in per_image_classes(images, classes_per_image)]
        return self._segment_batch_pending(images, names, progress, cancel, max(1, int(batch_size)))

    def _segment_batch_pending(self, images: list, names: list[list[str]], progress: Progress | None,
                               cancel: CancelToken | None, batch_size: int) -> list[PendingResult]:
        return [PendingResult.of(r) for r in self._segment_batch(images, names, progress, cancel, batch_size)]

    def postprocess(self, result: SegmentationResult, threshold: float | None = None, **options):
        """A new label map from ``result`` with other settings, without a model call."""
        raise NotImplementedError

    postprocess_pool = None
    """Processes the engine post-processes in (``use_postprocess_pool``); None: the calling thread."""
    wants_postprocess_pool: bool = False
    """Its post-processing is worth other processes (PnP-OVSS's CRF); SAM 3's is not."""

    def use_postprocess_pool(self, pool) -> None:
        """Hand the engine processes for its post-processing: any executor with
        ``submit(fn, *args, **kwargs) -> Future`` (``annotator.core.postpool.PostprocessPool.executor``).
        None: post-process in the calling thread. The engine never starts or stops processes;
        whoever hands it a pool closes it. Engines whose post-processing is cheap ignore it."""
        self.postprocess_pool = pool

    def postprocess_async(self, result: SegmentationResult, threshold: float | None = None, **options):
        """``postprocess`` in the handed pool: a Future of the label map, or None when the engine
        has no pool (call ``postprocess`` then). The caller's thread is free meanwhile."""
        return None

    @property
    def default_threshold(self) -> float:
        """The threshold ``postprocess`` uses when given none (the engine's own scale)."""
        return float(self.config.threshold)

    def close(self) -> None:
        """Release helper processes or caches, if the engine keeps any."""


def engine_class(name: str) -> type[Segmenter]:
    """The Segmenter subclass of an engine name (the registry's loader, imported on first use)."""
    from .config import segmenter_class

    return segmenter_class(name)
