"""Help > Keyboard Shortcuts: every window command's keys and the canvas's own, from actions.py."""

from __future__ import annotations

from PySide6.QtWidgets import (QAbstractItemView, QDialog, QDialogButtonBox, QHeaderView, QLineEdit, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from annotator.gui.actions import CANVAS_KEYS, shortcut_rows


class ShortcutsDialog(QDialog):
    """A searchable table; not modal, so it can stay open beside the work."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        rows = [(keys, text, menu) for keys, text, menu in shortcut_rows()]
        rows += [(keys, what, "Canvas") for keys, what in CANVAS_KEYS]
        self.filter = QLineEdit(placeholderText="Search, e.g. undo or brush")
        self.table = QTableWidget(len(rows), 3)
        self.table.setHorizontalHeaderLabels(("Keys", "Command", "Where"))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                self.table.setItem(r, c, QTableWidgetItem(text))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.filter.textChanged.connect(self._filter)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.filter)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(560, 520)

    def _filter(self, text: str) -> None:
        key = text.strip().casefold()
        for r in range(self.table.rowCount()):
            cells = " ".join(self.table.item(r, c).text() for c in range(3)).casefold()
            self.table.setRowHidden(r, bool(key) and key not in cells)

    def visible_rows(self) -> list[tuple[str, str, str]]:
        return [tuple(self.table.item(r, c).text() for c in range(3))
                for r in range(self.table.rowCount()) if not self.table.isRowHidden(r)]
