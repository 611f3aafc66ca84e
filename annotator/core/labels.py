"""The project's label set: ordered class names with stable COCO ids and colours.

Ids are COCO category ids: integers >= 1, unique, never reused for another name, and
gaps are allowed (a COCO file with ids 1, 3, 90 keeps them). 0 is reserved for
"unlabeled" in semantic masks. ``supercategory`` and any other COCO category keys
(``keypoints``, ``skeleton``...) are kept so that an export writes them back.
"""

from __future__ import annotations

import colorsys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

RGB = tuple[int, int, int]

def _palette(size: int = 256) -> list[RGB]:
    """Colours chosen one by one, each as far (in CIELAB) from all before it as the candidates allow.

    Candidates: 36 hues x 3 saturations x 3 brightnesses. Greedy max-min picking keeps
    any first N colours apart (measured minimum Lab distance over the first 48: 21.8;
    golden-ratio hues at one saturation gave 2.7, i.e. near twins past 20 classes).
    """
    import cv2  # deferred: only when a project first needs a colour
    import numpy as np

    candidates = np.array([colorsys.hsv_to_rgb(h / 36, s, v) for h in range(36)
                           for s in (0.45, 0.7, 0.95) for v in (0.6, 0.8, 1.0)], np.float32)
    lab = cv2.cvtColor(candidates[None], cv2.COLOR_RGB2Lab)[0]
    first = int(np.argmin(np.abs(candidates - np.array([0.95, 0.77, 0.29], np.float32)).sum(axis=1)))  # amber
    order, distance = [first], np.linalg.norm(lab - lab[first], axis=1)
    for _ in range(size - 1):
        k = int(np.argmax(distance))
        order.append(k)
        distance = np.minimum(distance, np.linalg.norm(lab - lab[k], axis=1))
    return [tuple(round(float(c) * 255) for c in candidates[k]) for k in order]


_PALETTE: list[RGB] = []


def palette_color(index: int) -> RGB:
    """A colour for the index-th class (0-based), distinct from every earlier one (see ``_palette``)."""
    if not _PALETTE:
        _PALETTE.extend(_palette())
    return _PALETTE[index % len(_PALETTE)]


MAX_ID = 2**63 - 1  # COCO readers hold ids in 64-bit integers (numpy, torch, Java, SQL)


def normalise_name(name: str) -> str:
    """Trim and collapse whitespace; names match case-insensitively but keep their case."""
    return " ".join(str(name).split())


@dataclass(frozen=True)
class Category:
    id: int  # COCO category id, from 1, never reused for another name; gaps allowed
    name: str
    color: RGB
    supercategory: str = ""
    extra: dict[str, Any] = field(default_factory=dict, hash=False)
    """Other COCO category keys (e.g. keypoints, skeleton, isthing), written back on export."""

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "name": self.name, "color": list(self.color)}
        if self.supercategory:
            d["supercategory"] = self.supercategory
        if self.extra:
            d["extra"] = self.extra
        return d


class LabelSet:
    """Ordered categories; ``add`` is idempotent and matches names case-insensitively."""

    def __init__(self, categories: list[Category] | None = None) -> None:
        self._categories: list[Category] = []
        for c in categories or []:
            self._append(c)

    def _append(self, c: Category) -> None:
        if not isinstance(c.id, int) or isinstance(c.id, bool) or not 1 <= c.id <= MAX_ID:
            raise ValueError(f"category '{c.name}': id must be an integer from 1 to {MAX_ID} (a 64-bit id), "
                             f"got {c.id!r}")
        if any(o.id == c.id for o in self._categories):
            raise ValueError(f"category '{c.name}': id {c.id} is already used by '{self._by_id(c.id).name}'")
        if self.get(c.name) is not None:
            raise ValueError(f"category '{c.name}' is listed twice")
        self._categories.append(c)

    def _by_id(self, cid: int) -> Category:
        return next(c for c in self._categories if c.id == cid)

    @property
    def categories(self) -> list[Category]:
        return list(self._categories)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self._categories]

    def __len__(self) -> int:
        return len(self._categories)

    def __iter__(self) -> Iterator[Category]:
        return iter(list(self._categories))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def get(self, name: str) -> Category | None:
        key = normalise_name(name).casefold()
        return next((c for c in self._categories if c.name.casefold() == key), None)

    def by_id(self, cid: int) -> Category | None:
        return next((c for c in self._categories if c.id == cid), None)

    def next_id(self) -> int:
        """The id a new category gets: one past the largest (ids are never reused)."""
        return max((c.id for c in self._categories), default=0) + 1

    def add(self, name: str, color: RGB | None = None, *, id: int | None = None,
            supercategory: str = "", extra: dict[str, Any] | None = None) -> Category:
        """The category called *name*, created at the end if new.

        A new category gets *id* when given (ValueError if another name has it), else the
        next free id. An existing name is returned unchanged, whatever *id* says.
        """
        existing = self.get(name)
        if existing is not None:
            return existing
        clean = normalise_name(name)
        if not clean:
            raise ValueError("a class name cannot be empty")
        cid = self.next_id() if id is None else id
        cat = Category(cid, clean, tuple(color) if color else palette_color(len(self._categories)),
                       supercategory or "", dict(extra or {}))
        self._append(cat)
        return cat

    def set_categories(self, categories: list[Category]) -> None:
        """Replace every category in place (holders of this LabelSet see the change)."""
        fresh = LabelSet(categories)  # validates ids and names first
        self._categories = fresh._categories

    def update(self, category: Category) -> None:
        """Replace the category with the same id (e.g. to set its supercategory)."""
        for i, c in enumerate(self._categories):
            if c.id == category.id:
                self._categories[i] = category
                return
        raise KeyError(f"no category with id {category.id}")

    def color(self, name: str) -> RGB:
        """The class colour; a name outside the set gets a stable colour derived from it."""
        cat = self.get(name)
        if cat is not None:
            return cat.color
        return palette_color(zlib.crc32(normalise_name(name).casefold().encode()) % 1000)

    def to_dict(self) -> dict[str, Any]:
        return {"categories": [c.to_dict() for c in self._categories]}

    @classmethod
    def from_dict(cls, d: Any) -> LabelSet:
        """Inverse of to_dict; ValueError names the bad entry."""
        if not isinstance(d, dict) or not isinstance(d.get("categories"), list):
            raise ValueError("labels: expected an object with a 'categories' list")
        cats = []
        for i, c in enumerate(d["categories"]):
            where = f"labels.categories[{i}]"
            if not isinstance(c, dict) or "id" not in c or "name" not in c:
                raise ValueError(f"{where}: expected an object with 'id' and 'name'")
            name = normalise_name(c["name"]) if isinstance(c["name"], str) else ""
            if not name:
                raise ValueError(f"{where}.name: expected a non-empty string")
            color = c.get("color")
            if color is None:
                color = palette_color(i)
            elif not (isinstance(color, list) and len(color) == 3
                      and all(isinstance(v, int) and 0 <= v <= 255 for v in color)):
                raise ValueError(f"{where}.color: expected [r, g, b] with integers 0..255")
            sup = c.get("supercategory", "")
            if not isinstance(sup, str):
                raise ValueError(f"{where}.supercategory: expected a string")
            extra = c.get("extra", {})
            if not isinstance(extra, dict):
                raise ValueError(f"{where}.extra: expected an object")
            cats.append(Category(c["id"], name, tuple(color), sup, extra))
        try:
            return cls(cats)
        except ValueError as exc:
            raise ValueError(f"labels: {exc}") from None
