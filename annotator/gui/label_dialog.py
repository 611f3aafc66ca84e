"""Label chooser: type to filter the project's classes, Enter takes the highlighted one.

The list filters as you type (case-insensitive, anywhere in the name, so "plant"
finds "potted plant") and highlights the best match; Enter, OK or a double-click
takes the highlighted class. With no class highlighted (nothing matches, or Up
pressed past the first match) Enter takes the typed text as a new class. A line
under the field always says which of the two Enter will do, so a half-typed "gra"
never becomes a class by surprise. There is no completion popup to dismiss first.

The dialog only answers with a name; it does not add it to the LabelSet. The canvas
does that when it applies the label, so a cancelled dialog leaves the set unchanged.
A typed name that matches a known class case-insensitively comes back in the class's
own spelling, so "Sky" and "sky" never become two classes.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QLabel, QLineEdit, QListWidget, QListWidgetItem,
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
        self.edit.setPlaceholderText("Type to filter, or a new class name")
        self.edit.installEventFilter(self)
        self.list = QListWidget(self)
        for cat in labels.categories:
            self.list.addItem(QListWidgetItem(_swatch(cat.color), cat.name))
        self.hint = QLabel(self)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        layout = QVBoxLayout(self)
        layout.addWidget(self.edit)
        layout.addWidget(self.hint)
        layout.addWidget(self.list)
        layout.addWidget(self.buttons)

        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.edit.textEdited.connect(self._on_typed)
        self.edit.textChanged.connect(lambda _: self._update_hint())
        self.list.currentItemChanged.connect(lambda *_: self._update_hint())
        self.list.itemDoubleClicked.connect(self._pick_and_accept)
        self.edit.setText(current or "")
        self.edit.selectAll()  # typing replaces it; until then every class stays listed
        known = labels.get(current) if current else None
        self._highlight(self.list.findItems(known.name, Qt.MatchFlag.MatchExactly)[0] if known else None)

    # --- the answer ---------------------------------------------------------------------
    def label(self) -> str | None:
        """The highlighted class, else the typed name (a known class in its own spelling); None if empty."""
        item = self.list.currentItem()
        if item is not None and not item.isHidden() and item.isSelected():
            return item.text()
        name = normalise_name(self.edit.text())
        if not name:
            return None
        known = self._labels.get(name)
        return known.name if known is not None else name

    def accept(self) -> None:
        if self.label() is not None:  # Enter on an empty field must not close the dialog
            super().accept()

    # --- typing and the list --------------------------------------------------------------
    def _on_typed(self, text: str) -> None:
        self._filter(text, highlight=True)

    def _filter(self, text: str, highlight: bool) -> None:
        """Show only the classes containing *text*; highlight the best one (exact, prefix, any)."""
        key = normalise_name(text).casefold()
        visible = []
        for row in range(self.list.count()):
            item = self.list.item(row)
            item.setHidden(bool(key) and key not in item.text().casefold())
            if not item.isHidden():
                visible.append(item)
        best = None
        if highlight and key and visible:
            best = (next((i for i in visible if i.text().casefold() == key), None)
                    or next((i for i in visible if i.text().casefold().startswith(key)), None) or visible[0])
        self._highlight(best)

    def _highlight(self, item: QListWidgetItem | None) -> None:
        if item is None:
            self.list.setCurrentItem(None)
            self.list.clearSelection()
        else:
            self.list.setCurrentItem(item)
            item.setSelected(True)
            self.list.scrollToItem(item)
        self._update_hint()

    def _step(self, delta: int) -> None:
        """Up / Down in the field move the highlight; Up from the first match removes it."""
        visible = [self.list.item(r) for r in range(self.list.count()) if not self.list.item(r).isHidden()]
        current = self.list.currentItem()
        if current not in visible or not current.isSelected():
            self._highlight(visible[0] if delta > 0 and visible else None)
            return
        index = visible.index(current) + delta
        self._highlight(visible[index] if 0 <= index < len(visible) else None if index < 0 else current)

    def _update_hint(self) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        label = self.label()
        ok.setEnabled(label is not None)
        if label is None:
            self.hint.setText("Type a class name")
        elif self._labels.get(label) is not None:
            self.hint.setText(f"Enter: <b>{_escape(label)}</b>")
        else:
            more = " (Down: pick a listed class)" if any(
                not self.list.item(r).isHidden() for r in range(self.list.count())) else ""
            self.hint.setText(f"Enter: new class <b>{_escape(label)}</b>{more}")

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.edit and event.type() == QEvent.Type.KeyPress:
            key = event.key()
            if key in (Qt.Key.Key_Up, Qt.Key.Key_Down):
                self._step(-1 if key == Qt.Key.Key_Up else 1)
                return True
        return super().eventFilter(watched, event)

    def _pick_and_accept(self, item: QListWidgetItem) -> None:
        self._highlight(item)
        self.accept()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


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
