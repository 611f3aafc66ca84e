"""File list dock: the project's images with their review status, shape counts and a name filter.

Each row reads "name  · N (P pending)" (N shapes); the status is also the row's
coloured dot, so an image without shapes keeps the normal text colour (grey text
reads as disabled). A line above the list counts the reviewed images.

An image whose annotation file is there but whose image file is gone is listed after the
others, greyed and struck through ("missing"): it cannot be opened, and its context menu
moves its annotations to the trash (``trashRequested``).

The rows live in a list model that answers ``data()`` from a Python list and dicts, so
listing 20,000 images, or updating their statuses, costs no per-row Qt object on the
GUI thread; the view asks only for the rows it shows (uniform row heights).
"""

from __future__ import annotations

from collections import Counter

from PySide6.QtCore import QAbstractListModel, QEvent, QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QDockWidget, QLabel, QLineEdit, QListView, QMenu, QVBoxLayout, QWidget

STATUS_COLOR = {"none": QColor(140, 140, 140), "proposed": QColor(230, 150, 0), "reviewed": QColor(30, 160, 60),
                "unreadable": QColor(200, 40, 40), "missing": QColor(150, 150, 150, 110)}
STATUS_WORDS = {"none": "no shapes yet", "proposed": "proposals await review", "reviewed": "reviewed",
                "unreadable": "cannot be read", "missing": "the image file is missing"}
MISSING = "missing"
"""Status of an image whose annotation file is there but whose image file is not."""
IMAGE_ROLE = Qt.ItemDataRole.UserRole + 1
STATUS_ROLE = Qt.ItemDataRole.UserRole + 2
COUNTS_ROLE = Qt.ItemDataRole.UserRole + 3  # (shapes, pending) or None when not known

Counts = tuple[int, int]


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


class ImageListModel(QAbstractListModel):
    """Images (relative paths) with a status and, where known, (shapes, pending) counts each.
    Rows keep their place: missing images are added after the others, a trashed one removed."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._images: list[str] = []
        self._rows: dict[str, int] = {}
        self._status: dict[str, str] = {}
        self._counts: dict[str, Counts] = {}
        self._missing: set[str] = set()
        self._icons = {status: _dot(color) for status, color in STATUS_COLOR.items()}
        self._struck = QFont()
        self._struck.setStrikeOut(True)

    def reset(self, images: list[str], status: dict[str, str], counts: dict[str, Counts] | None = None) -> None:
        self.beginResetModel()
        self._images = list(images)
        self._rows = {image: row for row, image in enumerate(self._images)}
        self._status = {image: value for image, value in status.items() if image in self._rows}
        self._counts = {image: tuple(c) for image, c in (counts or {}).items()}
        self._missing = set()
        self.endResetModel()

    def add_missing(self, images: list[str], counts: dict[str, Counts]) -> None:
        """Append *images* (not yet listed) as missing, with their files' shape counts."""
        new = [image for image in images if image not in self._rows]
        if not new:
            return
        first = len(self._images)
        self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
        for image in new:
            self._rows[image] = len(self._images)
            self._images.append(image)
            self._status[image] = MISSING
            self._missing.add(image)
            if image in counts:
                self._counts[image] = tuple(counts[image])
        self.endInsertRows()

    def remove(self, image: str) -> None:
        row = self._rows.get(image)
        if row is None:
            return
        self.beginRemoveRows(QModelIndex(), row, row)
        del self._images[row]
        self._status.pop(image, None)
        self._counts.pop(image, None)
        self._missing.discard(image)
        self._rows = {name: r for r, name in enumerate(self._images)}
        self.endRemoveRows()

    def row(self, image: str) -> int | None:
        return self._rows.get(image)

    def status(self, image: str) -> str | None:
        if image not in self._rows:
            return None
        return self._status.get(image, "none")

    def counts(self, image: str) -> Counts | None:
        return self._counts.get(image)

    def set_status(self, image: str, status: str, counts: Counts | None = None) -> bool:
        """True when the row changed."""
        row = self._rows.get(image)
        if row is None:
            return False
        counts = tuple(counts) if counts is not None else self._counts.get(image)
        if self._status.get(image, "none") == status and self._counts.get(image) == counts:
            return False
        self._status[image] = status
        if counts is not None:
            self._counts[image] = counts
        index = self.index(row, 0)
        self.dataChanged.emit(index, index)
        return True

    def set_statuses(self, status: dict[str, str], counts: dict[str, Counts] | None = None) -> None:
        """Many statuses at once: one change notification for the whole list (missing rows keep theirs)."""
        rows, missing = self._rows, self._missing
        self._status.update({image: value for image, value in status.items()
                             if image in rows and image not in missing})
        self._counts.update({image: tuple(c) for image, c in (counts or {}).items()
                             if image in rows and image not in missing})
        if self._images:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._images) - 1, 0))

    def status_totals(self) -> Counter:
        totals = Counter(self._status.values())  # only listed images have a status entry
        totals["none"] += len(self._images) - len(self._status)
        return totals

    def pending_proposals(self) -> tuple[int, int]:
        pending = [c[1] for image, c in self._counts.items() if c[1] and image in self._rows]
        return sum(pending), len(pending)

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else len(self._images)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or index.row() >= len(self._images):
            return None
        image = self._images[index.row()]
        status = self._status.get(image, "none")
        counts = self._counts.get(image)
        if role == Qt.ItemDataRole.DisplayRole:
            tail = ""
            if counts and counts[0]:
                tail = f"  · {counts[0]}" + (f" ({counts[1]} pending)" if counts[1] else "")
            return f"{image}{tail}"
        if role == IMAGE_ROLE:
            return image
        if role == STATUS_ROLE:
            return status
        if role == COUNTS_ROLE:
            return counts
        if role == Qt.ItemDataRole.DecorationRole:
            return self._icons.get(status, self._icons["none"])
        if role == Qt.ItemDataRole.ForegroundRole:
            # Only an unreadable image is coloured; others keep the palette's text colour
            # (grey text would read as disabled).
            return STATUS_COLOR[status] if status in ("unreadable", MISSING) else None
        if role == Qt.ItemDataRole.FontRole:
            return self._struck if status == MISSING else None
        if role == Qt.ItemDataRole.ToolTipRole:
            if status == MISSING:
                held = f"{counts[0]} shape(s)" if counts else "annotations"
                return (f"{image}: the image file is missing; its annotation file holds {held}. "
                        "Right-click to move the annotations to the trash.")
            detail = f", {counts[0]} shape(s), {counts[1]} pending" if counts else ""
            return f"{image}: {STATUS_WORDS.get(status, status)}{detail}"
        return None


class FileListDock(QDockWidget):
    imageActivated = Signal(str)
    trashRequested = Signal(str)  # a missing image whose annotations the user wants set aside

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
        self.filter.returnPressed.connect(lambda: self._open_match(0))
        self.filter.installEventFilter(self)  # Down: into the list, on the first match
        self._selecting = False  # select() moves the current row without reopening the image
        self._shown: str | None = None  # the image the window shows (select())
        self.view = QListView()
        self.view.setUniformItemSizes(True)  # no per-row size query: 20,000 rows cost nothing
        self.view.setModel(self._proxy)
        self.view.setEditTriggers(QListView.EditTrigger.NoEditTriggers)
        self.view.activated.connect(self._on_activated)
        self.view.clicked.connect(self._on_activated)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._context_menu)
        self.view.selectionModel().currentChanged.connect(self._on_current_changed)
        self.summary = QLabel()

        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.summary)
        layout.addWidget(self.filter)
        layout.addWidget(self.view)
        self.setWidget(body)

    def set_images(self, images: list[str], status: dict[str, str], counts: dict | None = None) -> None:
        """*counts*: image -> (shapes, pending proposals), where known."""
        self._model.reset(images, status, counts)
        self._update_summary()

    def add_missing(self, images: list[str], counts: dict) -> None:
        """List *images* (annotated, image file gone) after the others, marked missing."""
        self._model.add_missing(images, counts)
        self._update_summary()

    def remove(self, image: str) -> None:
        self._model.remove(image)
        self._update_summary()

    def set_status(self, image: str, status: str, counts: Counts | None = None) -> None:
        if self._model.set_status(image, status, counts):
            self._update_summary()

    def set_statuses(self, status: dict[str, str], counts: dict | None = None) -> None:
        self._model.set_statuses(status, counts)
        self._update_summary()

    def status(self, image: str) -> str | None:
        return self._model.status(image)

    def counts(self, image: str) -> Counts | None:
        return self._model.counts(image)

    def pending_proposals(self) -> tuple[int, int]:
        """(pending proposals, images holding them) over the listed images whose counts are known."""
        return self._model.pending_proposals()

    def _update_summary(self) -> None:
        totals = self._model.status_totals()
        reviewed, proposed, missing = totals["reviewed"], totals["proposed"], totals[MISSING]
        self.summary.setText(f"{reviewed} of {self._model.rowCount() - missing} reviewed"
                             + (f", {proposed} with proposals" if proposed else "")
                             + (f", {missing} missing" if missing else ""))

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
        """Show *image*'s row as the current one (the window shows that image)."""
        self._shown = image
        row = self._proxy_row(image)
        if row is None:
            return
        index = self._proxy.index(row, 0)
        self._selecting = True
        try:
            self.view.setCurrentIndex(index)
        finally:
            self._selecting = False
        self.view.scrollTo(index)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt's name
        if (watched is self.filter and event.type() == QEvent.Type.KeyPress
                and event.key() in (Qt.Key.Key_Down, Qt.Key.Key_PageDown)):
            self._open_match(0)
            self.view.setFocus()
            return True
        return super().eventFilter(watched, event)

    def _open_match(self, row: int) -> None:
        """Enter or Down in the filter: open the first image that passes it (not a missing one)."""
        for r in range(row, self._proxy.rowCount()):
            index = self._proxy.index(r, 0)
            if index.data(STATUS_ROLE) != MISSING:
                self.view.setCurrentIndex(index)  # opens it (_on_current_changed)
                self._on_activated(index)  # when it was the current row already
                return

    def _on_current_changed(self, current, _previous) -> None:
        """Arrow keys in the list open the image they move to, as a click does."""
        if not self._selecting and current.isValid() and current.data(STATUS_ROLE) != MISSING:
            self._on_activated(current)

    def step(self, current: str | None, delta: int) -> str | None:
        """The visible image *delta* rows from *current* (clamped), or None; missing images
        are stepped over (A / D go through the images that can be shown)."""
        count = self._proxy.rowCount()
        if count == 0:
            return None
        row = self._proxy_row(current)
        if row is None:
            return self._proxy.index(0, 0).data(IMAGE_ROLE)
        target = min(max(row + delta, 0), count - 1)
        direction = 1 if delta >= 0 else -1
        for rows in (range(target, count if direction > 0 else -1, direction),
                     range(target, -1 if direction > 0 else count, -direction)):
            for r in rows:
                index = self._proxy.index(r, 0)
                if index.data(STATUS_ROLE) != MISSING:
                    return index.data(IMAGE_ROLE)
        return current

    def _context_menu(self, pos) -> None:
        index = self.view.indexAt(pos)
        image = index.data(IMAGE_ROLE) if index.isValid() else None
        if not image:
            return
        menu = QMenu(self)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        trash = menu.addAction("Move Annotations to Trash…")
        trash.setEnabled(index.data(STATUS_ROLE) == MISSING)
        trash.setToolTip("Only for a missing image: its annotation file goes to .pnp-annotator/trash/")
        trash.triggered.connect(lambda: self.trashRequested.emit(image))
        menu.popup(self.view.viewport().mapToGlobal(pos))

    def _on_activated(self, index) -> None:
        image = index.data(IMAGE_ROLE)
        if image and image != self._shown:  # a click also moves the current row: opened once
            self.imageActivated.emit(image)
