"""Crash-safe file writes: a temp file in the same folder, fsync, then os.replace.

os.replace is atomic on POSIX and Windows when source and target are on the same
file system, which is why the temp file lives next to the target and not in /tmp.
A crash at any moment leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

TEMP_SUFFIX = ".tmp"


def atomic_write_text(path: str | os.PathLike, text: str, *, durable: bool = True) -> None:
    """Write *text* (UTF-8) to *path* so that readers see the old or the new content.

    ``durable=False`` skips the fsyncs (a bulk writer then syncs once at its end)."""
    atomic_write_bytes(path, text.encode("utf-8"), durable=durable)


def atomic_write_json(path: str | os.PathLike, data: Any, *, indent: int | None = 1, durable: bool = True) -> None:
    """Serialise first (so a bad value never truncates anything), then write atomically.
    (indent=None uses the C encoder: several times faster for big files.)"""
    text = json.dumps(data, indent=indent, ensure_ascii=False, allow_nan=False)
    try:
        raw = (text + "\n").encode("utf-8")
    except UnicodeEncodeError:  # a file name that is not UTF-8 (surrogate-escaped bytes): JSON escapes
        raw = (json.dumps(data, indent=indent, ensure_ascii=True, allow_nan=False) + "\n").encode("ascii")
    atomic_write_bytes(path, raw, durable=durable)


def sync_all() -> None:
    """Make every write so far durable at once (after many ``durable=False`` writes)."""
    if hasattr(os, "sync"):
        os.sync()


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: the classic set-and-restore
    os.umask(mask)
    return mask


def _set_mode(fd: int, target: Path) -> None:
    """mkstemp creates 0600 files; the written file gets the mode a plain open() would
    give (0666 less the umask), or keeps the mode of the file it replaces."""
    if os.name != "posix":
        return
    try:
        mode = target.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o666 & ~current_umask()
    os.fchmod(fd, mode)


def fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable on POSIX; directories cannot be opened on Windows.
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, durable: bool = True) -> None:
    """Write *data* to *path* so that readers see the old or the new content (binary files).

    ``durable=False`` skips the fsyncs: for caches that can be recomputed, whose writes
    then cost the calling (GUI) thread no disk flush.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        _set_mode(fd, path)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        # Includes KeyboardInterrupt: the half-written temp file must not linger.
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if durable:
        fsync_dir(path.parent)
