"""Open-vocabulary segmentation engines: image + class names in, heatmaps + label map out.

Two engines behind one contract (``Segmenter.load`` picks one from the checkpoint):
PnP-OVSS on Hugging Face BLIP (``engine.pnp_ovss``, the default) and SAM 3
(``engine.sam3``). No Qt and no annotation concepts here.
"""

from .config import DEFAULT_MODEL, ENGINES, SAM3_MODEL
from .errors import BrokenInstallError, Cancelled, DeviceOutOfMemoryError, EngineError, ModelNotFoundError
from .pnp_ovss.config import SegmenterConfig

# Names whose modules import torch load on first use, so that `engine.images`,
# `engine.errors` and `engine.prompts` stay light for commands that run no model
# (export, import: 3.5 s of torch import saved).
_LAZY = {"Instance": ".base", "SegmentationResult": ".base", "Segmenter": ".segmenter"}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value

__all__ = [
    "BrokenInstallError",
    "DEFAULT_MODEL",
    "ENGINES",
    "SAM3_MODEL",
    "Cancelled",
    "DeviceOutOfMemoryError",
    "EngineError",
    "Instance",
    "ModelNotFoundError",
    "SegmentationResult",
    "Segmenter",
    "SegmenterConfig",
]
