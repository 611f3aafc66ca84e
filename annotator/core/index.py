"""Statuses of every image without parsing every annotation file.

``.pnp-annotator/index.json`` (``core.layout``) holds one entry per annotation file: its status,
counts and image size, with the file's mtime and size when the entry was made.
An entry is trusted only while the file's ``stat`` still matches, so an outside
edit, a restored backup or a crash between a save and its index line costs one
re-parse of that file, never a wrong status. Every save appends one line to
``index.log`` (cheap, no rewrite of the whole index); ``refresh`` folds the log
into ``index.json``. A missing or damaged index is rebuilt by ``refresh`` (run it
off the GUI thread: it parses what it cannot trust).

    entries = StatusIndex(state_dir).refresh()     # {rel: IndexEntry}, index.json rewritten if stale
    entry = index.lookup(rel)                       # IndexEntry | None (no annotation file)
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from annotator.core import safejson
from annotator.core.atomic import atomic_write_text
from annotator.core.layout import ANNOTATION_SUFFIX, IMAGE_EXTENSIONS, INDEX_FILE, JOURNAL_FILE, StateLayout
from annotator.core.statefiles import append_state_line, read_state_text

__all__ = ["INDEX_FILE", "JOURNAL_FILE", "IndexEntry", "StatusIndex", "refresh_statuses"]
INDEX_SCHEMA = "pnp-annotator/index"
INDEX_VERSION = 1
DAMAGED = "damaged"


@dataclass(frozen=True)
class IndexEntry:
    status: str
    """"none" | "proposed" | "reviewed" (ImageAnnotations.status) or "damaged"."""
    annotated: bool
    """pipeline.is_annotated: shapes or a model run."""
    shapes: int
    pending: int
    """Unaccepted model proposals."""
    width: int
    height: int
    mtime_ns: int
    size: int
    reason: str = ""
    """Why the file is damaged (status "damaged"; the file's path not included), else ""."""

    def matches(self, st: os.stat_result) -> bool:
        return self.mtime_ns == st.st_mtime_ns and self.size == st.st_size


def entry_for(ann, st: os.stat_result) -> IndexEntry:
    """The entry of a parsed ``ImageAnnotations`` whose file has stat *st*."""
    pending = sum(1 for s in ann.shapes if s.source == "model" and not s.accepted)
    return IndexEntry(ann.status, bool(ann.shapes) or ann.model_run is not None, len(ann.shapes), pending,
                      int(ann.width), int(ann.height), st.st_mtime_ns, st.st_size)


def damaged_entry(reason: str, st: os.stat_result) -> IndexEntry:
    return IndexEntry(DAMAGED, False, 0, 0, 0, 0, st.st_mtime_ns, st.st_size, reason)


class StatusIndex:
    """The index of one project's state folder; thread-safe."""

    def __init__(self, state_dir: Path, image_extensions, layout: StateLayout | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.layout = layout or StateLayout.detect(self.state_dir)
        self._extensions = frozenset(image_extensions)
        self._lock = threading.Lock()
        self._entries: dict[str, IndexEntry] | None = None  # loaded lazily
        self.problem = ""
        """Why the stored index was not usable the last time it was read ("" if it was)."""

    # --- reading ------------------------------------------------------------------------------
    def entries(self) -> dict[str, IndexEntry]:
        """Stored entries (index.json + log), unchecked: cheap, may be stale."""
        with self._lock:
            if self._entries is None:
                self._entries = self._read()
            return dict(self._entries)

    def lookup(self, rel: str) -> IndexEntry | None:
        """The entry of *rel*, checked against its file (re-parsed if stale); None: no file."""
        path = self._annotation_path(rel)
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        with self._lock:
            if self._entries is None:
                self._entries = self._read()
            entry = self._entries.get(rel)
        if entry is not None and entry.matches(st):
            return entry
        entry = self._parse(rel, path, st)
        with self._lock:
            self._entries[rel] = entry
        return entry

    def refresh(self, cancel=None) -> dict[str, IndexEntry]:
        """Every annotation file's entry, trusted ones reused, the rest parsed; index.json
        is rewritten when anything changed (and the log folded into it).

        *cancel*: any ``is_set()``; a cancelled refresh returns what it has and writes nothing.
        """
        stored = self.entries()
        fresh: dict[str, IndexEntry] = {}
        changed = False
        for rel, path, st in self.annotation_files():
            if cancel is not None and cancel.is_set():
                return fresh
            entry = stored.get(rel)
            if entry is None or not entry.matches(st):
                entry = self._parse(rel, path, st)
                changed = True
            fresh[rel] = entry
        changed = changed or set(stored) != set(fresh) or self._journal_path().exists() or bool(self.problem)
        with self._lock:
            self._entries = dict(fresh)
        if changed:
            self._write(fresh)
        return fresh

    # --- writing ------------------------------------------------------------------------------
    def note_saved(self, rel: str, ann, path: Path) -> None:
        """Record a save of *rel* (one appended log line). The index is a cache: a failure
        here (a full disk) only means the next refresh parses that file again."""
        try:
            entry = entry_for(ann, path.stat())
            with self._lock:
                if self._entries is not None:
                    self._entries[rel] = entry
            # one JSON line, ASCII: a name with newlines, escape codes or undecodable bytes stays
            # one escaped string (read back as it was)
            append_state_line(self._journal_path(), json.dumps({"image": rel, **asdict(entry)}))
        except OSError:
            pass

    def note_removed(self, rel: str) -> None:
        with self._lock:
            if self._entries is not None:
                self._entries.pop(rel, None)

    # --- internals ----------------------------------------------------------------------------
    def _annotation_path(self, rel: str) -> Path:
        return self.layout.annotation(rel)

    def _journal_path(self) -> Path:
        return self.layout.journal_file

    def annotation_files(self):
        """(rel, path, stat) of every annotation file (``<image>.<ext>.json``)."""
        top = self.layout.images_dir
        if not top.is_dir() or top.is_symlink():
            return
        cut = len(ANNOTATION_SUFFIX)
        stack = [top]
        while stack:
            folder = stack.pop()
            try:
                scan = list(os.scandir(folder))
            except OSError:
                continue
            for item in scan:
                if item.is_dir(follow_symlinks=False):
                    if not self.layout.skip_dir(folder, item.name):  # layout 1: trash/ among the images
                        stack.append(Path(item.path))
                    continue
                name = item.name
                if (name.startswith(".") or not name.endswith(ANNOTATION_SUFFIX)
                        or not item.is_file(follow_symlinks=False)
                        or Path(name[:-cut]).suffix.lower() not in self._extensions):
                    continue
                try:
                    st = item.stat(follow_symlinks=False)
                except OSError:
                    continue
                path = Path(item.path)
                yield path.relative_to(top).as_posix()[:-cut], path, st

    def _parse(self, rel: str, path: Path, st: os.stat_result) -> IndexEntry:
        from annotator.core.annotations import ImageAnnotations

        try:
            text = read_state_text(path)
        except (OSError, UnicodeDecodeError) as exc:
            return damaged_entry(f"cannot be read ({exc})", st)
        try:
            ann = ImageAnnotations.from_dict(safejson.loads(text))
        except json.JSONDecodeError as exc:
            return damaged_entry(f"is not valid JSON ({exc})", st)
        except ValueError as exc:
            return damaged_entry(str(exc), st)
        return entry_for(ann, st)

    def _read(self) -> dict[str, IndexEntry]:
        """index.json then the log; a damaged file is reported in ``problem`` and ignored."""
        self.problem = ""
        entries: dict[str, IndexEntry] = {}
        path = self.layout.index_file
        try:
            data = safejson.loads(read_state_text(path))
            if not isinstance(data, dict) or data.get("schema") != INDEX_SCHEMA or \
                    data.get("version") != INDEX_VERSION:
                raise ValueError(f"not a version-{INDEX_VERSION} {INDEX_SCHEMA} file")
            for rel, fields in data["images"].items():
                entries[rel] = IndexEntry(**fields)
        except FileNotFoundError:
            self.problem = "missing"
        except (OSError, UnicodeDecodeError, ValueError, TypeError, KeyError, AttributeError) as exc:
            self.problem = f"{path} is damaged ({exc}); rebuilt from the annotation files"
            entries = {}
        try:
            lines = read_state_text(self._journal_path()).splitlines()
        except (OSError, UnicodeDecodeError):
            lines = []  # none, or not a file of ours: every file is checked against its stat anyway
        for line in lines:  # older versions wrote the same JSON lines, non-ASCII names unescaped
            try:
                fields = safejson.loads(line)
                rel = fields.pop("image")
                if not isinstance(rel, str):
                    continue
                entries[rel] = IndexEntry(**fields)
            except (ValueError, TypeError, KeyError, AttributeError):
                continue  # a torn last line: that file is re-parsed when its stat disagrees
        return entries

    def _write(self, entries: dict[str, IndexEntry]) -> None:
        data = {"schema": INDEX_SCHEMA, "version": INDEX_VERSION,
                "images": {rel: asdict(e) for rel, e in sorted(entries.items())}}
        try:
            atomic_write_text(self.layout.index_file, json.dumps(data) + "\n")  # ASCII: any file name
            self._journal_path().unlink(missing_ok=True)
            self.problem = ""
        except OSError:
            pass  # a read-only folder or a full disk: the statuses are right, only not cached


def refresh_statuses(state_dir: str) -> dict[str, tuple[str, int, int]]:
    """{image: (status, shapes, pending proposals)} of a project's state folder, its index
    refreshed first. A plain function of a path: the window runs it in a helper process
    (parsing holds the GIL)."""
    entries = StatusIndex(Path(state_dir), IMAGE_EXTENSIONS).refresh()
    return {rel: (e.status, e.shapes, e.pending) for rel, e in entries.items()}
