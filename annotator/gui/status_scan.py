"""The file list's statuses from the project's status index, refreshed off the GUI thread.

Opening a folder, finishing an import or a batch never parse annotation files on the
GUI thread: ``StatusScanner.scan(project)`` refreshes the index (parsing only files
changed since it was written) on a thread and delivers ``{image: status}``; the
window applies it to the list in slices, so even 20,000 rows never stall it.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, QTimer, Signal

from annotator.core.index import DAMAGED

SLICE = 1000  # rows updated per event-loop turn


def display_status(status: str) -> str:
    """The file list's word for an index status (a damaged file cannot be shown)."""
    return "unreadable" if status == DAMAGED else status


class StatusScanner(QObject):
    scanned = Signal(object, object)  # project root, {image: status} (images without a file: absent)
    _delivered = Signal(object, object, object)  # generation, root, statuses (from the thread)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._generation = 0
        self._cancel = threading.Event()
        self._delivered.connect(self._on_delivered)

    def scan(self, project) -> None:
        """Refresh *project*'s index in the background; a newer scan supersedes this one."""
        self._cancel.set()
        self._cancel = cancel = threading.Event()
        self._generation += 1
        generation, root = self._generation, project.root

        def work() -> None:
            entries = project.index.refresh(cancel)
            if not cancel.is_set():
                self._delivered.emit(generation, root, {rel: display_status(e.status) for rel, e in entries.items()})

        threading.Thread(target=work, name="pnp-annotator-status", daemon=True).start()

    def cancel(self) -> None:
        self._cancel.set()
        self._generation += 1

    def _on_delivered(self, generation: int, root, statuses: dict) -> None:
        if generation == self._generation:
            self.scanned.emit(root, statuses)


def apply_in_slices(items: list[tuple[str, str]], apply, parent: QObject, done=None) -> QTimer:
    """Call apply(image, status) for each item, SLICE per event-loop turn; done() at the end."""
    timer = QTimer(parent)
    timer.setInterval(0)
    position = [0]

    def step() -> None:
        start = position[0]
        for image, status in items[start:start + SLICE]:
            apply(image, status)
        position[0] = start + SLICE
        if position[0] >= len(items):
            timer.stop()
            timer.deleteLater()
            if done is not None:
                done()

    timer.timeout.connect(step)
    timer.start()
    return timer
