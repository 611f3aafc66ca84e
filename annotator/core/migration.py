"""Moving a layout-1 state folder (per-image files beside the project's own) to layout 2.

Run by ``Project.open``; each step leaves a folder that opens and reads completely:

1. Build ``.migrating/`` (``layout.STAGING_DIR``): a hard link (a copy where the file
   system has none) of every per-image file at its layout-2 place. The old files stay; a
   crash here leaves layout 1 as it was, and the next open builds the staging folder again.
2. Write ``layout.json`` (atomically). From here on the project is in layout 2 and its
   per-image files are read from ``.migrating/`` until step 4.
3. Remove the old files: only those with an identical counterpart in the staging folder;
   then the folders they leave empty. Anything else is left where it was.
4. Rename ``.migrating/`` to ``images/``.

Two processes opening the same folder take turns (an ``flock`` on the state folder).
A file's stat survives the move (a link is the same file; a copy keeps its mtime), so
the status index stays valid.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from pathlib import Path

from annotator.core.atomic import atomic_write_text, fsync_dir
from annotator.core.layout import (
    IMAGES_DIR,
    LAYOUT_FILE,
    OWN_NAMES,
    STAGING_DIR,
    StateLayout,
    layout1_entries,
    layout_record,
    read_layout_version,
)

try:
    import fcntl
except ImportError:  # Windows: opening one folder twice at the same instant is not guarded there
    fcntl = None


def migrate(state_dir: str | os.PathLike) -> StateLayout:
    """Bring *state_dir* to layout 2 (see the module doc) and return its layout; OSError when a
    step cannot be written (the folder is then still readable in the layout it has)."""
    state_dir = Path(state_dir)
    with _folder_lock(state_dir):
        if read_layout_version(state_dir) < 2:
            if StateLayout.detect(state_dir).version >= 2:
                return StateLayout(state_dir)  # nothing of layout 1 there: a marker comes with the first file
            _build_staging(state_dir)
            _write_marker(state_dir)
        staging = state_dir / STAGING_DIR
        if staging.is_dir():
            _remove_old(state_dir, staging)
            os.rename(staging, state_dir / IMAGES_DIR)
            fsync_dir(state_dir)
    return StateLayout(state_dir)


def write_marker(state_dir: str | os.PathLike) -> None:
    """Mark a state folder as layout 2 (a new project, with its first per-image file)."""
    _write_marker(Path(state_dir))


def _old_entries(state_dir: Path):
    return list(layout1_entries(state_dir))


def _walk_files(top: Path):
    """(path relative to *top*, DirEntry) of every non-hidden file or link below *top*, links not followed."""
    stack = [(top, "")]
    while stack:
        folder, prefix = stack.pop()
        for entry in os.scandir(folder):
            if entry.name.startswith("."):
                continue  # temp files of an interrupted write
            if entry.is_dir(follow_symlinks=False):
                stack.append((Path(entry.path), prefix + entry.name + "/"))
            else:
                yield prefix + entry.name, entry


def _old_files(state_dir: Path):
    for name in _old_entries(state_dir):
        path = state_dir / name
        if path.is_dir() and not path.is_symlink():
            for rel, entry in _walk_files(path):
                yield name + "/" + rel, entry
        else:
            yield name, os.lstat(path)


def _build_staging(state_dir: Path) -> None:
    staging = state_dir / STAGING_DIR
    if os.path.lexists(staging):
        _remove_tree(staging)  # an earlier attempt that stopped before its marker: start again
    staging.mkdir()
    folders = {staging}
    for rel, _ in _old_files(state_dir):
        target = staging / rel
        if target.parent not in folders:
            target.parent.mkdir(parents=True, exist_ok=True)
            folders.add(target.parent)
        try:
            os.link(state_dir / rel, target, follow_symlinks=False)
        except OSError:  # no hard links on this file system
            shutil.copy2(state_dir / rel, target, follow_symlinks=False)
    if hasattr(os, "sync"):
        os.sync()  # the staging folder is on disk before the marker says it counts


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    if os.path.samestat(a, b):
        return True
    return (stat.S_IFMT(a.st_mode) == stat.S_IFMT(b.st_mode) and a.st_size == b.st_size
            and a.st_mtime_ns == b.st_mtime_ns)


def _remove_old(state_dir: Path, staging: Path) -> None:
    for name in _old_entries(state_dir):
        path = state_dir / name
        if path.is_dir() and not path.is_symlink():
            for rel, entry in list(_walk_files(path)):
                _remove_if_moved(path / rel, staging / name / rel)
            _remove_empty_dirs(path)
        else:
            _remove_if_moved(path, staging / name)
        if name in OWN_NAMES and os.path.lexists(path):
            # an image folder called "images" or "lock" still holding what was not moved (temp
            # files): set aside under a hidden name, so the project's own file can take its place
            number = 1
            while os.path.lexists(state_dir / f".layout1-{name}-{number}"):
                number += 1
            os.rename(path, state_dir / f".layout1-{name}-{number}")


def _remove_if_moved(old: Path, new: Path) -> None:
    try:
        if _same_file(os.lstat(old), os.lstat(new)):
            os.unlink(old)
    except FileNotFoundError:
        pass


def _remove_empty_dirs(top: Path) -> None:
    for folder, _dirs, _files in os.walk(top, topdown=False):
        with contextlib.suppress(OSError):
            os.rmdir(folder)


def _remove_tree(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def _write_marker(state_dir: Path) -> None:
    atomic_write_text(state_dir / LAYOUT_FILE, layout_record())  # durable: fsynced, then its folder


@contextlib.contextmanager
def _folder_lock(state_dir: Path):
    if fcntl is None:
        yield
        return
    fd = os.open(state_dir, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
