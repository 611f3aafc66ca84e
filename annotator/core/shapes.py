"""``Shape``: one annotated instance of one class, made of one or more polygon parts.

A ``Part`` is one polygon with optional holes; a ``Shape`` is one instance (one COCO
annotation) and may have several parts, e.g. a car split in two by a pole, or an RLE
mask with several connected components. Its mask, RLE, area and bbox are those of
the union of its parts.

Coordinates are COCO's continuous pixel coordinates: pixel (col, row) covers the
square [col, col+1] x [row, row+1], so a polygon traced around a region's pixel
edges rasterises back (with pycocotools, the same code COCO users run) to exactly
those pixels. Rasterisation is the one definition of area, bbox and mask used by
the GUI, the COCO codec and the tests.

Shapes are never mutated in place by the application: an edit builds a new Shape
with the same id (``with_parts``, ``replace``), so an undo stack can keep the old one.
"""

from __future__ import annotations

import copy as _copy
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

SOURCES = ("model", "human")
MAX_COORD = 1e6
"""Largest |coordinate| accepted, in pixels: far beyond any image, small enough that the
rasteriser's integer arithmetic cannot overflow (1e308 used to crash pycocotools)."""


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
    if len(ring) > 1 and ring[0, 0] == ring[-1, 0] and ring[0, 1] == ring[-1, 1]:
        ring = ring[:-1]  # closed ring given: store it open
    if len(ring) < 3:
        raise ValueError(f"{what}: a polygon ring needs at least 3 points, got {len(ring)}")
    largest = np.abs(ring).max()  # NaN when any coordinate is NaN
    if not largest <= MAX_COORD:
        if not np.isfinite(ring).all():
            raise ValueError(f"{what}: coordinates must be finite numbers")
        raise ValueError(f"{what}: a coordinate of {largest:g} is beyond the limit of {MAX_COORD:g} pixels")
    return ring


@dataclass(frozen=True, eq=False)
class Part:
    """One polygon: exterior float64 [N, 2] (open ring) and holes, a list of such rings.

    Treat as immutable (the arrays are shared between a shape and its edited copies).
    """

    exterior: np.ndarray
    holes: list[np.ndarray] = field(default_factory=list)

    def __post_init__(self) -> None:
        object.__setattr__(self, "exterior", as_ring(self.exterior, "exterior"))
        holes = self.holes if self.holes is not None else []
        if isinstance(holes, np.ndarray) and holes.ndim == 2:
            raise ValueError("holes: expected a list of rings, got a single ring")
        object.__setattr__(self, "holes", [as_ring(h, f"holes[{i}]") for i, h in enumerate(holes)])

    @property
    def rings(self) -> list[np.ndarray]:
        """[exterior, *holes]."""
        return [self.exterior, *self.holes]

    def copy(self) -> Part:
        return Part(self.exterior.copy(), [h.copy() for h in self.holes])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Part):
            return NotImplemented
        return (np.array_equal(self.exterior, other.exterior) and len(self.holes) == len(other.holes)
                and all(np.array_equal(a, b) for a, b in zip(self.holes, other.holes)))

    def to_dict(self) -> dict[str, Any]:
        return {"exterior": self.exterior.tolist(), "holes": [h.tolist() for h in self.holes]}

    @classmethod
    def from_dict(cls, d: Any) -> Part:
        if not isinstance(d, dict) or "exterior" not in d:
            raise ValueError("expected an object with 'exterior' (and optional 'holes')")
        holes = d.get("holes", [])
        if not isinstance(holes, list):
            raise ValueError("holes: expected a list of rings")
        return cls(d["exterior"], holes)


def _as_parts(parts: Any) -> list[Part]:
    if isinstance(parts, Part):
        parts = [parts]
    try:
        parts = list(parts)
    except TypeError:
        raise ValueError(f"parts: expected a list of Part, got {type(parts).__name__}") from None
    if not parts:
        raise ValueError("parts: a shape needs at least one part")
    out = []
    for i, p in enumerate(parts):
        if isinstance(p, Part):
            out.append(p)
        elif isinstance(p, dict):
            try:
                out.append(Part.from_dict(p))
            except ValueError as exc:
                raise ValueError(f"parts[{i}].{exc}" if str(exc).startswith(("exterior", "holes"))
                                 else f"parts[{i}]: {exc}") from None
        else:
            raise ValueError(f"parts[{i}]: expected a Part, got {type(p).__name__}")
    return out


class Shape:
    """One instance: label, parts (>= 1), provenance, review state, COCO extras.

    ``Shape(label, exterior, holes, source, score, accepted, id)`` builds a one-part
    shape (the v1 signature); ``Shape(label, parts=[...], ...)`` any number of parts.
    ``iscrowd`` marks a COCO crowd region; ``extra`` keeps COCO annotation keys this
    tool does not interpret (``keypoints``, ``attributes`` of other tools, the
    original ``id``...) so that an export writes them back. ``extra`` must be JSON.
    """

    __slots__ = ("label", "parts", "source", "score", "accepted", "id", "iscrowd", "extra")

    def __init__(self, label: str, exterior: Any = None, holes: Any = None, source: str = "human",
                 score: float | None = None, accepted: bool = True, id: str | None = None, *,
                 parts: Sequence[Part] | None = None, iscrowd: bool = False,
                 extra: dict[str, Any] | None = None) -> None:
        if not isinstance(label, str) or not label.strip():
            raise ValueError(f"label: expected a non-empty class name, got {label!r}")
        if parts is not None:
            if exterior is not None or (holes is not None and len(holes)):
                raise ValueError("give either exterior (+ holes) or parts, not both")
            self.parts = _as_parts(parts)
        else:
            if exterior is None:
                raise ValueError("exterior: a shape needs an exterior ring or parts")
            self.parts = [Part(exterior, list(holes) if holes is not None else [])]
        if source not in SOURCES:
            raise ValueError(f"source: expected 'model' or 'human', got {source!r}")
        if score is not None:
            try:
                score = float(score)
            except TypeError:  # a list or object from a damaged file
                raise ValueError(f"score: expected a finite number or null, got {type(score).__name__}") from None
            if not math.isfinite(score):
                raise ValueError(f"score: expected a finite number or null, got {score}")
        if id is None:
            id = new_id()
        if not isinstance(id, str) or not id:
            raise ValueError(f"id: expected a non-empty string, got {id!r}")
        if extra is None:
            extra = {}
        if not isinstance(extra, dict):
            raise ValueError(f"extra: expected an object, got {type(extra).__name__}")
        self.label = label
        self.source = source
        self.score = score
        self.accepted = bool(accepted)
        self.id = id
        self.iscrowd = bool(iscrowd)
        self.extra = extra

    # --- construction -----------------------------------------------------------------
    @classmethod
    def from_mask(cls, label: str, mask: np.ndarray, *, tolerance: float = 0.0, **fields: Any) -> Shape | None:
        """One shape whose parts are every connected region of *mask* (holes kept); None if empty.

        At tolerance 0 the shape rasterises back to exactly *mask*.
        """
        from annotator.core.geometry import mask_to_polygons, polygon_rings  # geometry imports shapely

        polys = mask_to_polygons(np.asarray(mask, dtype=bool), tolerance)
        if not polys:
            return None
        return cls(label, parts=[Part(*polygon_rings(p)) for p in polys], **fields)

    def replace(self, **changes: Any) -> Shape:
        """A new shape with some fields changed (same id unless given); geometry via ``parts=``."""
        fields = {"label": self.label, "source": self.source, "score": self.score, "accepted": self.accepted,
                  "id": self.id, "parts": self.parts, "iscrowd": self.iscrowd, "extra": self.extra}
        if "exterior" in changes or "holes" in changes:
            fields.pop("parts")
        fields.update(changes)
        return Shape(**fields)

    def with_parts(self, parts: Sequence[Part]) -> Shape:
        """The same shape (id, label and every other field) with new geometry."""
        return self.replace(parts=list(parts))

    def rings(self) -> list[np.ndarray]:
        """Every ring of every part, flattened: part 0's exterior and holes, then part 1's..."""
        return [r for p in self.parts for r in p.rings]

    def ring_layout(self) -> list[int]:
        """Rings per part (1 + holes), so ``with_rings`` can rebuild the parts."""
        return [1 + len(p.holes) for p in self.parts]

    def with_rings(self, rings: Sequence[np.ndarray]) -> Shape:
        """Inverse of ``rings()`` for geometry edited ring by ring (same layout)."""
        layout = self.ring_layout()
        if len(rings) != sum(layout):
            raise ValueError(f"expected {sum(layout)} rings for this shape's {len(layout)} part(s), got {len(rings)}")
        parts, k = [], 0
        for n in layout:
            parts.append(Part(rings[k], list(rings[k + 1:k + n])))
            k += n
        return self.with_parts(parts)

    # --- single-part view (v1 callers) ------------------------------------------------
    @property
    def exterior(self) -> np.ndarray:
        """The FIRST part's exterior; new code uses ``parts``."""
        return self.parts[0].exterior

    @property
    def holes(self) -> list[np.ndarray]:
        """The FIRST part's holes; new code uses ``parts``."""
        return self.parts[0].holes

    @property
    def has_holes(self) -> bool:
        return any(p.holes for p in self.parts)

    @property
    def is_multipart(self) -> bool:
        return len(self.parts) > 1

    # --- identity and serialisation ---------------------------------------------------
    def copy(self) -> Shape:
        """Deep copy with the same id (an edited copy is the same shape)."""
        return Shape(self.label, source=self.source, score=self.score, accepted=self.accepted, id=self.id,
                     parts=[p.copy() for p in self.parts], iscrowd=self.iscrowd,
                     extra=_copy.deepcopy(self.extra))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Shape):
            return NotImplemented
        return (self.id == other.id and self.label == other.label and self.source == other.source
                and self.score == other.score and self.accepted == other.accepted
                and self.iscrowd == other.iscrowd and self.extra == other.extra
                and self.parts == other.parts)

    __hash__ = None  # mutable-looking value type; compared by content

    def __repr__(self) -> str:
        return (f"Shape(label={self.label!r}, parts={len(self.parts)}, source={self.source!r}, "
                f"score={self.score!r}, accepted={self.accepted}, iscrowd={self.iscrowd}, id={self.id!r})")

    def to_dict(self) -> dict[str, Any]:
        """Schema version 2 form."""
        d: dict[str, Any] = {
            "id": self.id,
            "label": self.label,
            "source": self.source,
            "accepted": self.accepted,
            "score": self.score,
            "iscrowd": self.iscrowd,
            "parts": [p.to_dict() for p in self.parts],
        }
        if self.extra:
            d["extra"] = self.extra
        return d

    @classmethod
    def from_dict(cls, d: Any) -> Shape:
        """Inverse of to_dict; also reads the version-1 form (``exterior``/``holes`` at the top).

        ValueError names the missing or bad field.
        """
        if not isinstance(d, dict):
            raise ValueError(f"expected an object, got {type(d).__name__}")
        for key in ("id", "label"):
            if key not in d:
                raise ValueError(f"missing field '{key}'")
        common = dict(source=d.get("source", "human"), score=d.get("score"), accepted=d.get("accepted", True),
                      id=d["id"], iscrowd=d.get("iscrowd", False), extra=d.get("extra"))
        if not isinstance(common["iscrowd"], bool | int):
            raise ValueError(f"iscrowd: expected true or false, got {common['iscrowd']!r}")
        if "parts" in d:
            if not isinstance(d["parts"], list):
                raise ValueError("parts: expected a list of {exterior, holes} objects")
            return cls(d["label"], parts=d["parts"], **common)
        if "exterior" not in d:  # version 1 stored one polygon at the top level
            raise ValueError("missing field 'parts' (or the version-1 field 'exterior')")
        holes = d.get("holes", [])
        if not isinstance(holes, list):
            raise ValueError("holes: expected a list of rings")
        return cls(d["label"], d["exterior"], holes, **common)

    # --- geometry ---------------------------------------------------------------------
    def rle(self, height: int, width: int) -> dict:
        """Compressed COCO RLE of the shape on a height x width canvas (outside is clipped)."""
        m = self.mask(height, width)
        return mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))

    def mask(self, height: int, width: int) -> np.ndarray:
        """bool [H, W]: the union over parts of the pixels inside the exterior and outside
        every hole of that part (pycocotools rasteriser)."""
        out = np.zeros((height, width), dtype=bool)
        for p in self.parts:
            inside = _rasterise([p.exterior], height, width)
            if p.holes:
                inside &= ~_rasterise(p.holes, height, width)
            out |= inside
        return out

    def _canvas(self) -> tuple[int, int]:
        # Big enough to hold the whole shape; parts at negative coordinates are
        # off-image and rightly do not count.
        top = np.vstack(self.rings()).max(axis=0)
        return max(1, math.ceil(top[1]) + 1), max(1, math.ceil(top[0]) + 1)

    @property
    def area(self) -> float:
        """Pixels covered by the union of the parts, from the rasterised mask (COCO's ``area``)."""
        return float(mask_utils.area(self.rle(*self._canvas())))

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """(x, y, w, h) of the rasterised union mask (COCO's ``bbox``); zeros when empty."""
        x, y, w, h = mask_utils.toBbox(self.rle(*self._canvas())).tolist()
        return (x, y, w, h)


def _rasterise(rings: list[np.ndarray], height: int, width: int) -> np.ndarray:
    """Union of the rings' interiors as bool [H, W]."""
    # frPyObjects reads a 4-number list as a bbox; rings have >= 3 points (6 numbers).
    polys = [r.ravel().tolist() for r in rings]
    rles = mask_utils.frPyObjects(polys, height, width)
    return mask_utils.decode(mask_utils.merge(rles)).astype(bool)
