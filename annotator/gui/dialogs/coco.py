"""File > Export COCO / Import COCO, with the CLI's options."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QLabel, QLineEdit, QPushButton, QWidget)

from annotator.core.coco import SEGMENTATION_MODES, export_coco, import_coco

MAX_LISTED = 12  # report lines shown before "and N more"


class _PathRow(QHBoxLayout):
    def __init__(self, path: str, pick):
        super().__init__()
        self.edit = QLineEdit(path)
        browse = QPushButton("Browse…")
        browse.clicked.connect(lambda: (chosen := pick(self.edit.text())) and self.edit.setText(chosen))
        self.addWidget(self.edit, 1)
        self.addWidget(browse)


class _CocoDialog(QDialog):
    def __init__(self, title: str, parent: QWidget | None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.form = QFormLayout(self)
        self.report = QLabel()
        self.report.setWordWrap(True)
        self.report.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setMinimumWidth(520)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.rejected.connect(self.reject)

    def _finish_form(self, run) -> None:
        self.buttons.accepted.connect(run)
        self.form.addRow(self.report)
        self.form.addRow(self.buttons)

    def _show_done(self, lines: list[str], problems: list[str]) -> None:
        shown = problems[:MAX_LISTED]
        if len(problems) > MAX_LISTED:
            shown.append(f"… and {len(problems) - MAX_LISTED} more")
        self._set_report("<br>".join(lines + [f"<i>{p}</i>" for p in shown]))
        self.buttons.setStandardButtons(QDialogButtonBox.StandardButton.Close)
        self.buttons.rejected.connect(self.accept)

    def _set_report(self, text: str) -> None:
        """Show *text* whole: the dialog grows to the wrapped text instead of clipping it."""
        self.report.setText(text)
        self.adjustSize()


class ExportDialog(_CocoDialog):
    """*pending*: (unreviewed proposals, images holding them) the export would meet."""

    def __init__(self, project, parent: QWidget | None = None, pending: tuple[int, int] = (0, 0)):
        super().__init__("Export COCO", parent)
        self._project = project
        # Beside the folder, not in it: the images folder is never written to.
        default = project.root.parent / f"{project.root.name}_coco.json"
        self.path = _PathRow(str(default), lambda current: QFileDialog.getSaveFileName(
            self, "Export COCO", current, "COCO JSON (*.json)")[0])
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
        self.segmentation.setToolTip("auto: polygons, RLE for shapes with holes; or all polygon / all RLE")
        self.form.addRow("File", self.path)
        self.form.addRow(self.accepted_only)
        self.form.addRow(self.used_only)
        self.form.addRow("Segmentation", self.segmentation)
        self._finish_form(self._run)

    def _run(self) -> None:
        out = Path(self.path.edit.text()).expanduser()
        try:
            report = export_coco(self._project, out, segmentation=self.segmentation.currentText(),
                                 accepted_only=self.accepted_only.isChecked(),
                                 used_classes_only=self.used_only.isChecked())
        except Exception as e:  # noqa: BLE001 - shown in place, nothing else changes
            self._set_report(f"Export failed: {e}")
            return
        self._show_done([f"Wrote {report.annotations} annotations of {report.images} images to {out}"],
                        list(report.problems))


class ImportDialog(_CocoDialog):
    aboutToImport = Signal()  # edits still in memory must reach the files first
    imported = Signal(list)  # images whose annotation files were written

    def __init__(self, project, parent: QWidget | None = None):
        super().__init__("Import COCO", parent)
        self._project = project
        self.path = _PathRow("", lambda current: QFileDialog.getOpenFileName(
            self, "Import COCO", current or str(project.root), "COCO JSON (*.json)")[0])
        self.replace = QCheckBox("Replace the existing shapes of matched images")
        self.form.addRow("File", self.path)
        self.form.addRow(self.replace)
        self._finish_form(self._run)

    def _run(self) -> None:
        self.aboutToImport.emit()
        try:
            report = import_coco(self._project, Path(self.path.edit.text()).expanduser(),
                                 replace=self.replace.isChecked())
        except Exception as e:  # noqa: BLE001 - CocoFormatError and I/O: nothing was written
            self._set_report(f"Import failed, nothing was changed: {e}")
            return
        self.imported.emit(list(report.written))
        self._show_done([f"Imported {report.shapes} shapes into {len(report.written)} images "
                         f"({report.images_matched} images matched)"],
                        report.unmatched_images + report.unknown_categories + report.problems)
