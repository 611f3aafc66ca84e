"""Annotated images whose image file is gone: shown as missing, their annotations set aside.

The file list lists them last, struck through (``FileListDock.add_missing``); selecting
one shows why it cannot be opened, and its context action moves its annotation file to
``.pnp-annotator/trash/`` (``core.trash``) once the user confirms.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QMessageBox

from annotator.core.project import STATE_DIR
from annotator.core.trash import TRASH_DIR, trash_annotations
from annotator.gui.file_list import MISSING


class MissingImages(QObject):
    def __init__(self, window):
        super().__init__(window)
        self._window = window

    def show(self, image: str) -> None:
        """Say why *image* (missing) cannot be shown, in place of the image and in the status bar."""
        w = self._window
        w.pixels = None
        w.store.activate(None)
        shapes = self._shapes(image)
        w.canvas.show_error(f"{image} is missing from the folder.\n\nIts annotation file ({shapes} shape(s)) is "
                            "kept. Put the image back, or right-click it in the list to move its annotations "
                            "to the trash.")
        w.statusBar().showMessage(f"{image}: the image file is missing; its annotation file holds {shapes} "
                                  "shape(s) (right-click it to move them to the trash)", 8000)
        w._refresh_shapes()

    def confirm_trash(self, image: str) -> None:
        """Ask, then move *image*'s annotations to the trash (the list's context action)."""
        box = QMessageBox(QMessageBox.Icon.Question, "Move annotations to the trash",
                          f"Move the annotations of the missing image {image} ({self._shapes(image)} shape(s)) "
                          f"to {STATE_DIR}/{TRASH_DIR}/?\n\nThey leave the folder's list and its exports; "
                          "moving the file back restores them.",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, self._window)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _: box.standardButton(box.clickedButton()) == QMessageBox.StandardButton.Yes
                             and self._trash(image))
        box.open()  # never exec(): the engine's results keep arriving behind it

    def _shapes(self, image: str) -> int:
        return (self._window.files.counts(image) or (0, 0))[0]

    def _trash(self, image: str) -> None:
        w = self._window
        if w.project is None or w.files.status(image) != MISSING:
            return  # the folder was closed, or the image came back, while the question was open
        w.store.reload([image])  # its document, if any, goes: the file is about to move
        try:
            moved = trash_annotations(w.project, image)
        except OSError as e:
            w._show_problem("Not moved to the trash", f"{image}: {e}")
            return
        w.files.remove(image)
        if w.current == image:
            w.current = None
            w.canvas.set_document(None, None)
            w._refresh_shapes()
        where = moved[0].relative_to(w.project.root).as_posix()
        w.statusBar().showMessage(f"Moved the annotations of {image} to {where}", 8000)
