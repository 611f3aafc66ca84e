"""Shape list dock: every shape of the current image with its provenance.

Label (with the part count of a multi-part shape), source (model / human), score,
accepted, crowd: the shape-level review view. It mirrors the canvas selection both
ways. The Crowd cell is a check box: toggling it emits ``crowdToggled(id, value)``,
which the main window turns into one undoable ``AnnotationDocument.set_iscrowd``.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPixmap, QIcon
from PySide6.QtWidgets import QAbstractItemView, QDockWidget, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

COLUMNS = ("Label", "Source", "Score", "Accepted", "Crowd")
CROWD_COLUMN = COLUMNS.index("Crowd")
ID_ROLE = Qt.ItemDataRole.UserRole + 1


class ShapeListDock(QDockWidget):
    selectionChanged = Signal(list)  # shape ids chosen in the list
    crowdToggled = Signal(str, bool)  # shape id, new iscrowd value (the user clicked the Crowd box)

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Shapes", parent)
        self.setObjectName("shapes")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._on_selection)
        self.table.itemChanged.connect(self._on_item_changed)
        self.setWidget(self.table)
        self._syncing = False

    def set_shapes(self, shapes: list, colors) -> None:
        """*colors*: label -> (r, g, b)."""
        selected = set(self.selected_ids())
        self._syncing = True
        try:
            self.table.setRowCount(len(shapes))
            for row, shape in enumerate(shapes):
                pending = shape.source == "model" and not shape.accepted
                parts = len(shape.parts)
                label = f"{shape.label} ({parts} parts)" if parts > 1 else shape.label
                cells = (label, shape.source, "" if shape.score is None else f"{shape.score:.2f}",
                         "yes" if shape.accepted else "no", "")
                for col, text in enumerate(cells):
                    item = QTableWidgetItem(text)
                    item.setData(ID_ROLE, shape.id)
                    if pending:  # proposals read as provisional, like their dashed outline
                        font = item.font()
                        font.setItalic(True)
                        item.setFont(font)
                        item.setForeground(QBrush(QColor(200, 120, 0)))
                    if col == CROWD_COLUMN:
                        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                        item.setCheckState(Qt.CheckState.Checked if shape.iscrowd else Qt.CheckState.Unchecked)
                        item.setToolTip("COCO iscrowd: a region of many instances (exported as RLE)")
                    self.table.setItem(row, col, item)
                swatch = QPixmap(12, 12)
                swatch.fill(QColor(*colors(shape.label)))
                self.table.item(row, 0).setIcon(QIcon(swatch))
                if shape.id in selected:
                    self.table.selectRow(row)
        finally:
            self._syncing = False

    def selected_ids(self) -> list[str]:
        rows = sorted({i.row() for i in self.table.selectedItems()})
        return [self.table.item(r, 0).data(ID_ROLE) for r in rows]

    def select(self, ids: list[str]) -> None:
        wanted = set(ids)
        self._syncing = True
        try:
            self.table.clearSelection()
            mode = self.table.selectionMode()
            self.table.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
            for row in range(self.table.rowCount()):
                if self.table.item(row, 0).data(ID_ROLE) in wanted:
                    self.table.selectRow(row)
            self.table.setSelectionMode(mode)
        finally:
            self._syncing = False

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if self._syncing or item.column() != CROWD_COLUMN:
            return
        self.crowdToggled.emit(item.data(ID_ROLE), item.checkState() == Qt.CheckState.Checked)

    def _on_selection(self) -> None:
        if not self._syncing:
            self.selectionChanged.emit(self.selected_ids())
