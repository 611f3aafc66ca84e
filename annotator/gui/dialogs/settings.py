"""File > Settings: the open project's model (either engine), device, class filtering and post-processing.

These are the project's ``ProjectSettings`` (project.json), the same ones
``pnp-annotator label`` runs with.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog,
                               QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QWidget)

from annotator.core.project import BACKGROUND_MODES, DEVICES, ProjectSettings
from annotator.gui.model_menu import local_folders, model_choices, remember_folder
from annotator.gui.settings import AppSettings, default_model


class SettingsDialog(QDialog):
    """Edits *settings* (a project's, or new projects' defaults) in place on OK."""

    def __init__(self, settings: ProjectSettings, parent: QWidget | None = None, app: AppSettings | None = None):
        """*app*: where the local model folders chosen before are kept (listed in the model box)."""
        super().__init__(parent)
        self.setWindowTitle("Project settings")
        self._settings = settings

        # Both engines' checkpoints and the local folders chosen before; any id or folder can be typed.
        self._app = app
        self._previous_model = settings.model
        self.model = QComboBox()
        self.model.setEditable(True)
        self.model.setToolTip("A Hugging Face model id, or a local folder holding a saved model: BLIP "
                              "(PnP-OVSS engine) or SAM 3 (gated on the hub); the engine follows from the model")
        self._choices = model_choices(settings.model, local_folders(app) if app is not None else [])
        for choice in self._choices:
            self.model.addItem(choice.model)
            self.model.setItemData(self.model.count() - 1, choice.tip, Qt.ItemDataRole.ToolTipRole)
        self.model.setCurrentText(settings.model.strip() or default_model())
        self.model.lineEdit().setPlaceholderText(default_model())
        self.engine_note = QLabel()
        self.engine_note.setWordWrap(True)
        self.model.currentTextChanged.connect(self._describe_model)
        self._describe_model(self.model.currentText())
        browse = QPushButton("Folder…")
        browse.clicked.connect(self._browse)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model, 1)
        model_row.addWidget(browse)

        self.device = QComboBox()
        self.device.addItems(DEVICES)
        self.device.setCurrentText(settings.device)
        self.presence = _spin(0.0, 1.0, 0.05, settings.presence_threshold or 0.0,
                              "Drop typed classes whose image-text match is below this (0 keeps all)")
        self.background = QComboBox()
        self.background.addItems(BACKGROUND_MODES)
        self.background.setCurrentText(settings.background)
        self.background.setToolTip("auto: a background channel when fewer than 3 classes are typed")
        from engine import SegmenterConfig

        threshold = SegmenterConfig.threshold if settings.threshold is None else settings.threshold
        self.threshold = _spin(0.0, 1.0, 0.01, threshold, "Per-class heatmap threshold")
        self.tolerance = _spin(0.0, 10.0, 0.1, settings.simplify_tolerance,
                               "Polygon simplification tolerance in pixels")
        self.min_area = _spin(0.0, 5.0, 0.01, settings.min_area_fraction * 100,
                              "Regions below this % of the image are dropped")

        # The interactive model (AI polygon, Sharpen) and the sharpen default.
        self.interactive = QLineEdit(settings.interactive_model)
        self.interactive.setPlaceholderText(_default_interactive())
        self.interactive.setToolTip("SAM 2.1 or SAM 3 (tracker) for the AI polygon and Sharpen: "
                                    "a Hugging Face model id or a local folder")
        self.refine = QCheckBox("Sharpen proposals with the interactive model after Propose / label")
        self.refine.setChecked(settings.refine)

        form = QFormLayout(self)
        form.addRow("Model", model_row)
        form.addRow("", self.engine_note)
        form.addRow("Device", self.device)
        form.addRow("Presence threshold", self.presence)
        form.addRow("Background", self.background)
        form.addRow("Threshold", self.threshold)
        form.addRow("Simplification (px)", self.tolerance)
        form.addRow("Minimum region (%)", self.min_area)
        form.addRow("Interactive model", self.interactive)
        form.addRow("", self.refine)
        self.routes = QLabel(_routes_text(getattr(settings, "routes", None) or {}))  # Review > Calibrate…
        self.routes.setWordWrap(True)
        self.clear_routes = QCheckBox("Forget the calibrated routes (every class uses the settings above)")
        self.clear_routes.setVisible(bool(getattr(settings, "routes", None)))
        form.addRow("Calibrated routes", self.routes)
        form.addRow("", self.clear_routes)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder with a saved model", self.model.currentText())
        if folder:
            self.model.setCurrentText(folder)

    def _describe_model(self, model: str) -> None:
        """Which engine a known checkpoint runs (a folder's engine shows when it loads)."""
        for choice in self._choices:
            if choice.model == model.strip():
                self.engine_note.setText(choice.tip)
                return
        self.engine_note.setText("The engine (PnP-OVSS or SAM 3) follows from the model's config.json")

    def accept(self) -> None:
        s = self._settings
        s.model = self.model.currentText().strip()
        if self._app is not None and s.model != self._previous_model:
            remember_folder(self._app, self._previous_model, s.model)
            self._app.save()
        s.device = self.device.currentText()
        s.presence_threshold = self.presence.value() or None
        s.background = self.background.currentText()
        s.threshold = self.threshold.value()
        s.simplify_tolerance = self.tolerance.value()
        s.min_area_fraction = self.min_area.value() / 100
        s.interactive_model = self.interactive.text().strip()
        s.refine = self.refine.isChecked()
        if self.clear_routes.isChecked():
            s.routes = {}
        super().accept()


def _routes_text(routes: dict) -> str:
    """One line per calibrated class: engine, mode, threshold, sharpening, held-out IoU."""
    if not routes:
        return "None (Review > Calibrate… learns them from reviewed images)"
    titles = {"pnp-ovss": "PnP-OVSS", "sam3": "SAM 3"}
    lines = []
    for label, r in sorted(routes.items()):
        score = "" if r.get("score") is None else f", IoU {r['score']:.2f}"
        sharpen = " + sharpen" if r.get("sharpen") else ""
        engine = titles.get(r["engine"], r["engine"])
        lines.append(f"{label}: {engine} {r['mode']}{sharpen} @ {r['threshold']:g}{score}")
    return "\n".join(lines)


def _default_interactive() -> str:
    from engine.interactive import DEFAULT_INTERACTIVE_MODEL

    return DEFAULT_INTERACTIVE_MODEL


def _spin(low: float, high: float, step: float, value: float, tip: str) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(low, high)
    spin.setSingleStep(step)
    spin.setDecimals(3 if step < 0.05 else 2)
    spin.setValue(value)
    spin.setToolTip(tip)
    return spin
