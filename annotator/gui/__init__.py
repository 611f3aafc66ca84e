"""Qt application shell and editing widgets (the only layer that imports Qt)."""

from __future__ import annotations

import ctypes
import sys


def _make_none_immortal() -> None:
    """Work around shiboken6 6.12 dropping a reference to None on every void Qt call.

    Each call such as `painter.drawRect(...)` or `item.setPath(...)` returns None without
    a new reference. On CPython 3.12+ None is immortal (PEP 683) and this is harmless;
    on 3.11 None's count falls by one per call until Python aborts with "none_dealloc:
    deallocating None" (a painted 400-vertex shape did it within a few frames). We do
    what 3.12 does: give None a count no program can exhaust. None is never freed
    anyway, so nothing else changes. The real fix is Python >= 3.12 or a fixed PySide6.
    """
    if sys.implementation.name != "cpython" or sys.version_info >= (3, 12):
        return
    refcnt = ctypes.c_ssize_t.from_address(id(None))
    # ob_refcnt is the first field of PyObject in release builds; check before writing,
    # so a build with another layout (e.g. Py_TRACE_REFS) is left alone.
    if refcnt.value == sys.getrefcount(None) - 1:
        refcnt.value += 1 << 48


_make_none_immortal()
