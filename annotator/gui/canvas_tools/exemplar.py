"""The exemplar tool ("find all like this"): box one object, SAM 3 proposes every object like it.

  Drag                      positive exemplar box (objects like this one)
  Right-drag, Shift+drag    negative exemplar box (not like this)
  Backspace                 remove the last box (the others are asked again)
  Enter                     keep the proposals (one undoable command)
  Esc                       discard the boxes (again: leave the tool)

The class is asked when the tool starts: its name goes to SAM 3 with the boxes, and the
proposals get it; with no class chosen SAM 3 gets the boxes only and the class is asked on
Enter. After each box the engine runs with every box of this image so far (the
``decoder`` callback; the controller sends it through the interactive lane) and each
instance it returns is drawn as a dashed proposal with its score. Boxes belong to one
image: switching images drops them. A box without width or height, or outside the
image, is not sent: the status bar says so.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QKeyEvent, QMouseEvent, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem, QGraphicsSimpleTextItem

from annotator.gui.canvas_items import Z_DRAFT, label_color, shape_path
from annotator.gui.canvas_tools import CanvasTool, Point

POSITIVE, NEGATIVE = QColor(40, 220, 80), QColor(240, 60, 60)
PENDING_LABEL = "object"  # the proposals' class while none is chosen (asked on Enter)
HINT = ("Exemplars: drag a box around one object to find all like it (right- or Shift+drag: not like this); "
        "Enter keeps the proposals, Backspace removes the last box, Esc discards")

Box = tuple[float, float, float, float]
# image, boxes, labels, text (None: boxes only), proposals' label -> job id (None: not sent)
Decoder = Callable[[str, list, list, "str | None", str], "int | None"]


class ExemplarTool(QObject, CanvasTool):
    finished = Signal()  # the user left the tool

    def __init__(self, canvas, decoder: Decoder | None = None,
                 choose_class: Callable[[], "str | None"] | None = None):
        super().__init__(canvas)
        self.canvas = canvas
        self.decoder = decoder
        self.choose_class = choose_class or (lambda: canvas._ask_label(canvas._last_label))
        self.label: str | None = None  # the chosen class; None: boxes only
        self.boxes: list[Box] = []
        self.labels: list[int] = []
        self.proposals: list = []  # Shapes of the newest answer
        self._waiting: int | None = None
        self._press: tuple[Point, int] | None = None
        self._drag: QGraphicsPathItem = self._path_item(Z_DRAFT + 0.5)
        self._shape_items: list[QGraphicsItem] = []
        canvas.documentSet.connect(self._on_document)

    def _path_item(self, z: float) -> QGraphicsPathItem:
        item = QGraphicsPathItem()
        item.setZValue(z)
        self.canvas.scene().addItem(item)
        return item

    # --- activation ------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        return self.canvas.tool() is self

    def activate(self) -> bool:
        if self.canvas.document() is None:
            self.canvas.statusMessage.emit("Open an image before using exemplars")
            return False
        self.label = self.choose_class()
        self.canvas.set_tool(self)
        if self.label is None:
            self.canvas.statusMessage.emit("Exemplars without a class: SAM 3 gets the boxes only; "
                                           "the class is asked on Enter")
        return True

    def deactivate(self) -> None:
        if self.active:
            self.canvas.set_tool(None)  # calls cancel()
        else:
            self.cancel()

    def hint(self) -> str:
        return HINT + (f" (class: {self.label})" if self.label else "")

    def cancel(self) -> None:
        self.clear()
        self.finished.emit()

    def clear(self) -> None:
        """Drop the boxes and proposals (a late answer for them is then ignored)."""
        self.boxes, self.labels, self.proposals = [], [], []
        self._waiting, self._press = None, None
        self._drag.setPath(QPainterPath())
        self._redraw()

    def _on_document(self) -> None:
        self.clear()  # exemplars describe one image only
        if self.active and self.canvas.document() is None:
            self.deactivate()

    def double_click(self, event: QMouseEvent, point: Point) -> bool:
        return True

    # --- mouse -------------------------------------------------------------------------------
    def press(self, event: QMouseEvent, point: Point) -> bool:
        button = event.button()
        if button not in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            return False
        negative = button == Qt.MouseButton.RightButton or bool(
            event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        self._press = (point, 0 if negative else 1)
        return True

    def move(self, event: QMouseEvent, point: Point) -> bool:
        if self._press is not None:
            (x0, y0), label = self._press
            path = QPainterPath()
            path.addRect(QRectF(QPointF(x0, y0), QPointF(*point)).normalized())
            self._drag.setPath(path)
            self._drag.setPen(self._box_pen(label))
        return True

    def release(self, event: QMouseEvent, point: Point) -> bool:
        press, self._press = self._press, None
        self._drag.setPath(QPainterPath())
        if press is None:
            return True
        (x0, y0), label = press
        self.add_box((x0, y0, point[0], point[1]), label)
        return True

    def add_box(self, box: Box, label: int) -> bool:
        """Add one exemplar (image pixels, any corner order) and ask again; False if it is degenerate."""
        doc = self.canvas.document()
        if doc is None:
            return False
        w, h = doc.annotations.width, doc.annotations.height
        x0, x1 = sorted((float(box[0]), float(box[2])))
        y0, y1 = sorted((float(box[1]), float(box[3])))
        kind = "positive" if label else "negative"
        if x1 - x0 <= 0 or y1 - y0 <= 0:
            self.canvas.statusMessage.emit(f"Exemplar box ignored: it has no width or height (drag a {kind} box "
                                           "around an object)")
            return False
        clipped = (max(x0, 0.0), max(y0, 0.0), min(x1, float(w)), min(y1, float(h)))
        if clipped[2] - clipped[0] <= 0 or clipped[3] - clipped[1] <= 0:
            self.canvas.statusMessage.emit("Exemplar box ignored: it lies outside the image")
            return False
        self.boxes.append(clipped)
        self.labels.append(int(label))
        self._request()
        return True

    # --- keys ----------------------------------------------------------------------------------
    _KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Escape, Qt.Key.Key_Backspace)

    def claims_key(self, event: QKeyEvent) -> bool:
        return event.key() in self._KEYS

    def key(self, event: QKeyEvent) -> bool:
        key = event.key()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.accept()
        elif key == Qt.Key.Key_Backspace:
            self.remove_last_box()
        elif key == Qt.Key.Key_Escape:
            if self.boxes:
                self.clear()
                self.canvas.statusMessage.emit("Exemplar boxes discarded")
            else:
                self.deactivate()
        else:
            return False
        return True

    def remove_last_box(self) -> None:
        if not self.boxes:
            return
        self.boxes.pop()
        self.labels.pop()
        if self.boxes:
            self._request()
        else:
            self._waiting, self.proposals = None, []
            self._redraw()

    # --- engine --------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Ask again with the same boxes (the threshold or the shapes changed)."""
        if self.boxes:
            self._request()

    def _request(self) -> None:
        self._redraw()
        doc = self.canvas.document()
        if doc is None or self.decoder is None:
            return
        self._waiting = self.decoder(doc.annotations.image, list(self.boxes), list(self.labels), self.label,
                                     self.label or PENDING_LABEL)

    def show_result(self, result) -> bool:
        """An ExemplarResult; used only if it answers the newest box set of the shown image."""
        doc = self.canvas.document()
        if doc is None or result.image != doc.annotations.image or result.job_id != self._waiting:
            return False
        self.proposals = list(result.shapes)
        self._redraw()
        notes = list(result.ignored)
        if result.duplicates:
            notes.append(f"{result.duplicates} already annotated")
        if result.missed:
            notes.append(f"SAM 3 did not return {len(result.missed)} of the boxed objects: outline "
                         f"{'it' if len(result.missed) == 1 else 'them'} with the AI polygon (I) or draw a tighter box")
        found = f"{len(self.proposals)} proposal(s) like the exemplars"
        self.canvas.statusMessage.emit("; ".join([found, *notes]) + " (Enter keeps them)")
        return True

    def show_failure(self, job_id: int, image: str, message: str) -> None:
        doc = self.canvas.document()
        if doc is not None and image == doc.annotations.image and job_id == self._waiting:
            self._waiting = None
            self.canvas.statusMessage.emit(f"Exemplars: {message.splitlines()[0]}")

    # --- painting ------------------------------------------------------------------------------
    @staticmethod
    def _box_pen(label: int) -> QPen:
        pen = QPen(POSITIVE if label else NEGATIVE)
        pen.setCosmetic(True)
        pen.setWidthF(2.0)
        return pen

    def _redraw(self) -> None:
        scene = self.canvas.scene()
        for item in self._shape_items:
            scene.removeItem(item)
        self._shape_items = []
        for (x0, y0, x1, y1), label in zip(self.boxes, self.labels):
            item = QGraphicsPathItem()
            item.setZValue(Z_DRAFT + 0.5)
            path = QPainterPath()
            path.addRect(QRectF(x0, y0, x1 - x0, y1 - y0))
            item.setPath(path)
            item.setPen(self._box_pen(label))
            scene.addItem(item)
            self._shape_items.append(item)
        for shape in self.proposals:
            color = label_color(self.canvas._labels, self.label or shape.label)
            outline = QGraphicsPathItem(shape_path(shape))
            outline.setZValue(Z_DRAFT)
            pen = QPen(color)
            pen.setCosmetic(True)
            pen.setWidthF(2.0)
            pen.setStyle(Qt.PenStyle.DashLine)
            outline.setPen(pen)
            fill = QColor(color)
            fill.setAlpha(40)
            outline.setBrush(QBrush(fill))
            scene.addItem(outline)
            score = QGraphicsSimpleTextItem(f"{shape.score:.2f}")
            score.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
            score.setBrush(QBrush(color))
            score.setZValue(Z_DRAFT + 0.6)
            x, y, _, _ = shape.bbox
            score.setPos(x, y)
            scene.addItem(score)
            self._shape_items += [outline, score]

    def score_texts(self) -> list[str]:
        """The scores drawn beside the proposals (what the user reads)."""
        return [i.text() for i in self._shape_items if isinstance(i, QGraphicsSimpleTextItem)]

    # --- accepting -------------------------------------------------------------------------------
    def accept(self) -> None:
        doc = self.canvas.document()
        if doc is None:
            return
        if not self.proposals:
            self.canvas.statusMessage.emit("Still looking…" if self._waiting is not None and self.boxes else
                                           "No proposals to keep: drag a box around an object first")
            return
        label = self.label
        if label is None:
            label = self.canvas._ask_label(self.canvas._last_label)
            if label is None:
                self.canvas.statusMessage.emit("No class chosen: Enter to choose again, Esc to discard")
                return
        shapes = [s.replace(label=label) for s in self.proposals]
        doc.add_shapes(shapes)  # one undoable command
        self.canvas.statusMessage.emit(f"Kept {len(shapes)} {label} proposal(s)")
        self.clear()
