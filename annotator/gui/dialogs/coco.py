"""File > Export / Import: COCO JSON or semantic label PNGs, with the CLI's options.

Both run as background jobs (a thread; the window stays responsive) with a progress
bar and Cancel; a cancelled or failed job writes nothing.
"""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QLabel, QLineEdit, QProgressBar, QPushButton, QWidget)

from annotator.core.jobs import JobCancelled

from annotator.core.coco import SEGMENTATION_MODES, export_coco, import_coco
from annotator.core.semantic import export_semantic, import_semantic

FORMATS = {"COCO JSON": "coco", "Semantic PNG (one class-id image per image)": "semantic-png"}

MAX_LISTED = 12  # report lines shown before "and N more"


class _PathRow(QHBoxLayout):
    def __init__(self, path: str, pick):
        super().__init__()
        self.edit = QLineEdit(path)
        browse = QPushButton("Browse…")
        browse.clicked.connect(lambda: (chosen := pick(self.edit.text())) and self.edit.setText(chosen))
        self.addWidget(self.edit, 1)
        self.addWidget(browse)


class _Progress:
    """The job's progress callback (core.jobs): counts and pass names, handed to signals."""

    def __init__(self, count, stage):
        self._count, self.stage = count, stage

    def __call__(self, done: int, total: int) -> None:
        self._count(done, total)


class _CocoDialog(QDialog):
    _progressed = Signal(int, int)  # from the job's thread
    _staged = Signal(str)  # the job's next pass, from its thread
    _ended = Signal(object, object)  # callback, result or exception

    def __init__(self, title: str, parent: QWidget | None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.form = QFormLayout(self)
        self.report = QLabel()
        self.report.setWordWrap(True)
        self.report.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setMinimumWidth(520)
        self.progress = QProgressBar()
        self.progress.setFormat("%v of %m images")
        self.progress.hide()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.rejected.connect(self.reject)
        self._cancel: threading.Event | None = None
        self._progressed.connect(self._on_progress)
        self._staged.connect(self._on_stage)
        self._ended.connect(lambda done, outcome: done(outcome))

    def _finish_form(self, run) -> None:
        self.buttons.accepted.connect(run)
        self.buttons.rejected.connect(self._close_when_done)
        self.form.addRow(self.progress)
        self.form.addRow(self.report)
        self.form.addRow(self.buttons)
        self._done_once = False

    def _options_changed(self) -> None:
        """After a run, changing the format or path readies the dialog for another run (the
        last report goes: it was about the other choice)."""
        if self._done_once and not self.running():
            self._done_once = False
            self.buttons.setStandardButtons(QDialogButtonBox.StandardButton.Ok
                                            | QDialogButtonBox.StandardButton.Cancel)
            self._set_report("")

    def _close_when_done(self) -> None:
        if self._done_once:
            self.accept()

    def running(self) -> bool:
        return self._cancel is not None

    def _start(self, work, done, first: str = "Working…") -> None:
        """Run work(progress, cancel) on a thread; done(result or exception) on the GUI thread.
        *first*: what the dialog says until the job reports its first pass."""
        self._cancel = cancel = threading.Event()
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(False)
        self.progress.setRange(0, 0)
        self.progress.setFormat(first)
        self.progress.show()
        self.report.setText(first)
        progress = _Progress(self._progressed.emit, self._staged.emit)

        def thread() -> None:
            try:
                outcome = work(progress, cancel)
            except Exception as e:  # noqa: BLE001 - delivered to done() and shown
                outcome = e
            self._ended.emit(self._finished_with(done), outcome)

        threading.Thread(target=thread, name="pnp-annotator-coco", daemon=True).start()

    def _finished_with(self, done):
        def finish(outcome) -> None:
            self._cancel = None
            self.progress.hide()
            self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(True)
            done(outcome)
        return finish

    def _on_progress(self, n: int, total: int) -> None:
        if self._cancel is not None:
            if "%v" not in self.progress.format():  # counting starts (a job that names no passes)
                self.progress.setFormat("%v of %m images")
            self.progress.setRange(0, total)
            self.progress.setValue(n)

    def _on_stage(self, text: str) -> None:
        if self._cancel is not None:
            self.progress.setFormat(f"{text}: %v of %m images")
            self.report.setText(text[:1].upper() + text[1:] + "…")

    def reject(self) -> None:
        """Cancel a running job (it writes nothing); close otherwise."""
        if self._cancel is not None:
            self._cancel.set()
            self.report.setText("Cancelling…")
            return
        super().reject()

    def _show_done(self, lines: list[str], problems: list[str]) -> None:
        shown = problems[:MAX_LISTED]
        if len(problems) > MAX_LISTED:
            shown.append(f"… and {len(problems) - MAX_LISTED} more")
        self._set_report("<br>".join(lines + [f"<i>{p}</i>" for p in shown]))
        # Close, or run again (another format or path: _options_changed clears this report).
        self.buttons.setStandardButtons(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Close)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Run Again")
        self._done_once = True

    def _set_report(self, text: str) -> None:
        """Show *text* whole: the dialog grows to the wrapped text instead of clipping it."""
        self.report.setText(text)
        self.adjustSize()


class ExportDialog(_CocoDialog):
    """*pending*: (unreviewed proposals, images holding them) the export would meet."""

    def __init__(self, project, parent: QWidget | None = None, pending: tuple[int, int] = (0, 0)):
        super().__init__("Export annotations", parent)
        self._project = project
        # Beside the folder, not in it: the images folder is never written to.
        self._defaults = {"coco": str(project.root.parent / f"{project.root.name}_coco.json"),
                          "semantic-png": str(project.root.parent / f"{project.root.name}_masks")}
        self.format = QComboBox()
        self.format.addItems(list(FORMATS))
        self.format.setToolTip("COCO instances JSON, or per image a PNG of class ids (0 = unlabeled) with a "
                               "VOC-palette copy and labels.csv (mmsegmentation / VOC layout)")
        self.path = _PathRow(self._defaults["coco"], self._pick)
        proposals, images = pending
        if proposals:
            self.accepted_only = QCheckBox(f"Leave out the {proposals} unreviewed proposal(s) in {images} image(s)")
            self.accepted_only.setToolTip("Unchecked, pending proposals are exported like accepted shapes")
            self.accepted_only.setChecked(True)
        else:
            self.accepted_only = QCheckBox("Accepted shapes only (there are no unreviewed proposals)")
        self.used_only = QCheckBox("Leave out classes no exported shape uses")
        self.used_only.setChecked(True)
        self.segmentation = QComboBox()
        self.segmentation.addItems(SEGMENTATION_MODES)
        self.segmentation.setToolTip("auto: polygons, RLE for shapes with holes and crowd regions; "
                                     "or all polygon / all RLE")
        self.unlabeled = QComboBox()
        self.unlabeled.addItems(["0", "255"])
        self.unlabeled.setToolTip("The value of pixels no shape covers (255 = the usual 'ignore' value)")
        self.form.addRow("Format", self.format)
        self.form.addRow("Save to", self.path)
        self.form.addRow(self.accepted_only)
        self.form.addRow(self.used_only)
        self.form.addRow("Segmentation", self.segmentation)
        self.form.addRow("Unlabeled pixels", self.unlabeled)
        self.format.currentTextChanged.connect(self._on_format)
        self._on_format()
        self._finish_form(self._run)
        self.format.currentTextChanged.connect(self._options_changed)
        self.path.edit.textEdited.connect(self._options_changed)

    def chosen_format(self) -> str:
        return FORMATS[self.format.currentText()]

    def _on_format(self) -> None:
        semantic = self.chosen_format() == "semantic-png"
        if self.path.edit.text() in self._defaults.values():
            self.path.edit.setText(self._defaults[self.chosen_format()])
        self.segmentation.setEnabled(not semantic)
        self.used_only.setEnabled(not semantic)  # a label PNG's ids are the label set's, used or not
        self.unlabeled.setEnabled(semantic)

    def _pick(self, current: str) -> str:
        if self.chosen_format() == "semantic-png":
            return QFileDialog.getExistingDirectory(self, "Export semantic PNGs to", current)
        return QFileDialog.getSaveFileName(self, "Export COCO", current, "COCO JSON (*.json)")[0]

    def _run(self) -> None:
        out = Path(self.path.edit.text()).expanduser()
        semantic = self.chosen_format() == "semantic-png"
        accepted_only, segmentation = self.accepted_only.isChecked(), self.segmentation.currentText()
        used_only = self.used_only.isChecked()
        unlabeled = int(self.unlabeled.currentText())

        def work(progress, cancel):
            if semantic:
                return export_semantic(self._project, out, accepted_only=accepted_only, unlabeled=unlabeled,
                                       progress=progress, cancel=cancel)
            return export_coco(self._project, out, segmentation=segmentation, accepted_only=accepted_only,
                               used_classes_only=used_only, progress=progress, cancel=cancel)

        def done(outcome) -> None:
            if isinstance(outcome, JobCancelled):
                self._set_report("Export cancelled; nothing was written.")
            elif isinstance(outcome, Exception):
                self._set_report(f"Export failed, nothing was written: {outcome}")
            elif semantic:
                self._show_done([f"Wrote {outcome.images} label PNGs under {out} ({outcome.not_annotated} "
                                 "images without annotations not written)"], list(outcome.problems))
            else:
                self._show_done([f"Wrote {outcome.annotations} annotations of {outcome.images} images to {out}"],
                                list(outcome.problems))

        self._start(work, done)


class ImportDialog(_CocoDialog):
    aboutToImport = Signal()  # edits still in memory must reach the files first
    imported = Signal(list)  # images whose annotation files were written

    def __init__(self, project, parent: QWidget | None = None, last: tuple[str, str] = ("", "")):
        """*last*: (format, path) of the previous import, offered again."""
        super().__init__("Import annotations", parent)
        self._project = project
        self.format = QComboBox()
        self.format.addItems(list(FORMATS))
        last_format, last_path = last
        names = {value: text for text, value in FORMATS.items()}
        if last_format in names:
            self.format.setCurrentText(names[last_format])
        self.path = _PathRow(last_path, self._pick)
        self.replace = QCheckBox("Replace the existing shapes of matched images")
        self.form.addRow("Format", self.format)
        self.form.addRow("File or folder", self.path)
        self.form.addRow(self.replace)
        self._finish_form(self._run)
        self.format.currentTextChanged.connect(self._options_changed)
        self.path.edit.textEdited.connect(self._options_changed)

    def chosen(self) -> tuple[str, str]:
        """(format, path) as chosen now."""
        return FORMATS[self.format.currentText()], self.path.edit.text()

    def _pick(self, current: str) -> str:
        start = current or str(self._project.root)
        if FORMATS[self.format.currentText()] == "semantic-png":
            return QFileDialog.getExistingDirectory(self, "Folder with labels.csv and label PNGs", start)
        return QFileDialog.getOpenFileName(self, "Import COCO", start, "COCO JSON (*.json)")[0]

    def _run(self) -> None:
        self.aboutToImport.emit()
        path = Path(self.path.edit.text()).expanduser()
        semantic = FORMATS[self.format.currentText()] == "semantic-png"
        replace = self.replace.isChecked()

        def work(progress, cancel):
            if semantic:
                return import_semantic(self._project, path, replace=replace, progress=progress, cancel=cancel)
            return import_coco(self._project, path, replace=replace, progress=progress, cancel=cancel)

        self._start(work, self._done, first=f"Reading {path.name}…")

    def _done(self, report) -> None:
        if isinstance(report, JobCancelled):
            self._set_report("Import cancelled; nothing was changed.")
            return
        if isinstance(report, Exception):  # format errors and I/O: nothing was written
            self._set_report(f"Import failed, nothing was changed: {report}")
            return
        unknown = getattr(report, "unknown_categories", [])
        self.imported.emit(list(report.written))
        replaced = f", {report.replaced} replacing their earlier version" if report.replaced else ""
        self._show_done([f"Imported {report.shapes} shapes into {len(report.written)} images "
                         f"({report.images_matched} images matched{replaced})"],
                        report.unmatched_images + unknown + report.problems + report.notes)
