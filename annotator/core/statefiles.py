"""Reading and appending state files without following a symbolic link.

A state folder may sit in a shared folder: someone could replace ``index.log`` (or a
folder on the way to an annotation file) with a link to a file elsewhere, e.g. a shell
start-up file, and have the next run append to it. Every state file is therefore opened
with ``O_NOFOLLOW`` and checked to be a regular file, and a write first checks that no
folder between the state folder and the file is a link. Imports nothing of the project.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from annotator.core.layout import StateFolderError

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def _refused(path: Path, what: str) -> StateFolderError:
    return StateFolderError(errno.ELOOP, f"{path} is {what}, not a file the project wrote; pnp-annotator "
                                         f"never reads or writes through it. Remove it (or put the real "
                                         f"file back) and run again.")


def open_state_file(path: str | os.PathLike, flags: int = os.O_RDONLY, mode: int = 0o666) -> int:
    """``os.open`` of a state file that refuses a symbolic link or anything but a regular file
    (StateFolderError); FileNotFoundError as usual."""
    path = Path(path)
    try:
        fd = os.open(path, flags | _NOFOLLOW | _CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP or (os.path.islink(path)):
            raise _refused(path, "a symbolic link") from None
        raise
    try:
        st = os.fstat(fd)
    except OSError:
        os.close(fd)
        raise
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise _refused(path, "not a regular file")
    return fd


def read_state_bytes(path: str | os.PathLike) -> bytes:
    """The content of a state file (StateFolderError for a link or a non-regular file)."""
    fd = open_state_file(path)
    with os.fdopen(fd, "rb") as f:
        return f.read()


def read_state_text(path: str | os.PathLike) -> str:
    return read_state_bytes(path).decode("utf-8")


def append_state_line(path: str | os.PathLike, line: str) -> None:
    """Append one line (UTF-8) to a state file, created if missing, never through a link."""
    fd = open_state_file(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    with os.fdopen(fd, "ab") as f:
        f.write(line.encode("utf-8") + b"\n")


def check_no_links(state_dir: str | os.PathLike, path: str | os.PathLike) -> None:
    """StateFolderError when the state folder, or a folder between it and *path*, is a symbolic
    link or not a folder (components that do not exist yet are fine: they are created as folders)."""
    state_dir, path = Path(state_dir), Path(path)
    current = state_dir
    parts = path.parent.relative_to(state_dir).parts
    for part in (None, *parts):
        if part is not None:
            current = current / part
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            return
        if stat.S_ISLNK(st.st_mode):
            raise _refused(current, "a symbolic link")
        if not stat.S_ISDIR(st.st_mode):
            raise _refused(current, "not a folder")
