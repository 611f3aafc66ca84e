"""Types and helpers every engine shares: the result, progress, cancel, OOM, a small LRU cache.

An engine (``engine.pnp_ovss``, ``engine.sam3``) turns one image plus class names into a
``SegmentationResult``; ``engine.segmenter.Segmenter`` is the one public entry point.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Hashable, Optional, Protocol, TypeVar

import numpy as np
import torch

from .errors import Cancelled, DeviceOutOfMemoryError

Progress = Callable[[str, int, int], None]
"""progress(stage, done, total): stage is "pass" (model work) or "postprocess" (one image finished)."""


class CancelToken(Protocol):
    def is_set(self) -> bool: ...


@dataclass(frozen=True)
class Instance:
    """One object found by an instance engine (SAM 3)."""

    class_index: int
    """0-based index into ``SegmentationResult.classes``."""
    score: float
    """Detection score in [0, 1] (SAM 3: query score times the prompt's presence)."""
    box: tuple[float, float, float, float]
    """(x0, y0, x1, y1) in image pixels."""
    mask: np.ndarray = field(repr=False)
    """bool [H, W] at the original image size."""


@dataclass
class SegmentationResult:
    """What an engine returns for one image; built once, complete."""

    classes: list[str]
    """Classes as used: normalised, deduplicated, presence-filtered, in the given order."""
    heatmaps: np.ndarray
    """float32 [C, h, w] per class (PnP-OVSS: aggregated GradCAM on the patch grid;
    SAM 3: semantic probability at the model's output resolution)."""
    presence: dict[str, float]
    """Probability that each requested class is in the image (all requested classes)."""
    label_map: np.ndarray
    """int32 [H, W] at the original image size: 0 = unlabeled, i = classes[i - 1]."""
    image_size: tuple[int, int]
    """(H, W) of the original image."""
    engine: str = "pnp-ovss"
    """Which engine made it: "pnp-ovss" or "sam3"."""
    instances: list[Instance] = field(default_factory=list)
    """SAM 3: objects per class, highest score first within each class; PnP-OVSS: empty."""
    passes: list[np.ndarray] = field(default_factory=list)
    """PnP-OVSS: K float32 [C, P, P], the per-pass maps with dropped patches zeroed."""
    dropped: list[list[int]] = field(default_factory=list)
    """PnP-OVSS: K lists of patch indices (row * P + col) zeroed before each pass."""
    work_image: Optional[np.ndarray] = field(repr=False, default=None)
    """PnP-OVSS: the RGB image at the post-processing working size (for postprocess)."""
    match_logits: list[float] = field(default_factory=list)
    """PnP-OVSS: ITM match logit of the full caption at each pass."""
    seconds: dict = field(default_factory=dict)
    """Wall time per stage (engine-specific keys, e.g. vit/text/postprocess or vision/decoder)."""


@dataclass
class PendingResult:
    """One image's model output whose post-processing (output -> label map) is still to run.

    ``finish(threshold=None, background=None)`` runs it and returns the complete
    ``SegmentationResult``; it needs no model, and the object pickles, so another process
    can run it (``Segmenter.segment_batch_pending``). ``function(*args, threshold=...,
    background=...)`` is a module-level function of the engine.
    """

    function: Callable[..., SegmentationResult]
    args: tuple

    def finish(self, threshold: float | None = None, background: str | None = None) -> SegmentationResult:
        return self.function(*self.args, threshold=threshold, background=background)

    @classmethod
    def of(cls, result: SegmentationResult) -> "PendingResult":
        """An already finished result (engines whose post-processing is cheap)."""
        return cls(_finished, (result,))

    @property
    def ready(self) -> SegmentationResult | None:
        """The result when it is already finished (its label map made with the
        engine's own settings; ``Segmenter.postprocess`` redoes it), else None."""
        return self.args[0] if self.function is _finished else None


def class_thresholds(threshold, classes, default: float):
    """The threshold of each class: *threshold* is None (the engine's *default*), a float (every
    class), or a mapping {class name: float} whose key None, when present and not None, is the
    threshold of the classes it does not name (else *default*). A float when every class gets
    the same one, else a float32 array aligned with *classes*."""
    if threshold is None:
        return float(default)
    if not isinstance(threshold, Mapping):
        return float(threshold)
    rest = threshold.get(None)
    rest = float(default) if rest is None else float(rest)
    values = [float(threshold.get(name, rest)) for name in classes]
    if any(not 0.0 <= v <= 1.0 for v in values):
        raise ValueError(f"class thresholds must be in [0, 1], got {values}")
    if len(set(values)) <= 1:
        return values[0] if values else rest
    return np.asarray(values, np.float32)


def _finished(result: SegmentationResult, threshold=None, background=None) -> SegmentationResult:
    if threshold is not None or background is not None:
        raise ValueError("this result is already finished: use Segmenter.postprocess for another threshold "
                         "or background")
    return result


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRUCache(Generic[K, V]):
    """A tiny least-recently-used map (not thread-safe: one engine job at a time)."""

    def __init__(self, size: int):
        if size < 0:
            raise ValueError(f"cache size must be >= 0, not {size}")
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        if key not in self._items:
            return None
        self._items.move_to_end(key)
        return self._items[key]

    def put(self, key: K, value: V) -> None:
        if self.size == 0:
            return
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Any) -> bool:
        return key in self._items


def check_cancel(cancel: CancelToken | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("Cancelled")


def is_single_list(classes) -> bool:
    """True for one class list ("a, b" or ["a", "b"]), False for a list of lists."""
    return isinstance(classes, str) or (
        isinstance(classes, (list, tuple)) and all(isinstance(c, str) for c in classes) and len(classes) > 0
    )


def per_image_classes(images: list, classes_per_image) -> list:
    """One class list per image (a single list is used for all); length checked."""
    if is_single_list(classes_per_image):
        classes_per_image = [classes_per_image] * len(images)
    classes_per_image = list(classes_per_image)
    if len(classes_per_image) != len(images):
        raise ValueError(f"{len(images)} images but {len(classes_per_image)} class lists")
    return classes_per_image


def dtype_for(name: str, device: torch.device) -> torch.dtype:
    """'auto' is reduced precision only where it is fast (bf16 on CPUs without AMX is ~8x slower)."""
    if name == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


class ProgressTracker:
    """Counts model steps ("pass") and finished images ("postprocess") for a progress callback."""

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
def oom_guard(device: torch.device):
    """Turn the device's out-of-memory errors into DeviceOutOfMemoryError with advice."""
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


def move_to_device(net, device: torch.device):
    """net.to(device), with a clear error when the device is full."""
    try:
        return net.to(device)
    except torch.OutOfMemoryError as exc:
        raise DeviceOutOfMemoryError(f"Not enough {device} memory to load the model: {exc}; try --device cpu") from exc
