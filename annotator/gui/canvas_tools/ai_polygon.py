"""The AI polygon tool: click an object, get its outline from the interactive model.

  Left click                positive point (on the object)
  Right click, Shift+click  negative point (not the object)
  Left drag                 box around the object
  Enter                     accept: a new shape (label dialog), or, when a shape is
                            selected, that shape's new geometry (label and id kept)
  Backspace                 remove the last point (or box)
  Esc                       discard the prompts; with none, leave the tool

After each click the tool asks its ``decoder`` (set by the window: the engine
thread's interactive lane) and shows the answer as a dashed outline, like a
proposal. An answer is used only if it is for the image on the canvas and for the
newest click; switching images drops the prompts. Every accept is one undoable
command of the document.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QKeyEvent, QMouseEvent, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem

from annotator.core.shapes import Part, Shape
from annotator.gui.canvas_items import Z_DRAFT, rings_path
from annotator.gui.canvas_tools import CanvasTool, Point

DRAG_PX = 5.0  # screen pixels the mouse must travel with the button down to draw a box
MARKER_PX = 5.0
PREVIEW_COLOR = QColor(0, 220, 255)
POSITIVE, NEGATIVE = QColor(40, 220, 80), QColor(240, 60, 60)
HINT = ("AI polygon: click the object (right or Shift+click: not the object, drag: box); "
        "Enter accepts, Backspace undoes a point, Esc cancels")

Parts = list[tuple[np.ndarray, list[np.ndarray]]]  # (exterior, holes) per region
Decoder = Callable[[str, list, list, "tuple | None"], "int | None"]  # image, points, labels, box -> job id


class _Markers(QGraphicsPathItem):
    """Prompt points (green positive, red negative) and the box, fixed size on screen."""

    def __init__(self) -> None:
        super().__init__()
        self.setZValue(Z_DRAFT + 0.5)
        self._points: list[tuple[float, float, int]] = []
        self._box: tuple[float, float, float, float] | None = None
        self._scale = 1.0

    def show(self, points, labels, box, scale: float) -> None:
        self._points = [(x, y, v) for (x, y), v in zip(points, labels)]
        self._box, self._scale = box, max(scale, 1e-6)
        path = QPainterPath()
        if box is not None:
            path.addRect(QRectF(QPointF(box[0], box[1]), QPointF(box[2], box[3])).normalized())
        self.setPath(path)
        pen = QPen(PREVIEW_COLOR)
        pen.setCosmetic(True)
        pen.setStyle(Qt.PenStyle.DashLine)
        self.setPen(pen)

    def boundingRect(self) -> QRectF:
        rect = super().boundingRect()
        r = MARKER_PX / self._scale
        for x, y, _ in self._points:
            rect = rect.united(QRectF(x - r, y - r, 2 * r, 2 * r))
        return rect.adjusted(-r, -r, r, r)

    def paint(self, painter, option, widget=None) -> None:
        super().paint(painter, option, widget)
        r = MARKER_PX / self._scale
        pen = QPen(QColor(0, 0, 0))
        pen.setCosmetic(True)
        painter.setPen(pen)
        for x, y, v in self._points:
            painter.setBrush(POSITIVE if v else NEGATIVE)
            painter.drawEllipse(QPointF(x, y), r, r)


class AiPolygonTool(QObject, CanvasTool):
    """Prompts -> decoder -> preview -> accept, on one Canvas (its CanvasTool while active)."""

    finished = Signal()  # the user left the tool (Esc with nothing pending)

    def __init__(self, canvas, decoder: Decoder | None = None, embedder: Callable[[str], None] | None = None):
        super().__init__(canvas)
        self.canvas = canvas
        self.decoder = decoder
        self.embedder = embedder
        self.points: list[tuple[float, float]] = []
        self.labels: list[int] = []
        self.box: tuple[float, float, float, float] | None = None
        self._history: list[tuple[str, object]] = []  # ("point", None) | ("box", previous box)
        self._press: tuple[tuple[float, float], int, QPointF] | None = None  # scene point, label, screen pos
        self._dragging = False
        self._waiting: int | None = None  # job id of the newest decode
        self.preview: Parts = []
        self.preview_score: float | None = None
        self._outline = QGraphicsPathItem()
        self._outline.setZValue(Z_DRAFT)
        pen = QPen(PREVIEW_COLOR)
        pen.setCosmetic(True)
        pen.setWidthF(2.0)
        pen.setStyle(Qt.PenStyle.DashLine)
        self._outline.setPen(pen)
        fill = QColor(PREVIEW_COLOR)
        fill.setAlpha(50)
        self._outline.setBrush(QBrush(fill))
        self._markers = _Markers()
        canvas.scene().addItem(self._outline)
        canvas.scene().addItem(self._markers)
        canvas.documentSet.connect(self._on_document)

    # --- activation ----------------------------------------------------------------------
    @property
    def active(self) -> bool:
        return self.canvas.tool() is self

    def activate(self) -> bool:
        doc = self.canvas.document()
        if doc is None:
            self.canvas.statusMessage.emit("Open an image before using the AI polygon")
            return False
        self.canvas.set_tool(self)  # ends a polygon being drawn, the brush or the eraser
        if self.embedder is not None:
            self.embedder(doc.annotations.image)
        return True

    def deactivate(self) -> None:
        """Leave the tool (the canvas goes back to selecting and editing)."""
        if self.active:
            self.canvas.set_tool(None)  # calls cancel()
        else:
            self.cancel()

    # --- CanvasTool ------------------------------------------------------------------------
    def hint(self) -> str:
        return HINT

    def cancel(self) -> None:
        self.clear()
        self.finished.emit()

    def double_click(self, event: QMouseEvent, point: Point) -> bool:
        return True  # a double click is two clicks (two points), not a label edit

    def clear(self) -> None:
        """Drop prompts and preview (a late answer for them is then ignored)."""
        self.points, self.labels, self.box, self._history = [], [], None, []
        self._press, self._dragging, self._waiting = None, False, None
        self.preview, self.preview_score = [], None
        self._redraw()

    def _on_document(self) -> None:
        self.clear()  # prompts belong to the image they were clicked on
        doc = self.canvas.document()
        if not self.active:
            return
        if doc is None:
            self.deactivate()
        elif self.embedder is not None:
            self.embedder(doc.annotations.image)

    # --- mouse -------------------------------------------------------------------------------
    def _inside(self, point: tuple[float, float]) -> bool:
        doc = self.canvas.document()
        if doc is None:
            return False
        w, h = doc.annotations.width, doc.annotations.height
        return 0 <= point[0] <= w and 0 <= point[1] <= h

    def press(self, event: QMouseEvent, point: Point) -> bool:
        button = event.button()
        if button not in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            return False
        if not self._inside(point):
            self._press = None
            return True  # a click outside the image is ignored
        negative = button == Qt.MouseButton.RightButton or bool(
            event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        self._press = (point, 0 if negative else 1, event.position())
        self._dragging = False
        return True

    def move(self, event: QMouseEvent, point: Point) -> bool:
        if self._press is None:
            return True
        start, label, screen = self._press
        if label == 1 and (event.position() - screen).manhattanLength() >= DRAG_PX:
            self._dragging = True
        if self._dragging:
            self._markers.show(self.points, self.labels, (*start, *self._clamp(point)), self.canvas.zoom())
        return True

    def release(self, event: QMouseEvent, point: Point) -> bool:
        press, self._press = self._press, None
        if press is None:
            return True
        start, label, _ = press
        if self._dragging:
            self._dragging = False
            end = self._clamp(point)
            box = (min(start[0], end[0]), min(start[1], end[1]), max(start[0], end[0]), max(start[1], end[1]))
            self._history.append(("box", self.box))
            self.box = box  # a box without width or height is read as a point by the engine
        else:
            self.points.append(start)
            self.labels.append(label)
            self._history.append(("point", None))
        self._request()
        return True

    def _clamp(self, point: tuple[float, float]) -> tuple[float, float]:
        ann = self.canvas.document().annotations
        return (float(np.clip(point[0], 0, ann.width)), float(np.clip(point[1], 0, ann.height)))

    # --- keys ----------------------------------------------------------------------------------
    _KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Escape, Qt.Key.Key_Backspace)

    def claims_key(self, event: QKeyEvent) -> bool:
        return event.key() in self._KEYS

    def key(self, event: QKeyEvent) -> bool:
        key = event.key()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.accept()
        elif key == Qt.Key.Key_Backspace:
            self.undo_prompt()
        elif key == Qt.Key.Key_Escape:
            if self.points or self.box is not None:
                self.clear()
                self.canvas.statusMessage.emit("AI polygon prompts discarded")
            elif self.canvas.selected_ids():
                self.canvas.select([])
            else:
                self.deactivate()
        else:
            return False
        return True

    def undo_prompt(self) -> None:
        if not self._history:
            return
        kind, previous = self._history.pop()
        if kind == "box":
            self.box = previous
        else:
            self.points.pop()
            self.labels.pop()
        if self.points or self.box is not None:
            self._request()
        else:
            self._waiting, self.preview, self.preview_score = None, [], None
            self._redraw()

    # --- decoding --------------------------------------------------------------------------------
    def _request(self) -> None:
        self._redraw()
        doc = self.canvas.document()
        if doc is None or self.decoder is None:
            return
        if not any(self.labels) and self.box is None:
            self._waiting, self.preview = None, []  # only "not this" points: nothing to ask yet
            self._redraw()
            self.canvas.statusMessage.emit("Add a positive click (left) on the object")
            return
        self._waiting = self.decoder(doc.annotations.image, list(self.points), list(self.labels), self.box)

    def show_result(self, result) -> bool:
        """A ClickResult from the engine; used only if it answers the newest click here."""
        doc = self.canvas.document()
        if doc is None or result.image != doc.annotations.image or result.job_id != self._waiting:
            return False
        self.preview, self.preview_score = list(result.parts), result.score
        self._redraw()
        if not self.preview:
            self.canvas.statusMessage.emit("No object here: click elsewhere or add a box")
        return True

    def show_failure(self, job_id: int, image: str, message: str) -> None:
        doc = self.canvas.document()
        if doc is not None and image == doc.annotations.image and job_id == self._waiting:
            self._waiting = None
            self.canvas.statusMessage.emit(f"AI polygon: {message.splitlines()[0]}")

    def _redraw(self) -> None:
        path = QPainterPath()
        for exterior, holes in self.preview:
            path.addPath(rings_path([exterior, *holes]))
        self._outline.setPath(path)
        self._markers.show(self.points, self.labels, self.box, self.canvas.zoom())

    # --- accepting -------------------------------------------------------------------------------
    def accept(self) -> None:
        doc = self.canvas.document()
        if doc is None:
            return
        if not self.preview:
            waiting = self._waiting is not None
            self.canvas.statusMessage.emit("Still computing the outline…" if waiting else
                                           "No object outlined: click on an object first")
            return
        parts = [Part(exterior, list(holes)) for exterior, holes in self.preview]  # one instance
        selected = [i for i in self.canvas.selected_ids() if doc.shape(i) is not None]
        if selected:
            target = selected[-1]
            doc.set_parts(target, parts)
            self.canvas.statusMessage.emit(f"Replaced the outline of {doc.shape(target).label}")
        else:
            label = self.canvas._ask_label(self.canvas._last_label)
            if label is None:
                self.canvas.statusMessage.emit("No label chosen: Enter to choose again, Esc to discard")
                return
            doc.add_shape(Shape(label, parts=parts))
        self.clear()
