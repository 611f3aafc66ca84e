"""Class lists as users type them -> clean class names (shared by every engine)."""

from __future__ import annotations

import re
from typing import Iterable

_SPACES = re.compile(r"\s+")


def normalize_classes(classes: str | Iterable[str]) -> list[str]:
    """Trim, collapse inner whitespace, drop case-insensitive duplicates (first kept).

    A single string is read as a comma-separated list ("sky, road, car").
    Raises ValueError naming the problem for an empty list or a blank name.
    """
    if isinstance(classes, str):
        items = classes.split(",")
    else:
        try:
            items = list(classes)
        except TypeError:
            raise ValueError(
                f"classes must be a list of names or a comma-separated string, not {type(classes).__name__}"
            ) from None
    if not items:
        raise ValueError("The class list is empty: give at least one class name, e.g. ['sky', 'road']")
    names: list[str] = []
    seen: set[str] = set()
    for position, item in enumerate(items, start=1):
        if not isinstance(item, str):
            raise ValueError(f"Class #{position} is a {type(item).__name__}, not a string: {item!r}")
        name = _SPACES.sub(" ", item).strip()
        if not name:
            raise ValueError(f"Class #{position} of {len(items)} is blank: remove it or type a name")
        key = name.casefold()
        if key not in seen:
            seen.add(key)
            names.append(name)
    return names
