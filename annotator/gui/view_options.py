"""View > Shapes: show or hide all shapes or one class's, and the fill opacity.

A view setting, never an edit: nothing here touches a document or its undo stack.
The window turns ``style()`` into the canvas's ShapeStyle (adding what the heatmap
dock asks for).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

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
