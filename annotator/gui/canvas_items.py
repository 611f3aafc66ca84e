"""Painting: the QGraphicsItems the canvas puts in its scene, and nothing about events.

Z order, bottom to top: image, heatmap overlay, shapes, selected shapes, vertex handles,
the polygon being drawn. Pens are cosmetic (width in screen pixels) so outlines and
handles look the same at every zoom, and each shape is its own QGraphicsPathItem so
that an edit repaints one shape, never the whole scene.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPainterPath, QPen, QPixmap, QPolygonF
from PySide6.QtWidgets import (QGraphicsItem, QGraphicsPathItem, QGraphicsScene, QStyleOptionGraphicsItem,
                               QWidget)

from annotator.core.labels import LabelSet
from annotator.core.shapes import Shape

Z_IMAGE, Z_OVERLAY, Z_SHAPE, Z_SELECTED, Z_HANDLES, Z_DRAFT = 0, 1, 2, 3, 4, 5

FILL_ALPHA = 70  # translucent enough to see the image through the class colour
FILL_ALPHA_SELECTED = 120
FILL_ALPHA_PROPOSAL = 40  # proposals are fainter until accepted
HANDLE_PX = 7.0  # vertex square side in screen pixels
DRAFT_COLOR = QColor(255, 220, 0)


@dataclass(frozen=True)
class ShapeStyle:
    """How the shape layer draws: fill opacity and what is hidden (a view setting, not an edit)."""

    fill: float = 1.0  # multiplies the fill alphas: 0 draws outlines only
    hidden_labels: frozenset = frozenset()  # casefolded class names not drawn
    all_hidden: bool = False

    def shows(self, label: str) -> bool:
        return not self.all_hidden and label.casefold() not in self.hidden_labels


def pixmap_from_array(array: np.ndarray) -> QPixmap:
    """RGB [H,W,3] or RGBA [H,W,4] uint8 -> QPixmap (one copy, owned by Qt)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ValueError(f"expected an RGB [H,W,3] or RGBA [H,W,4] uint8 array, got shape {array.shape}")
    h, w, c = array.shape
    fmt = QImage.Format.Format_RGB888 if c == 3 else QImage.Format.Format_RGBA8888
    # QImage borrows the buffer; copy() detaches it before `array` can be freed.
    return QPixmap.fromImage(QImage(array.data, w, h, w * c, fmt).copy())


def label_color(labels: LabelSet, name: str) -> QColor:
    return QColor(*labels.color(name))  # stable even for a name missing from the set


def rings_path(rings: Sequence[np.ndarray]) -> QPainterPath:
    """One closed subpath per ring, filled odd-even so that holes are holes."""
    path = QPainterPath()
    path.setFillRule(Qt.FillRule.OddEvenFill)
    for ring in rings:
        path.addPolygon(QPolygonF([QPointF(float(x), float(y)) for x, y in ring]))
        path.closeSubpath()
    return path


def shape_path(shape: Shape) -> QPainterPath:
    """The shape's fill: each part odd-even (holes are holes), parts united so that two
    overlapping parts of one instance do not cancel out."""
    path = rings_path(shape.parts[0].rings)
    for part in shape.parts[1:]:
        path = path.united(rings_path(part.rings))
    return path


class ShapeItem(QGraphicsPathItem):
    """One shape: class-coloured translucent fill and outline; proposals dashed, crowd regions hatched."""

    def __init__(self, shape: Shape, color: QColor, style: ShapeStyle = ShapeStyle()):
        super().__init__()
        self.shape_id = shape.id
        self._style = style
        self.shape_ref = shape  # the document's object this item was drawn from
        self._color = QColor(color)
        self._proposal = shape.source == "model" and not shape.accepted
        self._crowd = shape.iscrowd  # a crowd region is hatched
        self._selected = False
        self._order = 0.0  # in [0, 1): position in the document, added to the z layer
        self.setPath(shape_path(shape))
        self.setVisible(style.shows(shape.label))
        self._label = shape.label
        self._restyle()

    def set_rings(self, rings: Sequence[np.ndarray]) -> None:
        """Live preview while dragging; the document is updated on release."""
        self.setPath(rings_path(rings))

    def set_selected(self, selected: bool) -> None:
        if selected != self._selected:
            self._selected = selected
            self._restyle()

    def set_style(self, style: ShapeStyle) -> None:
        self._style = style
        self.setVisible(style.shows(self._label))
        self._restyle()

    def set_order(self, order: float) -> None:
        self._order = order
        self.setZValue((Z_SELECTED if self._selected else Z_SHAPE) + order)

    def _restyle(self) -> None:
        pen = QPen(self._color.darker(110) if not self._selected else QColor(255, 255, 255))
        pen.setCosmetic(True)
        pen.setWidthF(2.5 if self._selected else 1.5)
        if self._proposal:
            pen.setStyle(Qt.PenStyle.DashLine)
        fill = QColor(self._color)
        alpha = (FILL_ALPHA_SELECTED if self._selected else FILL_ALPHA_PROPOSAL if self._proposal else FILL_ALPHA)
        fill.setAlpha(round(alpha * min(max(self._style.fill, 0.0), 1.0)))
        self.setPen(pen)
        self.setBrush(QBrush(fill, Qt.BrushStyle.BDiagPattern if self._crowd else Qt.BrushStyle.SolidPattern))
        self.setZValue((Z_SELECTED if self._selected else Z_SHAPE) + self._order)


class VertexHandles(QGraphicsItem):
    """Squares on the selected shape's vertices, a fixed size on screen.

    One item for all vertices (not one per vertex) keeps thousands of vertices cheap.
    `scale` must follow the view's zoom so the bounding rect covers the squares.
    """

    def __init__(self) -> None:
        super().__init__()
        self.setZValue(Z_HANDLES)
        self._rings: tuple[np.ndarray, ...] = ()
        self._scale = 1.0
        self._highlight: tuple[int, int] | None = None
        self._color = QColor(255, 255, 255)

    def set_rings(self, rings: Sequence[np.ndarray], color: QColor | None = None) -> None:
        self.prepareGeometryChange()
        self._rings = tuple(r for r in rings if len(r))
        if color is not None:
            self._color = QColor(color)
        self.update()

    def set_highlight(self, vertex: tuple[int, int] | None) -> None:
        if vertex != self._highlight:
            self._highlight = vertex
            self.update()

    def highlight(self) -> tuple[int, int] | None:
        return self._highlight

    def set_scale(self, scale: float) -> None:
        self.prepareGeometryChange()
        self._scale = max(scale, 1e-6)

    def boundingRect(self) -> QRectF:
        if not self._rings:
            return QRectF()
        pts = np.vstack(self._rings)
        pad = HANDLE_PX / self._scale
        x0, y0 = pts.min(axis=0) - pad
        x1, y1 = pts.max(axis=0) + pad
        return QRectF(float(x0), float(y0), float(x1 - x0), float(y1 - y0))

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        half = HANDLE_PX / self._scale / 2
        pen = QPen(QColor(0, 0, 0))
        pen.setCosmetic(True)
        painter.setPen(pen)
        painter.setBrush(self._color)
        # One drawRects call for all vertices: per-vertex calls cost a Python round trip each.
        painter.drawRects([QRectF(x - half, y - half, 2 * half, 2 * half)
                           for ring in self._rings for x, y in ring])
        if self._highlight is not None:
            r, i = self._highlight
            if r < len(self._rings) and i < len(self._rings[r]):
                x, y = self._rings[r][i]
                big = half * 1.6
                painter.setBrush(QColor(255, 80, 80))
                painter.drawRect(QRectF(x - big, y - big, 2 * big, 2 * big))


class DraftItem(QGraphicsPathItem):
    """The polygon being drawn: clicked vertices plus a rubber band to the cursor."""

    def __init__(self) -> None:
        super().__init__()
        self.setZValue(Z_DRAFT)
        pen = QPen(DRAFT_COLOR)
        pen.setCosmetic(True)
        pen.setWidthF(1.5)
        self.setPen(pen)

    def show_points(self, points: Sequence[tuple[float, float]], cursor: tuple[float, float] | None) -> None:
        path = QPainterPath()
        if points:
            path.moveTo(*points[0])
            for p in points[1:]:
                path.lineTo(*p)
            if cursor is not None:
                path.lineTo(*cursor)
        self.setPath(path)


class ShapeLayer:
    """The ShapeItems of a document's shapes, kept in step by object identity.

    `sync` rebuilds an item only when the document holds a new Shape object for its id
    (the document never edits a Shape in place), so an edit or an undo touches one item.
    Z values follow the document order, the same order hit-testing treats as stacking.
    """

    def __init__(self, scene: QGraphicsScene, labels: LabelSet):
        self._scene = scene
        self._labels = labels
        self._items: dict[str, ShapeItem] = {}
        self.style = ShapeStyle()

    def set_style(self, style: ShapeStyle) -> None:
        self.style = style
        for item in self._items.values():
            item.set_style(style)

    def visible_ids(self) -> set[str]:
        return {i for i, item in self._items.items() if item.isVisible()}

    def item(self, shape_id: str) -> ShapeItem | None:
        return self._items.get(shape_id)

    def clear(self) -> None:
        for item in self._items.values():
            self._scene.removeItem(item)
        self._items.clear()

    def sync(self, shapes: Sequence[Shape], selected: Sequence[str]) -> None:
        wanted = {s.id for s in shapes}
        for shape_id in [i for i in self._items if i not in wanted]:
            self._scene.removeItem(self._items.pop(shape_id))
        for order, shape in enumerate(shapes):
            item = self._items.get(shape.id)
            if item is None or item.shape_ref is not shape:
                if item is not None:
                    self._scene.removeItem(item)
                item = ShapeItem(shape, label_color(self._labels, shape.label), self.style)
                self._scene.addItem(item)
                self._items[shape.id] = item
            item.set_order(order / (len(shapes) + 1))
            item.set_selected(shape.id in selected)
