"""File list dock: the project's images with their review status and a name filter.

The rows live in a list model that answers ``data()`` from a Python list and dict, so
listing 20,000 images, or updating their statuses, costs no per-row Qt object on the
GUI thread; the view asks only for the rows it shows (uniform row heights).
"""

from __future__ import annotations

from PySide6.QtCore import QAbstractListModel, QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QDockWidget, QLineEdit, QListView, QVBoxLayout, QWidget

STATUS_MARK = {"none": "○", "proposed": "◐", "reviewed": "●", "unreadable": "✕"}
STATUS_COLOR = {"none": QColor(140, 140, 140), "proposed": QColor(230, 150, 0), "reviewed": QColor(30, 160, 60),
                "unreadable": QColor(200, 40, 40)}
IMAGE_ROLE = Qt.ItemDataRole.UserRole + 1
STATUS_ROLE = Qt.ItemDataRole.UserRole + 2


class ImageListModel(QAbstractListModel):
    """Images (relative paths) with a status each; rows never move once listed."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._images: list[str] = []
        self._rows: dict[str, int] = {}
        self._status: dict[str, str] = {}

    def reset(self, images: list[str], status: dict[str, str]) -> None:
        self.beginResetModel()
        self._images = list(images)
        self._rows = {image: row for row, image in enumerate(self._images)}
        self._status = dict(status)
        self.endResetModel()

    def row(self, image: str) -> int | None:
        return self._rows.get(image)

    def status(self, image: str) -> str | None:
        if image not in self._rows:
            return None
        return self._status.get(image, "none")

    def set_status(self, image: str, status: str) -> None:
        row = self._rows.get(image)
        if row is None or self._status.get(image, "none") == status:
            return
        self._status[image] = status
        index = self.index(row, 0)
        self.dataChanged.emit(index, index)

    def set_statuses(self, status: dict[str, str]) -> None:
        """Many statuses at once: one change notification for the whole list."""
        self._status.update({image: value for image, value in status.items() if image in self._rows})
        if self._images:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._images) - 1, 0))

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else len(self._images)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or index.row() >= len(self._images):
            return None
        image = self._images[index.row()]
        status = self._status.get(image, "none")
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{STATUS_MARK.get(status, '?')}  {image}"
        if role == IMAGE_ROLE:
            return image
        if role == STATUS_ROLE:
            return status
        if role == Qt.ItemDataRole.ForegroundRole:
            return STATUS_COLOR.get(status, QColor(0, 0, 0))
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{image}: {status}"
        return None


class FileListDock(QDockWidget):
    imageActivated = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Images", parent)
        self.setObjectName("files")
        self._model = ImageListModel(self)
        self._proxy = QSortFilterProxyModel(self)
        self._proxy.setSourceModel(self._model)
        self._proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self._proxy.setFilterRole(IMAGE_ROLE)

        self.filter = QLineEdit(placeholderText="Filter by name")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self._proxy.setFilterFixedString)
        self.view = QListView()
        self.view.setUniformItemSizes(True)  # no per-row size query: 20,000 rows cost nothing
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
        self._model.reset(images, status)

    def set_status(self, image: str, status: str) -> None:
        self._model.set_status(image, status)

    def set_statuses(self, status: dict[str, str]) -> None:
        self._model.set_statuses(status)

    def status(self, image: str) -> str | None:
        return self._model.status(image)

    def visible_images(self) -> list[str]:
        """Images in display order that pass the filter: what A / D step through."""
        return [self._proxy.index(r, 0).data(IMAGE_ROLE) for r in range(self._proxy.rowCount())]

    def _proxy_row(self, image: str | None) -> int | None:
        row = self._model.row(image) if image is not None else None
        if row is None:
            return None
        index = self._proxy.mapFromSource(self._model.index(row, 0))
        return index.row() if index.isValid() else None

    def select(self, image: str) -> None:
        row = self._proxy_row(image)
        if row is None:
            return
        index = self._proxy.index(row, 0)
        self.view.setCurrentIndex(index)
        self.view.scrollTo(index)

    def step(self, current: str | None, delta: int) -> str | None:
        """The visible image *delta* rows from *current* (clamped), or None."""
        count = self._proxy.rowCount()
        if count == 0:
            return None
        row = self._proxy_row(current)
        if row is None:
            return self._proxy.index(0, 0).data(IMAGE_ROLE)
        return self._proxy.index(min(max(row + delta, 0), count - 1), 0).data(IMAGE_ROLE)

    def _on_activated(self, index) -> None:
        image = index.data(IMAGE_ROLE)
        if image:
            self.imageActivated.emit(image)
