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
        # The threshold belongs to the engine: "the engine's own" until the user sets one.
        self.threshold = _spin(0.0, 1.0, 0.01, settings.threshold or 0.0, "Heatmap threshold of every class")
        self.own_threshold = QCheckBox()
        self.own_threshold.setToolTip("Use the engine's own default threshold")
        self.own_threshold.setChecked(settings.threshold is None)
        self.own_threshold.toggled.connect(self._threshold_changed)
        self._user_threshold = settings.threshold  # the value set for the engine on show
        self._engine = _engine_of(settings.model)
        threshold_row = QHBoxLayout()
        threshold_row.addWidget(self.threshold)
        threshold_row.addWidget(self.own_threshold, 1)
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

        self._describe_model(self.model.currentText())
        self.model.currentTextChanged.connect(self._model_changed)
        self._threshold_changed(self.own_threshold.isChecked())

        form = QFormLayout(self)
        form.addRow("Model", model_row)
        form.addRow("", self.engine_note)
        form.addRow("Device", self.device)
        form.addRow("Presence threshold", self.presence)
        form.addRow("Background", self.background)
        form.addRow("Threshold", threshold_row)
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

    def _threshold_changed(self, own: bool) -> None:
        """The engine's own default shows (greyed) while the box is checked."""
        default = _default_threshold(self._engine)
        self.own_threshold.setText(f"engine's own ({default:.2f})")
        self.threshold.setEnabled(not own)
        if own:
            self.threshold.setValue(default)

    def _model_changed(self, model: str) -> None:
        """Another engine: its own threshold (or the one the user set for it before)."""
        engine = _engine_of(model.strip())
        if engine == self._engine:
            return
        kept = dict(self._settings.engine_thresholds)
        if self._engine == _engine_of(self._settings.model) and self._settings.threshold is not None:
            kept[self._engine] = self._settings.threshold
        self._engine = engine
        threshold = kept.get(engine)
        self.own_threshold.setChecked(threshold is None)
        if threshold is not None:
            self.threshold.setValue(threshold)
        self._threshold_changed(threshold is None)

    def accept(self) -> None:
        s = self._settings
        s.switch_model(self.model.currentText().strip(), _engine_of)
        if self._app is not None and s.model != self._previous_model:
            remember_folder(self._app, self._previous_model, s.model)
            self._app.save()
        s.device = self.device.currentText()
        s.presence_threshold = self.presence.value() or None
        s.background = self.background.currentText()
        s.threshold = None if self.own_threshold.isChecked() else self.threshold.value()
        s.simplify_tolerance = self.tolerance.value()
        s.min_area_fraction = self.min_area.value() / 100
        s.interactive_model = self.interactive.text().strip()
        s.refine = self.refine.isChecked()
        if self.clear_routes.isChecked():
            s.routes = {}
        super().accept()


def _engine_of(model: str) -> str:
    """The registry's name of the engine *model* runs (no model load)."""
    from engine.config import engine_for_model

    return engine_for_model(model).name


def _default_threshold(engine: str) -> float:
    from engine.config import default_threshold

    return default_threshold(engine)


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
