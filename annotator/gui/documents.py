"""Open documents of a project, their undo stacks, and saving them.

Every image visited keeps its AnnotationDocument (and so its undo history) while
the project is open, up to ``keep`` of them; their stacks live in one QUndoGroup
whose active stack is the current image's. Each edit schedules a save (debounced,
so a vertex drag is one write); switching images and closing flush at once, so
closing the window never loses work.

Proposals for an image are applied here whether or not it is open: to its
document (undoable) when it has one, else straight to its file.

``prefetch(image)`` parses an image's annotation file on a worker thread (the window
asks for the neighbours of the shown image), so moving on costs no parse on the GUI
thread; a parse is used only while the file's mtime and size are still those it was
read with, so an outside write (a batch, an import) is never hidden.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import Executor, ThreadPoolExecutor

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoGroup

from annotator.core.index import DAMAGED
from annotator.core.project import Project
from annotator.gui.document import AnnotationDocument

SAVE_DELAY_MS = 400
PREFETCH_KEEP = 4  # parsed annotation files kept for images not opened yet


class DocumentStore(QObject):
    statusChanged = Signal(str, str)  # image, "none" | "proposed" | "reviewed"
    saveFailed = Signal(str, str)  # image, message
    documentChanged = Signal(str)  # image whose open document changed

    def __init__(self, project: Project, undo_group: QUndoGroup, keep: int = 32, parent: QObject | None = None,
                 reader: Executor | None = None):
        """*reader*: the executor ``prefetch`` parses on (the caller's, kept running after
        ``close``); without one the store starts its own thread on the first prefetch."""
        super().__init__(parent)
        self.project = project
        self._group = undo_group
        self._keep = keep
        self._docs: OrderedDict[str, AnnotationDocument] = OrderedDict()
        self._dirty: set[str] = set()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(SAVE_DELAY_MS)
        self._timer.timeout.connect(self.flush)
        self._ahead: OrderedDict[str, tuple] = OrderedDict()  # image -> (file stamp, ImageAnnotations)
        self._ahead_lock = threading.Lock()
        self._reader = reader
        self._own_reader = reader is None
        self._closed = False

    def document(self, image: str) -> AnnotationDocument:
        """The open document of *image*, loading it first (AnnotationFileError, ImageReadError)."""
        doc = self._docs.get(image)
        if doc is None:
            doc = AnnotationDocument(self._take_ahead(image) or self.project.load(image), self)
            doc.changed.connect(lambda image=image: self._on_changed(image))
            self._group.addStack(doc.undo_stack)
            self._docs[image] = doc
            self._evict()
        self._docs.move_to_end(image)
        return doc

    def prefetch(self, image: str) -> None:
        """Parse *image*'s annotation file on a worker thread, ready for ``document``."""
        with self._ahead_lock:
            if self._closed or image in self._docs or image in self._ahead:
                return
        if self._reader is None:
            self._reader = ThreadPoolExecutor(1, thread_name_prefix="pnp-annotator-read")
        self._reader.submit(self._read_ahead, image)

    def _read_ahead(self, image: str) -> None:
        stamp = self._stamp(image)  # before the read: a write during it makes the stamp stale
        try:
            ann = self.project.load(image)
        except Exception:  # noqa: BLE001 - opening the image reports it
            return
        with self._ahead_lock:
            if self._closed:
                return
            self._ahead[image] = (stamp, ann)
            while len(self._ahead) > PREFETCH_KEEP:
                self._ahead.popitem(last=False)

    def _take_ahead(self, image: str):
        """The parse made ahead for *image* if its file has not changed since, else None."""
        with self._ahead_lock:
            entry = self._ahead.pop(image, None)
        if entry is None or entry[0] != self._stamp(image):
            return None
        return entry[1]

    def _stamp(self, image: str) -> tuple[int, int] | None:
        try:
            st = self.project.annotation_path(image).stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def open_document(self, image: str) -> AnnotationDocument | None:
        return self._docs.get(image)

    def open_images(self) -> list[str]:
        return list(self._docs)

    def activate(self, image: str | None) -> None:
        doc = self._docs.get(image) if image else None
        self._group.setActiveStack(doc.undo_stack if doc else None)

    def apply_proposals(self, image: str, shapes: list, params=None, model_run: dict | None = None) -> None:
        """*params*: the ``ProposalSettings`` the proposals were made with (for the sliders);
        *model_run*: the model run they came from (None: a re-draw of the same run)."""
        doc = self._docs.get(image)
        if doc is not None:
            doc.apply_proposals(shapes, params, model_run)  # undoable; saved by the change it causes
            return
        try:
            ann = self.project.load(image)
            if model_run is not None:
                ann.model_run = dict(model_run)
            ann.apply_proposals(shapes, skip_kept=True)
            self.project.save(ann)
        except Exception as e:  # noqa: BLE001 - reported, the result stays in the job's hands
            self.saveFailed.emit(image, f"could not save proposals for {image}: {e}")
            return
        self.statusChanged.emit(image, ann.status)

    def proposals_saved(self, image: str, shapes: list, params=None) -> None:
        """A batch saved *shapes* as the image's proposals in its file: an open document
        takes them too (undoable; its next save writes the same proposals plus any edit
        made meanwhile), a closed one only reports its new status."""
        doc = self._docs.get(image)
        if doc is not None:
            doc.apply_proposals(shapes, params)
            return
        self.statusChanged.emit(image, self.status(image))

    def status(self, image: str) -> str:
        return self.summary(image)[0]

    def summary(self, image: str) -> tuple[str, tuple[int, int]]:
        """(status, (shapes, pending proposals)) of *image*: its open document's, else the status
        index's (core.index: no parse while the file is unchanged)."""
        doc = self._docs.get(image)
        if doc is not None:
            ann = doc.annotations
            return ann.status, (len(ann.shapes), len(doc.proposal_ids()))
        entry = self.project.entry(image)
        if entry is None or entry.status == DAMAGED:  # a damaged file shows up when the image is opened
            return "none", (0, 0)
        return entry.status, (entry.shapes, entry.pending)

    def flush(self) -> None:
        """Save every edited document now."""
        self._timer.stop()
        for image in sorted(self._dirty):
            doc = self._docs.get(image)
            if doc is None:
                continue
            try:
                self.project.save(doc.annotations)
            except OSError as e:
                self.saveFailed.emit(image, f"could not save {self.project.annotation_path(image)}: {e}")
                continue  # stays dirty: the next flush tries again
            self._dirty.discard(image)

    def is_dirty(self) -> bool:
        return bool(self._dirty)

    def reload(self, images) -> None:
        """Forget the open documents of *images* (their files were rewritten elsewhere)."""
        for image in images:
            with self._ahead_lock:
                self._ahead.pop(image, None)
            if image in self._docs:
                self._dirty.discard(image)
                self._drop(image)

    def close(self) -> None:
        if self._reader is not None and self._own_reader:
            self._reader.shutdown(wait=False, cancel_futures=True)
        with self._ahead_lock:
            self._closed = True
            self._ahead.clear()
        self.flush()
        for image in list(self._docs):
            self._drop(image)

    def _on_changed(self, image: str) -> None:
        self._dirty.add(image)
        self._timer.start()
        self.statusChanged.emit(image, self._docs[image].annotations.status)
        self.documentChanged.emit(image)

    def _evict(self) -> None:
        while len(self._docs) > self._keep:
            oldest = next(iter(self._docs))
            self.flush()
            self._drop(oldest)

    def _drop(self, image: str) -> None:
        doc = self._docs.pop(image)
        self._group.removeStack(doc.undo_stack)
        doc.deleteLater()
