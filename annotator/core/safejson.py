"""JSON from files that may be hostile: nesting too deep for Python is a parse error, not a crash.

Python's JSON reader recurses once per level: a file of 100,000 ``[`` (100 kB) raises
RecursionError, which no caller expects from a parser. ``loads`` turns it into
``JSONNestingError``, a ``json.JSONDecodeError`` (so a ValueError), which every reader of
project files already reports as "not valid JSON" naming the file. ``too_deep`` measures the
nesting of a parsed value without recursing, for values that are kept and written back
(a value nested just under the reader's limit would fail to be written later).
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_NESTING = 100  # levels a kept value may have: far more than any real file, far below Python's limit


class JSONNestingError(json.JSONDecodeError):
    """The text nests arrays/objects deeper than Python's JSON reader can follow."""


def loads(text: str | bytes) -> Any:
    """``json.loads``, raising JSONNestingError (at the position where the nesting got too
    deep) instead of RecursionError."""
    try:
        return json.loads(text)
    except RecursionError:
        if isinstance(text, (bytes, bytearray)):
            text = text.decode("utf-8", errors="replace")
        raise JSONNestingError("arrays and objects nested too deeply to be read", text, _deep_position(text)) \
            from None


_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.S)


def _deep_position(text: str, limit: int = 500) -> int:
    """Where the nesting first passes *limit* levels (0 if it never does)."""
    depth = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > limit:
                return match.start()
        elif token in "]}":
            depth -= 1
    return 0


def too_deep(value: Any, limit: int = MAX_NESTING) -> bool:
    """True when *value* nests lists/dicts more than *limit* levels (iterative: any depth)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False
