"""``Shape``: one annotated region of one class, a polygon with optional holes.

Coordinates are COCO's continuous pixel coordinates: pixel (col, row) covers the
square [col, col+1] x [row, row+1], so a polygon traced around a region's pixel
edges rasterises back (with pycocotools, the same code COCO users run) to exactly
those pixels. Rasterisation is the one definition of area, bbox and mask used by
the GUI, the COCO codec and the tests.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

SOURCES = ("model", "human")


def new_id() -> str:
    return uuid.uuid4().hex


def as_ring(points: Any, what: str) -> np.ndarray:
    """Validate and normalise a ring to float64 [N, 2], open (no repeated first point)."""
    try:
        ring = np.array(points, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what}: expected a list of [x, y] points ({exc})") from None
    if ring.ndim != 2 or ring.shape[1] != 2:
        raise ValueError(f"{what}: expected a list of [x, y] points, got an array of shape {ring.shape}")
    if len(ring) > 1 and np.array_equal(ring[0], ring[-1]):
        ring = ring[:-1]  # closed ring given: store it open
    if len(ring) < 3:
        raise ValueError(f"{what}: a polygon ring needs at least 3 points, got {len(ring)}")
    if not np.isfinite(ring).all():
        raise ValueError(f"{what}: coordinates must be finite numbers")
    return ring


@dataclass(eq=False)
class Shape:
    label: str
    exterior: np.ndarray
    holes: list[np.ndarray] = field(default_factory=list)
    source: str = "human"
    score: float | None = None
    accepted: bool = True
    id: str = field(default_factory=new_id)

    def __post_init__(self) -> None:
        if not isinstance(self.label, str) or not self.label.strip():
            raise ValueError(f"label: expected a non-empty class name, got {self.label!r}")
        self.exterior = as_ring(self.exterior, "exterior")
        self.holes = [as_ring(h, f"holes[{i}]") for i, h in enumerate(self.holes)]
        if self.source not in SOURCES:
            raise ValueError(f"source: expected 'model' or 'human', got {self.source!r}")
        if self.score is not None:
            self.score = float(self.score)
            if not math.isfinite(self.score):
                raise ValueError(f"score: expected a finite number or null, got {self.score}")
        self.accepted = bool(self.accepted)
        if not isinstance(self.id, str) or not self.id:
            raise ValueError(f"id: expected a non-empty string, got {self.id!r}")

    # --- identity and serialisation ---------------------------------------------------
    def copy(self) -> Shape:
        """Deep copy with the same id (an edited copy is the same shape)."""
        return Shape(self.label, self.exterior.copy(), [h.copy() for h in self.holes],
                     self.source, self.score, self.accepted, self.id)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Shape):
            return NotImplemented
        return (self.id == other.id and self.label == other.label and self.source == other.source
                and self.score == other.score and self.accepted == other.accepted
                and np.array_equal(self.exterior, other.exterior)
                and len(self.holes) == len(other.holes)
                and all(np.array_equal(a, b) for a, b in zip(self.holes, other.holes)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "source": self.source,
            "accepted": self.accepted,
            "score": self.score,
            "exterior": self.exterior.tolist(),
            "holes": [h.tolist() for h in self.holes],
        }

    @classmethod
    def from_dict(cls, d: Any) -> Shape:
        """Inverse of to_dict; ValueError names the missing or bad field."""
        if not isinstance(d, dict):
            raise ValueError(f"expected an object, got {type(d).__name__}")
        for key in ("id", "label", "exterior"):
            if key not in d:
                raise ValueError(f"missing field '{key}'")
        holes = d.get("holes", [])
        if not isinstance(holes, list):
            raise ValueError("holes: expected a list of rings")
        return cls(label=d["label"], exterior=d["exterior"], holes=holes,
                   source=d.get("source", "human"), score=d.get("score"),
                   accepted=d.get("accepted", True), id=d["id"])

    # --- geometry ---------------------------------------------------------------------
    @property
    def has_holes(self) -> bool:
        return bool(self.holes)

    def rle(self, height: int, width: int) -> dict:
        """Compressed COCO RLE of the shape on a height x width canvas (outside is clipped)."""
        m = self.mask(height, width)
        return mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))

    def mask(self, height: int, width: int) -> np.ndarray:
        """bool [H, W]: pixels inside the exterior and outside every hole (pycocotools rasteriser)."""
        inside = _rasterise([self.exterior], height, width)
        if self.holes:
            inside &= ~_rasterise(self.holes, height, width)
        return inside

    def _canvas(self) -> tuple[int, int]:
        # Big enough to hold the whole shape; parts at negative coordinates are
        # off-image and rightly do not count.
        top = np.vstack([self.exterior, *self.holes]).max(axis=0)
        return max(1, math.ceil(top[1]) + 1), max(1, math.ceil(top[0]) + 1)

    @property
    def area(self) -> float:
        """Pixels covered, from the rasterised mask (as COCO's ``area``)."""
        return float(mask_utils.area(self.rle(*self._canvas())))

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """(x, y, w, h) of the rasterised mask (as COCO's ``bbox``); zeros when empty."""
        x, y, w, h = mask_utils.toBbox(self.rle(*self._canvas())).tolist()
        return (x, y, w, h)


def _rasterise(rings: list[np.ndarray], height: int, width: int) -> np.ndarray:
    """Union of the rings' interiors as bool [H, W]."""
    # frPyObjects reads a 4-number list as a bbox; rings have >= 3 points (6 numbers).
    polys = [r.ravel().tolist() for r in rings]
    rles = mask_utils.frPyObjects(polys, height, width)
    return mask_utils.decode(mask_utils.merge(rles)).astype(bool)
