"""Where engine results go: onto the image each job belongs to, never the one on screen.

The router keeps the last SegmentationResult per image (a small LRU, for the
heatmap overlay and the sliders) and hands shapes to the DocumentStore, which
applies them to that image's open document (undoable) or to its file.
"""

from __future__ import annotations

from collections import OrderedDict

from PySide6.QtCore import QObject, Signal

from annotator.gui.engine_worker import CANCELLED, IMAGE_ERROR, NO_MODEL, EngineClient

RESULTS_KEPT = 8  # heatmaps are small, but a result also holds a full-size label map


class JobRouter(QObject):
    applied = Signal(str, int)  # image, number of proposals
    resultCached = Signal(str)  # image whose heatmaps changed
    message = Signal(str)  # one line for the status bar
    problem = Signal(str, str)  # title, message: worth a dialog

    def __init__(self, client: EngineClient, parent: QObject | None = None):
        super().__init__(parent)
        self.client = client
        self.store = None  # DocumentStore of the open project, set by the window
        self._results: OrderedDict[str, object] = OrderedDict()
        self._first_job = 0  # jobs before this one belong to a project no longer open
        client.proposalsReady.connect(self._on_proposals)
        client.batchSaved.connect(self._on_batch_saved)
        client.failed.connect(self._on_failed)

    def result(self, image: str):
        return self._results.get(image)

    def forget(self) -> None:
        """A different project: its images' names may repeat the old one's, so the old
        project's jobs are cancelled and any late result of theirs is dropped."""
        self._first_job = self.client.cancel_all() + 1
        self._results.clear()

    def _on_proposals(self, job_id: int, image: str, result, shapes: list) -> None:
        if self.store is None or job_id < self._first_job:
            return
        self._cache(image, result)
        self.store.apply_proposals(image, shapes)
        self.applied.emit(image, len(shapes))

    def _on_batch_saved(self, job_id: int, image: str, result, shapes: list) -> None:
        """The pipeline saved the file; an open document of the image takes the same proposals."""
        if self.store is None or job_id < self._first_job:
            return
        self._cache(image, result)
        self.store.proposals_saved(image, shapes)
        self.applied.emit(image, len(shapes))

    def _cache(self, image: str, result) -> None:
        if result is None:
            return
        self._results[image] = result
        self._results.move_to_end(image)
        while len(self._results) > RESULTS_KEPT:
            self._results.popitem(last=False)
        self.resultCached.emit(image)

    def _on_failed(self, job_id: int, image: str, kind: str, message: str) -> None:
        if kind == NO_MODEL or job_id < self._first_job:
            return  # the window shows the model dialog from client.modelMissing
        where = f"{image}: " if image else ""
        if kind in (CANCELLED, IMAGE_ERROR):
            self.message.emit(f"{kind.capitalize()}: {where}{message}")
        else:
            self.message.emit(f"{kind.capitalize()}: {where}{message}")
            self.problem.emit(kind.capitalize(), f"{where}{message}\n\nYour annotations are unchanged.")
