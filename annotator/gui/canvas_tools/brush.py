"""Brush and eraser on the selected shape.

Left-drag paints (brush) or removes (eraser) a stroke of round dabs onto the
selected shape; on release the shape is rasterised with its own mask
(``Shape.mask``), the stroke painted with OpenCV, and the result turned back into
polygons by the shared geometry code (``Shape.from_mask``), so holes and separate
pieces come out as holes and parts. One stroke is one undoable command; erasing a
shape away entirely deletes it (also one command).

The radius is in image pixels, drawn as a circle under the cursor; ``[`` / ``]``
shrink and grow it. Esc leaves the tool. With nothing selected, a click selects
the shape under the cursor (the next drag paints on it).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsEllipseItem, QGraphicsPathItem

from annotator.core.shapes import Shape
from annotator.gui.canvas_items import Z_DRAFT
from annotator.gui.canvas_tools import CanvasTool, Point

RADIUS_STEP = 1.25
MIN_RADIUS, MAX_RADIUS = 1.0, 500.0
SUBPIXEL_BITS = 4  # OpenCV draws at 1/16 pixel, so a dab sits where the cursor is


def paint_stroke(mask: np.ndarray, points: Sequence[tuple[float, float]], radius: float,
                 erase: bool) -> np.ndarray:
    """A copy of bool *mask* [H, W] with the stroke through *points* (x, y image coords) set or cleared.

    The stroke is round dabs of *radius* joined by lines as wide, the pixels whose
    centres it covers (pixel (c, r) covers [c, c+1] x [r, r+1], its centre at +0.5).
    """
    canvas = mask.astype(np.uint8)
    value = 0 if erase else 1
    scale = 1 << SUBPIXEL_BITS
    centres = [(round((x - 0.5) * scale), round((y - 0.5) * scale)) for x, y in points]
    r = max(1, round(radius * scale))
    for c in centres:
        cv2.circle(canvas, c, r, value, thickness=-1, lineType=cv2.LINE_8, shift=SUBPIXEL_BITS)
    for a, b in zip(centres, centres[1:]):
        cv2.line(canvas, a, b, value, thickness=max(1, round(2 * radius)), lineType=cv2.LINE_8,
                 shift=SUBPIXEL_BITS)
    return canvas.astype(bool)


def stroke_shape(shape: Shape, size: tuple[int, int], points: Sequence[tuple[float, float]], radius: float,
                 erase: bool, tolerance: float = 0.5) -> Shape | None:
    """*shape* with the stroke applied: a new shape (same id and fields), or None when nothing is left.

    *size*: (width, height) of the image. Returns *shape* itself when the stroke
    changes no pixel. *tolerance*: simplification of the new outline in pixels.
    """
    width, height = size
    before = shape.mask(height, width)
    after = paint_stroke(before, points, radius, erase)
    if np.array_equal(before, after):
        return shape
    painted = Shape.from_mask(shape.label, after, tolerance=tolerance)
    return None if painted is None else shape.with_parts(painted.parts)


class BrushTool(CanvasTool):
    """The canvas tool; ``erase`` makes it the eraser."""

    DEFAULT_RADIUS = 8.0

    def __init__(self, canvas, erase: bool = False, radius: float = DEFAULT_RADIUS, tolerance: float = 0.5):
        self.canvas = canvas
        self.erase = erase
        self.radius = radius
        self.tolerance = tolerance
        self._points: list[tuple[float, float]] | None = None  # the stroke in progress
        self._cursor = QGraphicsEllipseItem()
        self._cursor.setZValue(Z_DRAFT)
        pen = QPen(QColor(255, 255, 255))
        pen.setCosmetic(True)
        pen.setStyle(Qt.PenStyle.DashLine if erase else Qt.PenStyle.SolidLine)
        self._cursor.setPen(pen)
        self._stroke = QGraphicsPathItem()
        self._stroke.setZValue(Z_DRAFT)
        canvas.scene().addItem(self._cursor)
        canvas.scene().addItem(self._stroke)
        self._cursor.hide()

    @property
    def name(self) -> str:
        return "eraser" if self.erase else "brush"

    def hint(self) -> str:
        return (f"{self.name.capitalize()}: radius {self.radius:.0f} px ([ / ] to resize); drag on the selected "
                "shape; Esc leaves")

    # --- events from the canvas (CanvasTool) ----------------------------------------------
    def press(self, event: QMouseEvent, point: Point) -> bool:
        if event.button() != Qt.MouseButton.LeftButton or self.canvas.document() is None:
            return False
        if self._target() is None:
            hit = self.canvas.shape_at(point)
            self.canvas.select([hit] if hit else [])
            if hit is None:
                self.canvas.statusMessage.emit(f"Click a shape to {'erase from' if self.erase else 'paint on'} it")
            return True
        self._points = [point]
        self._show_stroke()
        return True

    def move(self, event: QMouseEvent, point: Point) -> bool:
        """Always used: the circle follows the cursor (and no hover cursor of the editor shows)."""
        self._show_cursor(point)
        if self._points is None:
            return True
        if np.hypot(point[0] - self._points[-1][0], point[1] - self._points[-1][1]) >= 0.5:
            self._points.append(point)
            self._show_stroke()
        return True

    def release(self, event: QMouseEvent, point: Point) -> bool:
        if event.button() != Qt.MouseButton.LeftButton or self._points is None:
            return False
        points, self._points = self._points, None
        self._stroke.setPath(QPainterPath())
        shape = self._target()
        doc = self.canvas.document()
        if shape is None or doc is None:
            return True
        result = stroke_shape(shape, self.canvas.image_size(), points, self.radius, self.erase, self.tolerance)
        if result is None:
            doc.remove_shapes([shape.id])
            self.canvas.statusMessage.emit(f"Erased {shape.label} entirely (Ctrl+Z brings it back)")
        elif result is not shape:
            doc.set_parts(shape.id, result.parts)
        return True

    def key(self, event: QKeyEvent) -> bool:
        if event.key() in (Qt.Key.Key_BracketLeft, Qt.Key.Key_BracketRight):
            factor = RADIUS_STEP if event.key() == Qt.Key.Key_BracketRight else 1 / RADIUS_STEP
            self.radius = float(np.clip(self.radius * factor, MIN_RADIUS, MAX_RADIUS))
            self._show_cursor(self._cursor_centre())
            self.canvas.statusMessage.emit(self.hint())
            return True
        if event.key() == Qt.Key.Key_Escape:
            self.canvas.set_tool(None)
            self.canvas.statusMessage.emit(f"{self.name.capitalize()} off")
            return True
        return False

    def claims_key(self, event: QKeyEvent) -> bool:
        return event.key() in (Qt.Key.Key_BracketLeft, Qt.Key.Key_BracketRight, Qt.Key.Key_Escape)

    def cancel(self) -> None:
        for item in (self._cursor, self._stroke):
            if item.scene() is not None:
                item.scene().removeItem(item)

    # --- internals ------------------------------------------------------------------------
    def _target(self) -> Shape | None:
        doc, ids = self.canvas.document(), self.canvas.selected_ids()
        return doc.shape(ids[-1]) if doc is not None and ids else None

    def _cursor_centre(self) -> tuple[float, float]:
        rect = self._cursor.rect()
        return (rect.center().x(), rect.center().y()) if not rect.isNull() else (0.0, 0.0)

    def _show_cursor(self, point: tuple[float, float]) -> None:
        r = self.radius
        self._cursor.setRect(QRectF(point[0] - r, point[1] - r, 2 * r, 2 * r))
        self._cursor.show()

    def _show_stroke(self) -> None:
        shape = self._target()
        color = QColor(255, 255, 255) if self.erase or shape is None else self.canvas.label_color(shape.label)
        color.setAlpha(110)
        pen = QPen(color, 2 * self.radius)  # in scene units: the preview is as wide as the stroke
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        path = QPainterPath(QPointF(*self._points[0]))
        for x, y in self._points[1:]:
            path.lineTo(x, y)
        if len(self._points) == 1:
            path.lineTo(self._points[0][0] + 0.01, self._points[0][1])  # a single dab shows as a dot
        self._stroke.setPen(pen)
        self._stroke.setPath(path)
