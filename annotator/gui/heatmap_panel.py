"""Heatmap dock: which class's heatmap to overlay and how, and the threshold / simplification sliders.

Slider moves are debounced and then re-run only post-processing and the polygon
step in the engine thread (no model call), so proposals follow the sliders live.
The sliders belong to the image on screen: they show the values its proposals were
made with, and "Make default" turns them into the values new runs start from.
Without a kept result for the image they are disabled and say why.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDockWidget, QFormLayout, QLabel, QPushButton, QScrollArea,
                               QSlider, QWidget)

from annotator.gui.heatmap_overlay import LOOKS

SLIDER_DEBOUNCE_MS = 150
TOLERANCE_STEP = 0.1  # px per slider step
MAX_TOLERANCE = 10.0
NO_RESULT = "No heatmaps for this image yet: Propose computes them, then these sliders re-draw its proposals."
READING = "Reading this image's kept heatmaps (they come back with its pixels)…"


class HeatmapDock(QDockWidget):
    overlayChanged = Signal()  # class, visibility, look or opacity changed
    paramsChanged = Signal(float, float)  # threshold in [0, 1], simplification tolerance in px
    hideShapesChanged = Signal(bool)
    defaultsRequested = Signal(float, float)  # "Make default": threshold, tolerance

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Heatmap", parent)
        self.setObjectName("heatmap")
        self.show_overlay = QCheckBox("Show heatmap")
        self.show_overlay.toggled.connect(self.overlayChanged)
        self.hide_shapes = QCheckBox("Hide shapes")
        self.hide_shapes.setToolTip("Look at the heatmap alone (the shapes stay, only hidden)")
        self.hide_shapes.toggled.connect(self.hideShapesChanged)
        self.classes = QComboBox()
        self.classes.setToolTip("Class whose heatmap is shown")
        self.classes.currentIndexChanged.connect(self.overlayChanged)
        self.look = QComboBox()
        self.look.addItems(LOOKS)
        self.look.setToolTip("Colour map of the heatmap, or the class colour with the map as transparency")
        self.look.currentIndexChanged.connect(self.overlayChanged)
        self.opacity = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=100, value=55)
        self.opacity.setToolTip("Heatmap opacity")
        self.opacity.valueChanged.connect(self.overlayChanged)
        self.threshold = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=100)
        self.threshold.setToolTip("Per-class threshold on the normalised heatmap")
        self.tolerance = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=int(MAX_TOLERANCE / TOLERANCE_STEP))
        self.tolerance.setToolTip("Polygon simplification tolerance (pixels)")
        self.threshold_label, self.tolerance_label = QLabel(), QLabel()
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.make_default = QPushButton("Make default")
        self.make_default.setToolTip("New proposals in this project start from these two values")
        self.make_default.clicked.connect(lambda: self.defaultsRequested.emit(*self.values()))
        self._debounce = QTimer(self, singleShot=True, interval=SLIDER_DEBOUNCE_MS)
        self._debounce.timeout.connect(lambda: self.paramsChanged.emit(*self.values()))
        self.threshold.valueChanged.connect(self._on_slider)
        self.tolerance.valueChanged.connect(self._on_slider)

        body = QWidget()
        form = QFormLayout(body)
        # A narrow dock (small window) puts a row's field under its label instead of clipping it.
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        form.addRow(self.show_overlay, self.hide_shapes)
        form.addRow("Class", self.classes)
        form.addRow("Colours", self.look)
        form.addRow("Opacity", self.opacity)
        form.addRow("Threshold", self.threshold)
        form.addRow("", self.threshold_label)
        form.addRow("Simplify", self.tolerance)
        form.addRow("", self.tolerance_label)
        form.addRow(self.note)
        form.addRow(self.make_default)
        scroll = QScrollArea()  # a short window scrolls the dock instead of squeezing the image
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(body)
        self.setWidget(scroll)
        self.set_values(0.15, 1.5)
        self.set_classes([])

    def values(self) -> tuple[float, float]:
        return self.threshold.value() / 100.0, round(self.tolerance.value() * TOLERANCE_STEP, 3)

    def set_values(self, threshold: float, tolerance: float) -> None:
        """Set both sliders without re-running anything (opening an image, undo, settings)."""
        self._debounce.stop()  # a pending move belonged to what was on screen before
        for slider, value in ((self.threshold, round(threshold * 100)),
                              (self.tolerance, round(tolerance / TOLERANCE_STEP))):
            slider.blockSignals(True)
            slider.setValue(int(value))
            slider.blockSignals(False)
        self._update_labels()

    def set_classes(self, classes: list[str], pending: bool = False) -> None:
        """The classes of the image's kept result; none disables the sliders (and says why:
        *pending*, a kept heatmap file waits for the image's pixels; else there is none)."""
        current = self.current_class()
        self.classes.blockSignals(True)
        self.classes.clear()
        self.classes.addItems(classes)
        if current in classes:
            self.classes.setCurrentIndex(classes.index(current))
        self.classes.blockSignals(False)
        for widget in (self.classes, self.threshold, self.tolerance):
            widget.setEnabled(bool(classes))
        self.note.setText("" if classes else READING if pending else NO_RESULT)
        self.note.setVisible(not classes)
        self.overlayChanged.emit()

    def current_class(self) -> str | None:
        return self.classes.currentText() or None

    def look_and_opacity(self) -> tuple[str, float]:
        return self.look.currentText(), self.opacity.value() / 100.0

    def _on_slider(self) -> None:
        self._update_labels()
        self._debounce.start()

    def _update_labels(self) -> None:
        threshold, tolerance = self.values()
        self.threshold_label.setText(f"{threshold:.2f}")
        self.tolerance_label.setText(f"{tolerance:.1f} px")
