"""The file list's statuses from the project's status index, refreshed off the GUI thread.

Opening a folder or finishing an import never parse annotation files in the window's
process: ``StatusScanner.scan(project)`` refreshes the index (parsing only files
changed since it was written) in a helper process, so the parsing cannot hold the GUI
thread's GIL, and delivers ``{image: status}`` and ``{image: (shapes, pending)}``, applied to
the list in one update.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from annotator.core.index import DAMAGED, refresh_statuses


def display_status(status: str) -> str:
    """The file list's word for an index status (a damaged file cannot be shown)."""
    return "unreadable" if status == DAMAGED else status


class StatusScanner(QObject):
    # project root, {image: status}, {image: (shapes, pending)} (images without a file: absent)
    scanned = Signal(object, object, object)
    _delivered = Signal(object, object, object, object)  # generation, root, statuses, counts (from the thread)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._generation = 0
        self._pool = None
        self._delivered.connect(self._on_delivered)

    def scan(self, project) -> None:
        """Refresh *project*'s index in a helper process; a newer scan supersedes this one."""
        self._generation += 1
        generation, root = self._generation, project.root
        future = self._executor().submit(refresh_statuses, str(project.state_dir))

        def done(f) -> None:
            try:
                summaries = f.result()
            except Exception:  # noqa: BLE001 - the helper died: statuses come image by image instead
                return
            statuses = {rel: display_status(status) for rel, (status, _, _) in summaries.items()}
            counts = {rel: (shapes, pending) for rel, (_, shapes, pending) in summaries.items()}
            try:
                self._delivered.emit(generation, root, statuses, counts)
            except RuntimeError:  # the window closed while the helper worked: nobody to tell
                pass

        future.add_done_callback(done)

    def warm_up(self) -> None:
        """Start the helper process now (it takes a moment), before a folder is opened."""
        self._executor().submit(int)

    def _executor(self):
        if self._pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            # spawn: the window holds Qt and torch threads that a fork would copy half-alive.
            from engine.procs import die_with_parent

            # the helper ends with the window however it ends (kill -9 included)
            self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=die_with_parent)
        return self._pool

    def cancel(self) -> None:
        """Drop pending results and stop the helper process."""
        self._generation += 1
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def _on_delivered(self, generation: int, root, statuses: dict, counts: dict) -> None:
        if generation == self._generation:
            self.scanned.emit(root, statuses, counts)
