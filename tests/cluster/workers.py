"""Segmenter factories that run inside the test's Ray actors.

The conftest registers this module to be pickled by value: the actors need not
import the test package.
"""

from __future__ import annotations

import os
from pathlib import Path

POISON_SIZE = (29, 37)  # (H, W) of the image whose batch kills the actor every time


class DyingSegmenter:
    """The real segmenter, except that its process exits (as after a native crash) on
    its first batch ever (once *marker* exists it does not) and on every batch that
    holds an image of POISON_SIZE."""

    def __init__(self, segmenter, marker: str) -> None:
        self._segmenter = segmenter
        self._marker = Path(marker)

    def segment_batch(self, images, *args, **kwargs):
        if any(tuple(image.shape[:2]) == POISON_SIZE for image in images):
            os._exit(3)
        if not self._marker.exists():
            self._marker.write_text(str(os.getpid()))
            os._exit(3)
        return self._segmenter.segment_batch(images, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._segmenter, name)


def load_dying(model_dir: str, marker: str) -> DyingSegmenter:
    from engine import Segmenter

    return DyingSegmenter(Segmenter.load(model=model_dir, device="cpu"), marker)


def load_tiny(model_dir: str):
    from engine import Segmenter

    return Segmenter.load(model=model_dir, device="cpu")
