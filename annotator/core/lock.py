"""One labelling run per folder: ``.pnp-annotator/lock`` holds the pid and host of the run.

    with project_lock(project, "label"):    # ProjectLockedError names the holder
        run_pipeline(...)

The holder keeps an ``flock`` on the file for the run's life: the kernel drops it when
the run ends however it ends, so two runs started at the same instant cannot both take
the folder (the file's content only names the holder; it is written while the flock is
held, so an empty or half-written file is never mistaken for a stale one). Without the
flock (another host on a network folder, an older version), the content decides: a lock
whose process is gone (same host, pid not running) is stale and taken over; a lock of
another host is honoured (its process cannot be checked from here), and its message says
how to remove it when that run is known to be over. The file is opened without following
a link (``core.statefiles``). The lock is
re-entrant within one process (the CLI takes it before loading the model, the
pipeline again around its run). Creating it is also the run's first write, so a
read-only folder or a full disk is reported here, before any model work.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import json
import os
import socket
import threading
import time
from pathlib import Path

from annotator.core.layout import LOCK_FILE, StateLayout  # noqa: F401  (LOCK_FILE re-exported)
from annotator.core.statefiles import open_state_file

try:
    import fcntl
except ImportError:  # Windows: the content and O_EXCL decide (see UNREADABLE_GRACE_S)
    fcntl = None

_held: dict[Path, list] = {}  # lock path -> [nesting depth, open fd holding the flock or None]
_held_guard = threading.Lock()
UNREADABLE_GRACE_S = 10.0
"""Where no ``flock`` exists: an empty or unreadable lock younger than this may be a run's
lock being written, and is honoured; older, it is a crashed writer's and taken over."""


class ProjectLockedError(RuntimeError):
    """Another run holds the folder's lock; the message names it."""

    def __init__(self, path: Path, holder: dict) -> None:
        self.path, self.holder = path, holder
        since = holder.get("since", "?")
        super().__init__(
            f"{path.parent.parent} is being labelled by another run ({holder.get('command', '?')}, "
            f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}, since {since}). Wait for it "
            f"to finish, or stop it; if that run is known to be over, delete {path}.")


class StateWriteError(OSError):
    """The project's state folder cannot be written (read-only folder, full disk, no permission)."""


def project_lock(project, command: str):
    """Context manager holding *project*'s lock for *command* ("label", "gui batch", ...)."""
    layout = getattr(project, "layout", None) or StateLayout(project.state_dir)
    return _lock(layout.lock_file, command)


@contextlib.contextmanager
def _lock(path: Path, command: str):
    with _held_guard:
        held = _held.get(path)
        if held:
            held[0] += 1
    if held:
        try:
            yield
        finally:
            with _held_guard:
                held[0] -= 1
        return
    fd = _acquire(path, command)
    with _held_guard:
        _held[path] = [1, fd]
    try:
        yield
    finally:
        with _held_guard:
            del _held[path]
        _release(path, fd)


def _me() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname()}


def _record(command: str) -> bytes:
    return (json.dumps({**_me(), "command": command,
                        "since": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}) + "\n").encode()


def _acquire(path: Path, command: str) -> int | None:
    """Take the lock; returns the fd holding its flock (None where there is no flock)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _state_error(path.parent, exc) from exc
    if fcntl is None:
        _acquire_exclusive(path, command)
        return None
    for _ in range(20):  # the file was replaced between our open and our flock: open it again
        try:
            fd = open_state_file(path, os.O_RDWR | os.O_CREAT)
        except OSError as exc:
            raise _state_error(path.parent, exc) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held by a live run: its record is written while it holds the flock
            os.close(fd)
            raise ProjectLockedError(path, _read_settled(path)) from None
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path, follow_symlinks=False))
        except FileNotFoundError:
            same = False
        if not same:  # its holder released it (unlinked) after our open: that file is no lock any more
            os.close(fd)
            continue
        holder = _parse(os.pread(fd, 4096, 0))
        if holder is not None and not _is_stale(holder) and _ident(holder) != _me():
            os.close(fd)  # written without a flock: another host, or an older version still running
            raise ProjectLockedError(path, holder)
        try:
            data = _record(command)
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)
        except OSError as exc:
            os.close(fd)
            with contextlib.suppress(OSError):
                path.unlink()
            raise _state_error(path.parent, exc) from exc
        return fd
    raise ProjectLockedError(path, _read(path) or {})


def _acquire_exclusive(path: Path, command: str) -> None:
    """No flock: the record is written to a temp file first and linked (or, without links,
    created exclusively), so a lock file, once visible, is whole."""
    data = _record(command)
    for _ in range(3):
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(data)
            try:
                os.link(tmp, path)
            finally:
                os.unlink(tmp)
            return
        except FileExistsError:
            holder = _read(path)
            if holder is None and _age(path) < UNREADABLE_GRACE_S:
                raise ProjectLockedError(path, {}) from None
            if holder is not None and not _is_stale(holder):
                raise ProjectLockedError(path, holder) from None
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        except OSError as exc:
            raise _state_error(path.parent, exc) from exc
    raise ProjectLockedError(path, _read(path) or {})


def _age(path: Path) -> float:
    try:
        return time.time() - os.stat(path, follow_symlinks=False).st_mtime
    except OSError:
        return UNREADABLE_GRACE_S


def _release(path: Path, fd: int | None) -> None:
    try:
        holder = _read(path)
        if holder is not None and _ident(holder) == _me():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()  # while the flock is still held: nobody can take a file about to go
    finally:
        if fd is not None:
            os.close(fd)


def _ident(holder: dict) -> dict:
    return {k: holder.get(k) for k in ("pid", "host")}


def _parse(raw: bytes) -> dict | None:
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _read(path: Path) -> dict | None:
    """The lock's record; None when it is gone or unreadable (a link is never read)."""
    try:
        fd = open_state_file(path)
    except OSError:
        return None
    try:
        return _parse(os.read(fd, 4096))
    except OSError:
        return None
    finally:
        os.close(fd)


def _read_settled(path: Path) -> dict:
    """The record of a lock held by a live run, which may be writing it at this instant."""
    for _ in range(20):
        holder = _read(path)
        if holder is not None:
            return holder
        time.sleep(0.01)
    return {}


def _is_stale(holder: dict) -> bool:
    if holder.get("host") != socket.gethostname():
        return False  # another machine's process cannot be checked: honour it
    pid = holder.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False


def _state_error(folder: Path, exc: OSError) -> StateWriteError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        why = "the disk is full"
        fix = "free some space"
    elif exc.errno == errno.EROFS:
        why = "the file system is read-only"
        fix = "copy the folder somewhere writable, or remount it read-write"
    elif exc.errno in (errno.EACCES, errno.EPERM):
        why = "you have no permission to write there"
        fix = "fix the folder's permissions or copy it somewhere writable"
    else:
        why, fix = exc.strerror or str(exc), "check the folder"
    return StateWriteError(exc.errno, f"cannot write to {folder}: {why}; {fix}. Nothing was changed.")
