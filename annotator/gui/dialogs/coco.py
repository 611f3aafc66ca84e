"""File > Export / Import: COCO JSON or semantic label PNGs, with the CLI's options."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QLabel, QLineEdit, QPushButton, QWidget)

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
        try:
            if self.chosen_format() == "semantic-png":
                sem = export_semantic(self._project, out, accepted_only=self.accepted_only.isChecked(),
                                      unlabeled=int(self.unlabeled.currentText()))
                self._show_done([f"Wrote {sem.images} label PNGs under {out} ({sem.not_annotated} images "
                                 "without annotations not written)"], list(sem.problems))
                return
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
        super().__init__("Import annotations", parent)
        self._project = project
        self.format = QComboBox()
        self.format.addItems(list(FORMATS))
        self.path = _PathRow("", self._pick)
        self.replace = QCheckBox("Replace the existing shapes of matched images")
        self.form.addRow("Format", self.format)
        self.form.addRow("File or folder", self.path)
        self.form.addRow(self.replace)
        self._finish_form(self._run)

    def _pick(self, current: str) -> str:
        start = current or str(self._project.root)
        if FORMATS[self.format.currentText()] == "semantic-png":
            return QFileDialog.getExistingDirectory(self, "Folder with labels.csv and label PNGs", start)
        return QFileDialog.getOpenFileName(self, "Import COCO", start, "COCO JSON (*.json)")[0]

    def _run(self) -> None:
        self.aboutToImport.emit()
        path = Path(self.path.edit.text()).expanduser()
        try:
            if FORMATS[self.format.currentText()] == "semantic-png":
                report = import_semantic(self._project, path, replace=self.replace.isChecked())
                unknown: list[str] = []
            else:
                report = import_coco(self._project, path, replace=self.replace.isChecked())
                unknown = report.unknown_categories
        except Exception as e:  # noqa: BLE001 - format errors and I/O: nothing was written
            self._set_report(f"Import failed, nothing was changed: {e}")
            return
        self.imported.emit(list(report.written))
        replaced = f", {report.replaced} replacing their earlier version" if report.replaced else ""
        self._show_done([f"Imported {report.shapes} shapes into {len(report.written)} images "
                         f"({report.images_matched} images matched{replaced})"],
                        report.unmatched_images + unknown + report.problems + report.notes)
