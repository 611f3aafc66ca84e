"""One labelling run per folder: ``.pnp-annotator/lock`` holds the pid and host of the run.

    with project_lock(project, "label"):    # ProjectLockedError names the holder
        run_pipeline(...)

A lock whose process is gone (same host, pid not running) is stale and taken over; a
lock of another host is honoured (its process cannot be checked from here), and its
message says how to remove it when that run is known to be over. The lock is
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
from pathlib import Path

LOCK_FILE = "lock"
_held: dict[Path, int] = {}  # lock path -> nesting depth in this process
_held_guard = threading.Lock()


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
    return _lock(Path(project.state_dir) / LOCK_FILE, command)


@contextlib.contextmanager
def _lock(path: Path, command: str):
    with _held_guard:
        nested = _held.get(path, 0)
        if nested:
            _held[path] = nested + 1
    if nested:
        try:
            yield
        finally:
            with _held_guard:
                _held[path] -= 1
        return
    _acquire(path, command)
    with _held_guard:
        _held[path] = 1
    try:
        yield
    finally:
        with _held_guard:
            del _held[path]
        _release(path)


def _me() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname()}


def _acquire(path: Path, command: str) -> None:
    record = {**_me(), "command": command,
              "since": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    for _ in range(3):  # a stale lock removed by us or a racing run: try again
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            holder = _read(path)
            if holder is not None and not _is_stale(holder):
                raise ProjectLockedError(path, holder) from None
            with contextlib.suppress(FileNotFoundError):
                path.unlink()  # stale: its process is gone (or the file is unreadable junk)
            continue
        except OSError as exc:
            raise _state_error(path.parent, exc) from exc
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
        except OSError as exc:
            with contextlib.suppress(OSError):
                path.unlink()
            raise _state_error(path.parent, exc) from exc
        return
    raise ProjectLockedError(path, _read(path) or {})


def _release(path: Path) -> None:
    holder = _read(path)
    if holder is not None and {k: holder.get(k) for k in ("pid", "host")} == _me():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _read(path: Path) -> dict | None:
    """The lock's record; None when it is gone or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


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
