"""Text from files (names, JSON values) made safe to print on a terminal.

A file name can hold any byte but / and NUL: escape sequences (ESC [ ... that recolour,
retitle or clear the terminal), carriage returns that overwrite the line, bidirectional
overrides that reorder it, and bytes that are not UTF-8 (Python's surrogate escapes, which
``print`` cannot even encode). ``printable`` writes those as visible escapes (``\\x1b``,
``\\u202e``, ``\\udcff`` for the byte 0xff) and leaves everything else as it was.
"""

from __future__ import annotations

import unicodedata

_KEEP = {"\n", "\t"}  # a message's own line breaks; indentation


def printable(text: object, *, keep_lines: bool = True) -> str:
    """*text* with control, format and surrogate characters escaped (line breaks and tabs
    kept when *keep_lines*)."""
    text = str(text)
    if text.isprintable():
        return text
    keep = _KEEP if keep_lines else set()
    return "".join(c if c in keep or c.isprintable() or unicodedata.category(c) == "Zs" else _escape(c)
                   for c in text)


def _escape(c: str) -> str:
    code = ord(c)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (os.fsdecode's surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
