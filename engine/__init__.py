"""Open-vocabulary segmentation engines: image + class names in, heatmaps + label map out.

Two engines behind one contract (``Segmenter.load`` picks one from the checkpoint):
PnP-OVSS on Hugging Face BLIP (``engine.pnp_ovss``, the default) and SAM 3
(``engine.sam3``). No Qt and no annotation concepts here.
"""

from .base import Instance, SegmentationResult
from .config import DEFAULT_MODEL, ENGINES, SAM3_MODEL
from .errors import Cancelled, DeviceOutOfMemoryError, EngineError, ModelNotFoundError
from .pnp_ovss.config import SegmenterConfig
from .segmenter import Segmenter

__all__ = [
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
