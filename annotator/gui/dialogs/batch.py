"""File > Label All Images: propose for every image of the folder, with progress and cancel.

The dialog starts the labelling pipeline (the CLI's ``label``, with the project's
settings) and shows its progress; the pipeline saves each image, and an image open
in the window takes its proposals as an undoable edit. Cancel stops inside the
current image (at its next dropout pass).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QListWidget,
                               QListWidgetItem, QProgressBar, QPushButton, QWidget)

from annotator.gui.engine_worker import CANCELLED, IMAGE_ERROR
from annotator.gui.prompt_bar import parse_classes


class BatchDialog(QDialog):
    def __init__(self, window, classes: str, parent: QWidget | None = None):
        super().__init__(parent or window)
        self.setWindowTitle("Label all images")
        self._window, self._client = window, window.client
        self.job_id: int | None = None
        self._failures = 0
        self._done = self._skipped = 0
        self._total = 0
        self._cancelled = False

        self.classes = QLineEdit(classes)
        self.skip = QCheckBox("Skip images that already have shapes")
        self.skip.setChecked(True)
        self.image_bar, self.pass_bar = QProgressBar(), QProgressBar()
        self.image_bar.setFormat("%v of %m images")
        self._pass_phase("not started", busy=False)
        self.status = QLabel("Proposals for each image replace its pending proposals; accepted and "
                             "hand-drawn shapes are kept.")
        self.status.setWordWrap(True)
        # Every image that failed, with the reason; a click opens it in the window.
        self.failures = QListWidget()
        self.failures.setToolTip("Images that could not be labelled; click one to open it")
        self.failures.setWordWrap(True)
        self.failures.itemClicked.connect(self._open_failed)
        self.failures.itemActivated.connect(self._open_failed)
        self.failures.hide()
        self.setMinimumWidth(460)
        self.start = QPushButton("Start")
        self.start.setDefault(True)
        self.start.clicked.connect(self._start)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.buttons.addButton(self.start, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.rejected.connect(self.reject)

        form = QFormLayout(self)
        form.addRow("Classes", self.classes)
        form.addRow(self.skip)
        form.addRow("Images", self.image_bar)
        form.addRow("Passes", self.pass_bar)
        form.addRow(self.status)
        form.addRow(self.failures)
        form.addRow(self.buttons)

        self._client.batchImage.connect(self._on_image)
        self._client.progress.connect(self._on_progress)
        self._client.batchDone.connect(self._on_done)
        self._client.failed.connect(self._on_failed)
        self._client.jobFinished.connect(self._on_finished)

    def _start(self) -> None:
        classes = parse_classes(self.classes.text())
        if not classes:
            self._say("Type at least one class name.")
            return
        if self._window.listing():
            self._say("The folder is still being listed; start again in a moment.")
            return
        self.job_id = self._window.start_batch(classes, self.skip.isChecked())
        if self.job_id is None:
            self._say("Nothing to do: the folder has no images.")
            return
        self._failures, self._done, self._skipped, self._total = 0, 0, 0, 0
        self._cancelled = False
        self.failures.clear()
        self.failures.hide()
        self.image_bar.setFormat("%v of %m images")
        self.image_bar.setValue(0)
        self._pass_phase("loading the model…")
        self.start.setEnabled(False)
        self.classes.setEnabled(False)
        self.skip.setEnabled(False)
        self.buttons.setStandardButtons(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.addButton(self.start, QDialogButtonBox.ButtonRole.ActionRole)
        self._say("Starting…")

    def _on_image(self, job_id: int, done: int, count: int, image: str) -> None:
        if job_id == self.job_id:
            self._total = count
            self.image_bar.setRange(0, count)
            self.image_bar.setValue(done)
            if done < count:
                self._pass_phase("reading the next image…")
            self._say(f"{done} of {count} images done" + (f", last: {image}" if image else ""))

    def _on_progress(self, job_id: int, image: str, stage: str, done: int, total: int) -> None:
        if job_id == self.job_id and stage == "pass":
            if done < total:
                self.pass_bar.setFormat("pass %v of %m")
                self.pass_bar.setRange(0, total)
                self.pass_bar.setValue(done)
            else:
                self._pass_phase("post-processing and outlines…")

    def _pass_phase(self, text: str, busy: bool = True) -> None:
        """The passes bar between counted passes: what runs, not "pass 0 of 100"."""
        self.pass_bar.setRange(0, 0 if busy else 1)
        self.pass_bar.setValue(0)
        self.pass_bar.setFormat(text)
        self.pass_bar.setToolTip(text)

    def _on_done(self, job_id: int, summary) -> None:
        if job_id == self.job_id:
            self._done = len(summary.labelled)
            self._skipped = len(summary.skipped)

    def _on_failed(self, job_id: int, image: str, kind: str, message: str) -> None:
        if job_id != self.job_id:
            return
        if kind == CANCELLED:  # the user's own cancel: reported once, in the summary
            self._cancelled = True
            return
        self._failures += 1
        item = QListWidgetItem(f"{image}: {message}" if image else message)
        item.setData(Qt.ItemDataRole.UserRole, image)
        self.failures.addItem(item)
        self.failures.show()
        if image and kind == IMAGE_ERROR:
            self._window.files.set_status(image, "unreadable")  # red in the list at once
        self._say(f"{self._failures} image(s) could not be labelled so far (listed below).")

    def _on_finished(self, job_id: int) -> None:
        if job_id != self.job_id:
            return
        self._pass_phase("finished", busy=False)
        if self._cancelled:
            text = (f"Cancelled after {self._done} of {self._total or '?'} image(s); "
                    "the proposals already made are kept.")
            self.image_bar.setFormat(f"{self._done} of %m images done")
            self.image_bar.setValue(self._done)
        else:
            text = f"Done: proposals for {self._done} image(s)."
        if self._skipped:
            text += f" {self._skipped} already annotated, skipped."
        if self._failures:
            text += f" {self._failures} image(s) could not be labelled (listed below; click one to open it)."
        self._say(text)
        self.buttons.setStandardButtons(QDialogButtonBox.StandardButton.Close)
        self.buttons.addButton(self.start, QDialogButtonBox.ButtonRole.ActionRole)
        for widget in (self.start, self.classes, self.skip):
            widget.setEnabled(True)  # another run needs no reopening
        self.job_id = None

    def _open_failed(self, item: QListWidgetItem) -> None:
        image = item.data(Qt.ItemDataRole.UserRole)
        if image and self._window.project is not None:
            self._window.show_image(image)

    def _say(self, text: str) -> None:
        """Status text in full: the dialog grows with a wrapped summary instead of cutting it."""
        self.status.setText(text)
        self.adjustSize()

    def reject(self) -> None:
        """Cancel while running (stops inside the current image); Close when done."""
        if self.job_id is not None:
            self._client.cancel(self.job_id)
            self._say("Cancelling: the current image stops at its next pass…")
            return
        super().reject()
