"""Heatmap dock: which class's heatmap to overlay, and the threshold / simplification sliders.

Slider moves are debounced and then re-run only post-processing and the polygon
step in the engine thread (no model call), so proposals follow the sliders live.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QDockWidget, QFormLayout, QLabel, QSlider, QWidget

SLIDER_DEBOUNCE_MS = 150
TOLERANCE_STEP = 0.1  # px per slider step
MAX_TOLERANCE = 10.0


class HeatmapDock(QDockWidget):
    overlayChanged = Signal()  # class choice or visibility changed
    paramsChanged = Signal(float, float)  # threshold in [0, 1], simplification tolerance in px

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Heatmap", parent)
        self.setObjectName("heatmap")
        self.show_overlay = QCheckBox("Show heatmap")
        self.show_overlay.toggled.connect(self.overlayChanged)
        self.classes = QComboBox()
        self.classes.setToolTip("Class whose heatmap is shown")
        self.classes.currentIndexChanged.connect(self.overlayChanged)
        self.threshold = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=100)
        self.threshold.setToolTip("Per-class threshold on the normalised heatmap")
        self.tolerance = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=int(MAX_TOLERANCE / TOLERANCE_STEP))
        self.tolerance.setToolTip("Polygon simplification tolerance (pixels)")
        self.threshold_label, self.tolerance_label = QLabel(), QLabel()
        self._debounce = QTimer(self, singleShot=True, interval=SLIDER_DEBOUNCE_MS)
        self._debounce.timeout.connect(lambda: self.paramsChanged.emit(*self.values()))
        self.threshold.valueChanged.connect(self._on_slider)
        self.tolerance.valueChanged.connect(self._on_slider)

        body = QWidget()
        form = QFormLayout(body)
        form.addRow(self.show_overlay)
        form.addRow("Class", self.classes)
        form.addRow("Threshold", self.threshold)
        form.addRow("", self.threshold_label)
        form.addRow("Simplify", self.tolerance)
        form.addRow("", self.tolerance_label)
        self.setWidget(body)
        self.set_values(0.15, 1.5)
        self.set_classes([])

    def values(self) -> tuple[float, float]:
        return self.threshold.value() / 100.0, round(self.tolerance.value() * TOLERANCE_STEP, 3)

    def set_values(self, threshold: float, tolerance: float) -> None:
        """Set both sliders without re-running anything (opening a project, settings)."""
        for slider, value in ((self.threshold, round(threshold * 100)),
                              (self.tolerance, round(tolerance / TOLERANCE_STEP))):
            slider.blockSignals(True)
            slider.setValue(int(value))
            slider.blockSignals(False)
        self._update_labels()

    def set_classes(self, classes: list[str]) -> None:
        current = self.current_class()
        self.classes.blockSignals(True)
        self.classes.clear()
        self.classes.addItems(classes)
        if current in classes:
            self.classes.setCurrentIndex(classes.index(current))
        self.classes.blockSignals(False)
        self.classes.setEnabled(bool(classes))
        self.overlayChanged.emit()

    def current_class(self) -> str | None:
        return self.classes.currentText() or None

    def _on_slider(self) -> None:
        self._update_labels()
        self._debounce.start()

    def _update_labels(self) -> None:
        threshold, tolerance = self.values()
        self.threshold_label.setText(f"{threshold:.2f}")
        self.tolerance_label.setText(f"{tolerance:.1f} px")
