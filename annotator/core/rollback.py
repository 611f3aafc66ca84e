"""All or nothing for a write of many files (an import): if one write fails (a full disk, a
read-only folder), the files written before it are put back as they were.

Before the first write each target that exists is hard-linked to a hidden name beside it
(a link takes no data blocks, so this works on a nearly full disk); putting it back is a
rename, which needs no space either. Targets that did not exist are deleted again, and so
are the folders made for them. A log file that the writes append to is cut back to its
old length. The hidden links end in the temp suffix of ``core.atomic``, so a crash in the
middle leaves only files that ``Project.stray_temp_files`` lists for deletion.

    with Rollback(paths, appended=[log]):
        ... write the files ...
    # an exception inside: every path is as it was, and the exception propagates
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from annotator.core.atomic import TEMP_SUFFIX


class Rollback:
    """Keeps what is needed to undo writes to *paths* (and appends to *appended*)."""

    def __init__(self, paths: Iterable[str | os.PathLike], *, appended: Iterable[str | os.PathLike] = ()) -> None:
        self._kept: list[tuple[Path, Path | None, bytes | None]] = []  # (target, link, bytes if no link)
        self._links: list[tuple[Path, str]] = []  # symbolic links among the targets, and where they point
        self._lengths: list[tuple[Path, int | None]] = []
        self._new_dirs: list[Path] = []
        try:
            for path in dict.fromkeys(Path(p) for p in paths):
                self._keep(path)
            for path in appended:
                path = Path(path)
                if not path.is_symlink():  # a link is not ours to cut back
                    self._lengths.append((path, path.stat().st_size if path.is_file() else None))
        except BaseException:
            self.discard()
            raise

    def _keep(self, path: Path) -> None:
        folder = path.parent
        while not folder.exists() and folder not in self._new_dirs:
            self._new_dirs.append(folder)  # made by the writes: removed again on failure
            folder = folder.parent
        if path.is_symlink():
            self._links.append((path, os.readlink(path)))
            return
        if os.path.lexists(path) and not path.is_file():
            return  # a folder or device: no write can replace it, nothing to undo
        if not path.is_file():
            self._kept.append((path, None, None))
            return
        link = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.rollback{TEMP_SUFFIX}")
        try:
            os.link(path, link)
            self._kept.append((path, link, None))
        except OSError:  # no hard links on this file system: keep the bytes
            self._kept.append((path, None, path.read_bytes()))

    def __enter__(self) -> Rollback:
        return self

    def __exit__(self, kind, exc, tb) -> bool:
        if kind is None:
            self.discard()
        else:
            self.restore()
        return False

    def restore(self) -> list[str]:
        """Put every path back; returns what could not be put back ('path: why')."""
        failed = []
        for path, link, data in reversed(self._kept):
            try:
                if link is not None:
                    if path.exists() and os.path.samefile(link, path):
                        link.unlink()  # not replaced (and rename() between two links of one file does nothing)
                    else:
                        os.replace(link, path)
                elif data is not None:
                    if not path.is_file() or path.read_bytes() != data:
                        path.write_bytes(data)
                else:
                    path.unlink(missing_ok=True)
            except OSError as exc:
                failed.append(f"{path}: {exc.strerror or exc}")
        for path, target in self._links:
            try:
                if not (path.is_symlink() and os.readlink(path) == target):
                    if os.path.lexists(path):
                        path.unlink()
                    os.symlink(target, path)
            except OSError as exc:
                failed.append(f"{path}: {exc.strerror or exc}")
        for path, length in self._lengths:
            try:
                if length is None:
                    path.unlink(missing_ok=True)
                elif path.stat().st_size > length:
                    os.truncate(path, length)
            except OSError as exc:
                failed.append(f"{path}: {exc.strerror or exc}")
        for folder in sorted(self._new_dirs, key=lambda p: len(p.parts), reverse=True):
            try:
                folder.rmdir()
            except OSError:
                pass  # not empty (something else wrote there) or already gone
        self._kept, self._lengths, self._new_dirs, self._links = [], [], [], []
        return failed

    def discard(self) -> None:
        """The writes succeeded: drop the kept links."""
        for _, link, _ in self._kept:
            if link is not None:
                try:
                    link.unlink()
                except OSError:
                    pass
        self._kept, self._lengths, self._new_dirs, self._links = [], [], [], []


class WriteFailed(RuntimeError):
    """A multi-file write failed and was undone; says which file, why, and what could not be
    put back (normally nothing)."""


@contextmanager
def project_writes(project, images: Iterable[str]) -> Iterator[None]:
    """All or nothing for an import into *project*: its project.json and COCO metadata file and
    the annotation files of *images*; the status index's log is cut back. An OSError inside (a
    full disk, a read-only folder) undoes them, puts the in-memory label set back and raises
    WriteFailed."""
    from annotator.core.coco.meta import META_FILE
    from annotator.core.index import JOURNAL_FILE
    from annotator.core.project import PROJECT_FILE

    labels = list(project.labels.categories)
    try:
        paths = [project.state_dir / PROJECT_FILE, project.state_dir / META_FILE,
                 *(project.annotation_path(rel) for rel in images)]
        rollback = Rollback(paths, appended=[project.state_dir / JOURNAL_FILE])
    except OSError as exc:
        raise WriteFailed(f"cannot prepare the writes ({_reason(exc)}); nothing was written") from None
    try:
        yield
    except OSError as exc:
        failed = rollback.restore()
        project.labels.set_categories(labels)
        undone = ("every file written before it was put back as it was" if not failed else
                  "these files could not be put back: " + "; ".join(failed))
        raise WriteFailed(f"cannot write {_reason(exc)}; {undone}") from None
    except BaseException:
        rollback.restore()
        project.labels.set_categories(labels)
        raise
    rollback.discard()


def _reason(exc: OSError) -> str:
    where = f"{exc.filename}: " if exc.filename else ""
    return f"{where}{exc.strerror or exc}"
