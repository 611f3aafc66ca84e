"""PnP-OVSS on Hugging Face BLIP: image + class names in, heatmaps + label map out.

No Qt and no annotation concepts here; see ``Segmenter``.
"""

from .config import DEFAULT_MODEL, SegmenterConfig
from .errors import Cancelled, DeviceOutOfMemoryError, EngineError, ModelNotFoundError
from .segmenter import SegmentationResult, Segmenter

__all__ = [
    "DEFAULT_MODEL",
    "Cancelled",
    "DeviceOutOfMemoryError",
    "EngineError",
    "ModelNotFoundError",
    "SegmentationResult",
    "Segmenter",
    "SegmenterConfig",
]
