"""The open folder's images, listed off the GUI thread.

Walking a folder of 20,000 images and sorting their names costs tens to hundreds of
milliseconds (more on a network drive), so the window never does it on the GUI thread:
``FolderLister.list(project)`` runs ``project.images()`` on a worker thread and
``listed`` delivers the sorted relative paths to the GUI thread. A newer listing (another
folder opened) supersedes a pending one, whose result is dropped.

    lister.listed.connect(on_listed)   # (project root, [relative image paths], error message)
    lister.list(project)
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from PySide6.QtCore import QObject, Signal


class FolderLister(QObject):
    listed = Signal(object, object, str)  # project root, sorted relative paths, error ("" when listed)
    _delivered = Signal(int, object, object, str)  # generation, root, images, error (from the worker)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._generation = 0
        self._busy = False
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="pnp-annotator-list")
        self._delivered.connect(self._on_delivered)

    def list(self, project) -> None:
        """List *project*'s images on the worker thread; ``listed`` follows."""
        self._generation += 1
        self._busy = True
        self._pool.submit(self._run, self._generation, project)

    def busy(self) -> bool:
        """True from ``list`` until its result is delivered (or dropped by ``cancel``)."""
        return self._busy

    def cancel(self) -> None:
        """Drop the pending listing's result."""
        self._generation += 1
        self._busy = False

    def shutdown(self) -> None:
        """Drop the pending result; a walk under way ends on its own (closing never waits for it)."""
        self.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self, generation: int, project) -> None:
        images, error = [], ""
        try:
            images = project.images()
        except Exception as exc:  # noqa: BLE001 - reported by the window, the folder stays open
            error = f"Could not list {project.root}: {exc}"
        try:
            self._delivered.emit(generation, project.root, images, error)
        except RuntimeError:  # the window closed while the folder was walked: nobody to tell
            pass

    def _on_delivered(self, generation: int, root, images: list, error: str) -> None:
        if generation != self._generation:
            return
        self._busy = False
        self.listed.emit(root, images, error)
