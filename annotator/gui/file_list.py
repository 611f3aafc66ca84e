"""File list dock: the project's images with their review status and a name filter."""

from __future__ import annotations

from PySide6.QtCore import QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QColor, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QDockWidget, QLineEdit, QListView, QVBoxLayout, QWidget

STATUS_MARK = {"none": "○", "proposed": "◐", "reviewed": "●", "unreadable": "✕"}
STATUS_COLOR = {"none": QColor(140, 140, 140), "proposed": QColor(230, 150, 0), "reviewed": QColor(30, 160, 60),
                "unreadable": QColor(200, 40, 40)}
IMAGE_ROLE = Qt.ItemDataRole.UserRole + 1
STATUS_ROLE = Qt.ItemDataRole.UserRole + 2


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

        self.filter = QLineEdit(placeholderText="Filter by name")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self._proxy.setFilterFixedString)
        self.view = QListView()
        self.view.setModel(self._proxy)
        self.view.setEditTriggers(QListView.EditTrigger.NoEditTriggers)
        self.view.activated.connect(self._on_activated)
        self.view.clicked.connect(self._on_activated)

        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.filter)
        layout.addWidget(self.view)
        self.setWidget(body)

    def set_images(self, images: list[str], status: dict[str, str]) -> None:
        self._model.clear()
        self._rows.clear()
        for image in images:
            item = QStandardItem()
            item.setData(image, IMAGE_ROLE)
            self._model.appendRow(item)
            self._rows[image] = item
            self.set_status(image, status.get(image, "none"))

    def set_status(self, image: str, status: str) -> None:
        item = self._rows.get(image)
        if item is None:
            return
        item.setData(status, STATUS_ROLE)
        item.setText(f"{STATUS_MARK.get(status, '?')}  {image}")
        item.setForeground(STATUS_COLOR.get(status, QColor(0, 0, 0)))
        item.setToolTip(f"{image}: {status}")

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
