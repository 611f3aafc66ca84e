"""Review > Calibrate…: learn per class which engine, threshold and sharpening suit this
folder, from its reviewed images; a background job with progress and Cancel, the report
(bars and curves) shown in the dialog, and Apply storing the routes in project.json."""

from __future__ import annotations

import threading

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QPixmap
from PySide6.QtWidgets import (QCheckBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit,
                               QProgressBar, QPushButton, QScrollArea, QSpinBox, QVBoxLayout, QWidget)

from annotator.core.jobs import JobCancelled


def _default_loader(settings, sharpen: bool):
    from annotator.core.calibration.loading import load_engines

    return load_engines(settings, sharpen=sharpen)


class CalibrateDialog(QDialog):
    """*load(settings, sharpen) -> calibration.loading.LoadedEngines* (tests give fakes)."""

    _progressed = Signal(int, int)
    _ended = Signal(object)
    applied = Signal(dict)  # class -> route dict, after Apply

    def __init__(self, project, parent: QWidget | None = None, load=None, reviewed: int | None = None):
        super().__init__(parent)
        self.setWindowTitle("Calibrate")
        self.project = project
        self._load = load or _default_loader
        self._cancel: threading.Event | None = None
        self.calibration = None
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.classes = QLineEdit(project.settings.classes or ", ".join(project.labels.names))
        form.addRow("Classes:", self.classes)
        self.sharpen = QCheckBox("Also score sharpened regions (interactive model)")
        form.addRow(self.sharpen)
        self.min_images = QSpinBox()
        self.min_images.setRange(2, 1000)
        self.min_images.setValue(6)
        form.addRow("Reviewed images per class, at least:", self.min_images)
        layout.addLayout(form)
        intro = ("Ground truth: the images whose every shape you drew or accepted"
                 + (f" ({reviewed} in this folder)." if reviewed is not None else "."))
        self.report = QLabel(intro)
        self.report.setWordWrap(True)
        self.report.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.report)
        self.progress = QProgressBar()
        self.progress.setFormat("%v of %m images")
        self.progress.hide()
        layout.addWidget(self.progress)
        self.figure = QLabel()
        self.scroll = QScrollArea()
        self.scroll.setWidget(self.figure)
        self.scroll.setWidgetResizable(True)
        self.scroll.hide()
        layout.addWidget(self.scroll, 1)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.run_button = self.buttons.addButton("Calibrate", QDialogButtonBox.ButtonRole.ActionRole)
        self.apply_button = self.buttons.addButton("Apply", QDialogButtonBox.ButtonRole.ApplyRole)
        self.open_button = QPushButton("Open Report")
        self.buttons.addButton(self.open_button, QDialogButtonBox.ButtonRole.HelpRole)
        self.apply_button.setEnabled(False)
        self.open_button.setEnabled(False)
        self.run_button.clicked.connect(self.start)
        self.apply_button.clicked.connect(self.apply)
        self.open_button.clicked.connect(self._open_report)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self._progressed.connect(self._on_progress)
        self._ended.connect(self._on_ended)
        self._paths = None
        self.resize(760, 360)

    def running(self) -> bool:
        return self._cancel is not None

    def start(self) -> None:
        from engine.prompts import normalize_classes

        try:
            classes = normalize_classes(self.classes.text())
        except ValueError as exc:
            self.report.setText(f"Classes: {exc}")
            return
        self._cancel = cancel = threading.Event()
        self.run_button.setEnabled(False)
        self.apply_button.setEnabled(False)
        self.progress.setRange(0, 0)
        self.progress.show()
        self.report.setText("Loading the engines…")
        settings, sharpen, min_images = self.project.settings, self.sharpen.isChecked(), self.min_images.value()

        def work():
            from annotator.core.calibration import CalibrationOptions, calibrate
            from annotator.core.calibration.report import report_dir, write_report

            loaded = self._load(settings, sharpen)
            try:
                if not loaded.engines:
                    raise RuntimeError("no engine could be loaded: " + "; ".join(loaded.notes))
                cal = calibrate(self.project, loaded.engines,
                                CalibrationOptions(classes, min_images=min_images,
                                                   min_area_fraction=settings.min_area_fraction),
                                sharpener=loaded.sharpener, cancel=cancel,
                                progress=lambda n, total: self._progressed.emit(n, total))
            finally:
                loaded.close()
            cal.notes[:0] = loaded.notes
            return cal, write_report(cal, report_dir(self.project))

        def thread():
            try:
                outcome = work()
            except Exception as exc:  # noqa: BLE001 - shown in the dialog
                outcome = exc
            self._ended.emit(outcome)

        threading.Thread(target=thread, name="pnp-annotator-calibrate", daemon=True).start()

    def _on_progress(self, n: int, total: int) -> None:
        if self._cancel is not None:
            self.progress.setRange(0, total)
            self.progress.setValue(n)

    def _on_ended(self, outcome) -> None:
        self._cancel = None
        self.progress.hide()
        self.run_button.setEnabled(True)
        if isinstance(outcome, JobCancelled):
            self.report.setText("Cancelled: nothing applied (model outputs so far are cached).")
            return
        if isinstance(outcome, Exception):
            self.report.setText(f"Calibration failed: {outcome}")
            return
        from annotator.core.calibration.report import summary_lines

        self.calibration, self._paths = outcome
        lines = summary_lines(self.calibration)
        self.report.setText("<br>".join(_escape(line) for line in lines))
        self.figure.setPixmap(QPixmap(str(self._paths["png"])))
        self.scroll.show()
        self.open_button.setEnabled(True)
        self.apply_button.setEnabled(any(c.chosen is not None for c in self.calibration.choices))
        self.resize(max(self.width(), 1100), max(self.height(), 700))

    def apply(self) -> None:
        from annotator.core.calibration.apply import apply_routes

        if self.calibration is None:
            return
        routes = apply_routes(self.project, self.calibration)
        self.apply_button.setEnabled(False)
        self.report.setText(self.report.text() + f"<br><b>Applied {len(routes)} route(s) to the project.</b>")
        self.applied.emit({k: r.to_dict() for k, r in routes.items()})

    def _open_report(self) -> None:
        if self._paths is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self._paths["html"])))

    def reject(self) -> None:
        """Cancel a running calibration (nothing is applied); close otherwise."""
        if self._cancel is not None:
            self._cancel.set()
            self.report.setText("Cancelling…")
            return
        super().reject()


def _escape(text: str) -> str:
    import html

    return html.escape(text)
