"""File list dock: the project's images with their review status, shape counts and a name filter.

Each row reads "name  · N (P pending)" (N shapes); the status is also the row's
coloured dot, so an image without shapes keeps the normal text colour (grey text
reads as disabled). A line above the list counts the reviewed images.
"""

from __future__ import annotations

from PySide6.QtCore import QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QDockWidget, QLabel, QLineEdit, QListView, QVBoxLayout, QWidget

STATUS_COLOR = {"none": QColor(140, 140, 140), "proposed": QColor(230, 150, 0), "reviewed": QColor(30, 160, 60),
                "unreadable": QColor(200, 40, 40)}
IMAGE_ROLE = Qt.ItemDataRole.UserRole + 1
STATUS_ROLE = Qt.ItemDataRole.UserRole + 2
COUNTS_ROLE = Qt.ItemDataRole.UserRole + 3  # (shapes, pending) or None when not known


def _dot(color: QColor) -> QIcon:
    pixmap = QPixmap(12, 12)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(color)
    painter.setPen(color.darker(140))
    painter.drawEllipse(1, 1, 10, 10)
    painter.end()
    return QIcon(pixmap)


class FileListDock(QDockWidget):
    imageActivated = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Images", parent)
        self.setObjectName("files")
        self._model = QStandardItemModel(self)
        self._proxy = QSortFilterProxyModel(self)
        self._proxy.setSourceModel(self._model)
        self._proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self._proxy.setFilterRole(IMAGE_ROLE)
        self._rows: dict[str, QStandardItem] = {}
        self._bulk = False

        self.filter = QLineEdit(placeholderText="Filter by name")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self._proxy.setFilterFixedString)
        self.view = QListView()
        self.view.setModel(self._proxy)
        self.view.setEditTriggers(QListView.EditTrigger.NoEditTriggers)
        self.view.activated.connect(self._on_activated)
        self.view.clicked.connect(self._on_activated)
        self.summary = QLabel()
        self._icons = {status: _dot(color) for status, color in STATUS_COLOR.items()}

        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.summary)
        layout.addWidget(self.filter)
        layout.addWidget(self.view)
        self.setWidget(body)

    def set_images(self, images: list[str], status: dict[str, str], counts: dict | None = None) -> None:
        """*counts*: image -> (shapes, pending proposals), where known."""
        self._model.clear()
        self._rows.clear()
        self._bulk = True  # one summary at the end, not one per row
        try:
            for image in images:
                item = QStandardItem()
                item.setData(image, IMAGE_ROLE)
                self._model.appendRow(item)
                self._rows[image] = item
                self.set_status(image, status.get(image, "none"), (counts or {}).get(image))
        finally:
            self._bulk = False
        self._update_summary()

    def set_status(self, image: str, status: str, counts: tuple[int, int] | None = None) -> None:
        item = self._rows.get(image)
        if item is None:
            return
        item.setData(status, STATUS_ROLE)
        if counts is not None:
            item.setData(tuple(counts), COUNTS_ROLE)
        counts = item.data(COUNTS_ROLE)
        tail = ""
        if counts and counts[0]:
            tail = f"  · {counts[0]}" + (f" ({counts[1]} pending)" if counts[1] else "")
        item.setText(f"{image}{tail}")
        item.setIcon(self._icons.get(status, self._icons["none"]))
        if status == "unreadable":
            item.setForeground(STATUS_COLOR["unreadable"])
        else:
            item.setData(None, Qt.ItemDataRole.ForegroundRole)  # the palette's own text colour
        words = {"none": "no shapes yet", "proposed": "proposals await review", "reviewed": "reviewed",
                 "unreadable": "cannot be read"}
        detail = f", {counts[0]} shape(s), {counts[1]} pending" if counts else ""
        item.setToolTip(f"{image}: {words.get(status, status)}{detail}")
        self._update_summary()

    def counts(self, image: str) -> tuple[int, int] | None:
        item = self._rows.get(image)
        return item.data(COUNTS_ROLE) if item else None

    def pending_proposals(self) -> tuple[int, int]:
        """(pending proposals, images holding them) over the listed images whose counts are known."""
        pending = [c[1] for item in self._rows.values() if (c := item.data(COUNTS_ROLE)) and c[1]]
        return sum(pending), len(pending)

    def _update_summary(self) -> None:
        if self._bulk:
            return
        statuses = [item.data(STATUS_ROLE) for item in self._rows.values()]
        reviewed = statuses.count("reviewed")
        proposed = statuses.count("proposed")
        self.summary.setText(f"{reviewed} of {len(statuses)} reviewed"
                             + (f", {proposed} with proposals" if proposed else ""))

    def status(self, image: str) -> str | None:
        item = self._rows.get(image)
        return item.data(STATUS_ROLE) if item else None

    def visible_images(self) -> list[str]:
        """Images in display order that pass the filter: what A / D step through."""
        return [self._proxy.index(r, 0).data(IMAGE_ROLE) for r in range(self._proxy.rowCount())]

    def select(self, image: str) -> None:
        item = self._rows.get(image)
        if item is None:
            return
        index = self._proxy.mapFromSource(item.index())
        if index.isValid():
            self.view.setCurrentIndex(index)
            self.view.scrollTo(index)

    def step(self, current: str | None, delta: int) -> str | None:
        """The visible image *delta* rows from *current* (clamped), or None."""
        images = self.visible_images()
        if not images:
            return None
        if current not in images:
            return images[0]
        i = min(max(images.index(current) + delta, 0), len(images) - 1)
        return images[i]

    def _on_activated(self, index) -> None:
        image = index.data(IMAGE_ROLE)
        if image:
            self.imageActivated.emit(image)
