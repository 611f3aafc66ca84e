"""Click-to-segment: SAM 2.1 (or the SAM 3 tracker) through transformers.

``InteractiveSegmenter.load(model, device)`` picks the model class from the model
folder's config; ``set_image`` runs the image encoder once per image (bounded LRU
cache of embeddings) and ``predict`` runs only the prompt encoder and mask decoder.
No Qt and no annotation concepts here.
"""

from .loading import DEFAULT_INTERACTIVE_MODEL, interactive_classes, load_interactive_model
from .segmenter import InteractiveSegmenter, Prediction

__all__ = [
    "DEFAULT_INTERACTIVE_MODEL",
    "interactive_classes",
    "InteractiveSegmenter",
    "Prediction",
    "load_interactive_model",
]
