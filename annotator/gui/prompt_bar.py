"""Prompt bar: the class names to segment, shapes as regions or instances, Propose / Cancel, progress."""

from __future__ import annotations

from PySide6.QtCore import QStringListModel, Qt, Signal
from PySide6.QtWidgets import (QComboBox, QCompleter, QHBoxLayout, QLabel, QLineEdit, QProgressBar, QPushButton,
                               QSizePolicy, QToolBar, QWidget)


def parse_classes(text: str) -> list[str]:
    """"sky, road,,car " -> ["sky", "road", "car"]: what the engine receives."""
    return [part.strip() for part in text.split(",") if part.strip()]


class ClassesEdit(QLineEdit):
    """Comma-separated class names; completion applies to the name being typed.
    Esc (with no completion shown) emits ``escaped``: the window gives the canvas the focus."""

    escaped = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setPlaceholderText("Classes to segment, comma separated: sky, road, car")
        self._names = QStringListModel(self)
        self._completer = QCompleter(self._names, self)
        self._completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self._completer.setWidget(self)
        self._completer.activated.connect(self._insert)
        self.textEdited.connect(self._complete)

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if event.key() == Qt.Key.Key_Escape and not self._completer.popup().isVisible():
            self.escaped.emit()
            return
        super().keyPressEvent(event)

    def set_names(self, names: list[str]) -> None:
        self._names.setStringList(sorted(set(names), key=str.lower))

    def _current_token(self) -> str:
        return self.text()[: self.cursorPosition()].rsplit(",", 1)[-1].strip()

    def _complete(self) -> None:
        token = self._current_token()
        if not token:
            self._completer.popup().hide()
            return
        self._completer.setCompletionPrefix(token)
        if self._completer.completionCount():
            self._completer.complete()
        else:
            self._completer.popup().hide()

    def _insert(self, name: str) -> None:
        head, tail = self.text()[: self.cursorPosition()], self.text()[self.cursorPosition():]
        before = head.rsplit(",", 1)[0] + ", " if "," in head else ""
        self.setText(before + name + tail)
        self.setCursorPosition(len(before + name))


PROPOSAL_CHOICES = (
    ("auto", "Auto", "Instances with SAM 3, regions with PnP-OVSS"),
    ("regions", "Regions", "One shape per connected region of each class"),
    ("instances", "Instances", "One shape per detected object, overlaps to the higher score (SAM 3)"),
)


class PromptBar(QToolBar):
    proposeRequested = Signal()
    cancelRequested = Signal()
    classesEdited = Signal(str)
    proposalsChanged = Signal(str)  # "auto" | "regions" | "instances"

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Prompt", parent)
        self.setObjectName("prompt")
        self.setMovable(False)
        self.classes = ClassesEdit()
        self.classes.editingFinished.connect(lambda: self.classesEdited.emit(self.classes.text()))
        self.classes.returnPressed.connect(self.proposeRequested)
        self.propose = QPushButton("Propose")
        self.propose.setToolTip("Segment the current image with these classes (Ctrl+Enter)")
        self.propose.clicked.connect(self.proposeRequested)
        self.cancel = QPushButton("Cancel")
        self.cancel.setToolTip("Stop proposing for this image; its shapes stay as they are (Ctrl+.)")
        self.cancel.setEnabled(False)
        self.cancel.clicked.connect(self.cancelRequested)
        self.proposals = QComboBox()
        self.proposals.setObjectName("proposals")
        for value, text, tip in PROPOSAL_CHOICES:
            self.proposals.addItem(text, value)
            self.proposals.setItemData(self.proposals.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.proposals.setToolTip("Shapes per class region, or per detected object (SAM 3)")
        self.proposals.currentIndexChanged.connect(lambda _: self.proposalsChanged.emit(self.proposals_mode()))
        self.state = QLabel()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(160)
        self.progress.setTextVisible(True)
        self.progress.hide()

        body = QWidget()
        layout = QHBoxLayout(body)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.addWidget(QLabel("Classes:"))
        layout.addWidget(self.classes, 1)
        layout.addWidget(QLabel("Shapes:"))
        layout.addWidget(self.proposals)
        layout.addWidget(self.propose)
        layout.addWidget(self.cancel)
        layout.addWidget(self.progress)
        layout.addWidget(self.state)
        # A toolbar gives its widgets their size hint only; this one takes the bar's whole width,
        # and the Classes field every pixel left over ("sky, road, car, person" stays in view).
        body.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.classes.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.addWidget(body)

    def proposals_mode(self) -> str:
        return self.proposals.currentData()

    def set_proposals_mode(self, mode: str) -> None:
        """Show a project's setting without emitting proposalsChanged."""
        index = self.proposals.findData(mode)
        self.proposals.blockSignals(True)
        self.proposals.setCurrentIndex(max(index, 0))
        self.proposals.blockSignals(False)

    def set_busy(self, busy: bool) -> None:
        self.cancel.setEnabled(busy)
        if not busy:
            self.progress.hide()
            self.state.clear()
        elif not self.progress.isVisible():  # named from the start, until the engine says more
            self._phase("starting…")

    def show_progress(self, stage: str, done: int, total: int) -> None:
        """Engine stages: "pass" k/K, then post-processing (blur, CRF, polygons) with no steps."""
        if stage == "pass" and done < total:
            self._phase(f"pass {done}/{total}", done, total)
            self.state.setText(f"model pass {done + 1} of {total}")
        else:  # the last pass is done: what runs now has no count, so a busy bar that says so
            self._phase("post-processing…")

    def show_state(self, text: str) -> None:
        if text == "loading model":
            self._phase("loading model")  # busy indicator: loading has no steps to count
        elif not (self.progress.isVisible() and text == "ready"):  # "ready" would hide the phase running
            self.state.setText(text)

    def _phase(self, text: str, done: int = 0, total: int = 0) -> None:
        """Show what runs now, in the bar and beside it: a busy bar (no steps) draws no text in
        every style, so the label says it too."""
        self.progress.show()
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.progress.setFormat(text)
        self.progress.setToolTip(text)
        self.state.setText(text)
