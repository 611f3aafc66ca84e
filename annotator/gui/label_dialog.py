"""Label chooser: type with completion from the project's LabelSet, or pick from the list.

The dialog only answers with a name; it does not add it to the LabelSet. The canvas
does that when it applies the label, so a cancelled dialog leaves the set unchanged.
A typed name that matches a known class case-insensitively comes back in the class's
own spelling, so "Sky" and "sky" never become two classes.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (QCompleter, QDialog, QDialogButtonBox, QLineEdit, QListWidget, QListWidgetItem,
                               QVBoxLayout, QWidget)

from annotator.core.labels import LabelSet, normalise_name

LabelProvider = Callable[[str | None], str | None]


def _swatch(rgb: tuple[int, int, int]) -> QIcon:
    pixmap = QPixmap(12, 12)
    pixmap.fill(QColor(*rgb))
    return QIcon(pixmap)


class LabelDialog(QDialog):
    def __init__(self, labels: LabelSet, current: str | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Label")
        self._labels = labels
        self.edit = QLineEdit(self)
        self.edit.setPlaceholderText("Class name")
        completer = QCompleter(labels.names, self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)  # "plant" finds "potted plant"
        self.edit.setCompleter(completer)
        self.list = QListWidget(self)
        for cat in labels.categories:
            self.list.addItem(QListWidgetItem(_swatch(cat.color), cat.name))
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        layout = QVBoxLayout(self)
        layout.addWidget(self.edit)
        layout.addWidget(self.list)
        layout.addWidget(self.buttons)

        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.edit.textChanged.connect(self._on_text)
        self.list.currentTextChanged.connect(self._on_pick)
        self.list.itemDoubleClicked.connect(self._pick_and_accept)
        self.edit.setText(current or "")
        self.edit.selectAll()
        self._on_text(self.edit.text())

    def label(self) -> str | None:
        """The chosen name (a known class in its own spelling), or None if empty."""
        name = normalise_name(self.edit.text())
        if not name:
            return None
        known = self._labels.get(name)
        return known.name if known is not None else name

    def accept(self) -> None:
        if self.label() is not None:  # Enter on an empty field must not close the dialog
            super().accept()

    def _on_text(self, text: str) -> None:
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(bool(normalise_name(text)))
        known = self._labels.get(text) if normalise_name(text) else None
        if known is not None:
            matches = self.list.findItems(known.name, Qt.MatchFlag.MatchExactly)
            if matches and self.list.currentItem() is not matches[0]:
                self.list.blockSignals(True)  # keep the user's typing as it is
                self.list.setCurrentItem(matches[0])
                self.list.blockSignals(False)

    def _pick_and_accept(self, item: QListWidgetItem) -> None:
        self.edit.setText(item.text())
        self.accept()

    def _on_pick(self, name: str) -> None:
        if name:
            self.edit.setText(name)


def ask_label(labels: LabelSet, current: str | None = None, parent: QWidget | None = None) -> str | None:
    """Run the dialog modally; the chosen name, or None when cancelled."""
    dialog = LabelDialog(labels, current, parent)
    try:
        return dialog.label() if dialog.exec() == QDialog.DialogCode.Accepted else None
    finally:
        dialog.deleteLater()


def make_label_provider(labels: LabelSet, parent: QWidget | None = None) -> LabelProvider:
    """A `Canvas.label_provider` that asks with this dialog."""
    return lambda current: ask_label(labels, current, parent)
