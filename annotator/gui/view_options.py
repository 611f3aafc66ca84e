"""View menu: show or hide all shapes or one class's, and the fill opacity.

A view setting, never an edit: nothing here touches a document or its undo stack.
The window turns ``style()`` into the canvas's ShapeStyle (adding what the heatmap
dock asks for).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QActionGroup
from PySide6.QtWidgets import QMenu

from annotator.gui.canvas_items import ShapeStyle


class ViewOptions(QObject):
    changed = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._fill = 1.0
        self._hidden: set[str] = set()  # casefolded class names
        self._all_hidden = False

    def style(self) -> ShapeStyle:
        return ShapeStyle(fill=self._fill, hidden_labels=frozenset(self._hidden), all_hidden=self._all_hidden)

    def set_fill(self, fill: float) -> None:
        fill = min(max(float(fill), 0.0), 1.0)
        if fill != self._fill:
            self._fill = fill
            self.changed.emit()

    def set_all_hidden(self, hidden: bool) -> None:
        if hidden != self._all_hidden:
            self._all_hidden = hidden
            self.changed.emit()

    def set_label_shown(self, label: str, shown: bool) -> None:
        key = label.casefold()
        if shown == (key not in self._hidden):
            return
        (self._hidden.discard if shown else self._hidden.add)(key)
        self.changed.emit()

    def label_shown(self, label: str) -> bool:
        return label.casefold() not in self._hidden

    def show_everything(self) -> None:
        if self._hidden or self._all_hidden:
            self._hidden.clear()
            self._all_hidden = False
            self.changed.emit()


FILL_CHOICES = (0, 25, 50, 75, 100)  # % of the normal fill; 0 leaves outlines only


class ClassesMenu(QMenu):
    """View > Classes Shown: one check box per class of the project, filled each time it opens."""

    def __init__(self, view: ViewOptions, names, parent=None):
        super().__init__("Classes &Shown", parent)
        self._view, self._names = view, names
        self.aboutToShow.connect(self._fill)

    def _fill(self) -> None:
        self.clear()
        everything = self.addAction("Show All")
        everything.triggered.connect(self._view.show_everything)
        self.addSeparator()
        for name in self._names():
            action = self.addAction(name)
            action.setCheckable(True)
            action.setChecked(self._view.label_shown(name))
            action.toggled.connect(lambda on, n=name: self._view.set_label_shown(n, on))


class FillMenu(QMenu):
    """View > Fill Opacity: how strongly shapes are filled (outlines always show)."""

    def __init__(self, view: ViewOptions, parent=None):
        super().__init__("&Fill Opacity", parent)
        group = QActionGroup(self)
        for percent in FILL_CHOICES:
            action = self.addAction(f"{percent}%" if percent else "Outlines only")
            action.setCheckable(True)
            action.setChecked(percent == 100)
            action.setData(percent)
            group.addAction(action)
            action.triggered.connect(lambda _=False, p=percent: view.set_fill(p / 100))
