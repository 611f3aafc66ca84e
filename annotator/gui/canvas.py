"""The annotation canvas: shows one image's shapes and turns mouse and keys into edits.

Conventions (labelme-like; the README table is built from this list):

  Left click a shape         select it (Ctrl+click adds/removes it from the selection)
  Drag a shape's interior    move it (holes and its other parts move with it)
  Drag a vertex              move that vertex (vertices of every part of the selected
                             shape are shown; a multi-part shape is selected as one)
  Alt+click an edge          insert a vertex there (keep the button down to drag it)
  Shift+click a vertex       delete it; Backspace deletes the last clicked vertex
  Delete                     delete the selected shapes
  Double-click a shape, E    change its label (asks `label_provider`)
  Esc, click outside shapes  clear the selection (the margin around the image is outside)
  begin_polygon() then clicks  draw: each click adds a vertex; Enter, double-click or a
                             click on the first vertex closes; Backspace removes the
                             last vertex; Esc cancels
  B / Shift+B (window)       brush / eraser on the selected shape (canvas_tools.brush):
                             drag paints, [ / ] resize, Esc leaves
  set_tool(tool)             a canvas_tools.CanvasTool (brush, eraser, AI polygon) gets
                             the mouse and keys first until another tool or None is set
  Wheel, Ctrl+= / Ctrl+-     zoom (about the cursor / the centre); Ctrl+0 fits
  Middle-drag, Space+drag    pan

Every edit goes through the AnnotationDocument, one undo command per gesture: a drag
previews on its item and is committed on release. A ring never drops below 3
vertices, and vertices stay on the image. Geometry and hit-testing are in
canvas_interaction (no Qt), painting in canvas_items, zoom and pan in canvas_view.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPixmap, QTransform
from PySide6.QtWidgets import QGraphicsPixmapItem, QGraphicsScene, QGraphicsTextItem, QWidget

from annotator.core.labels import LabelSet
from annotator.core.shapes import Shape
from annotator.gui import canvas_interaction as ci
from annotator.gui.canvas_tools import CanvasTool
from annotator.gui.canvas_items import (Z_IMAGE, Z_OVERLAY, DraftItem, ShapeLayer, ShapeStyle, VertexHandles,
                                        label_color, pixmap_from_array)
from annotator.gui.canvas_view import ZoomPanView
from annotator.gui.document import AnnotationDocument
from annotator.gui.label_dialog import LabelProvider, make_label_provider

HIT_PX = 6.0  # how close, in screen pixels, the cursor must be to grab a vertex or edge
DRAW_HINT = ("Click to add vertices; Enter or a click on the first vertex closes, "
             "Backspace removes the last vertex, Esc cancels")


@dataclasses.dataclass
class _Drag:
    """A gesture in progress on one shape; committed as one command on release."""

    shape_id: str
    origin: tuple[float, float]  # scene point of the press
    rings: ci.Rings  # geometry when the gesture began (after an Alt-insert, if any)
    vertex: tuple[int, int] | None  # (ring, index) when dragging a vertex, None to move the shape
    preview: ci.Rings
    dirty: bool  # something to commit (moved, or a vertex was inserted on press)


class Canvas(ZoomPanView):
    selectionChanged = Signal(list)
    statusMessage = Signal(str)
    labelAdded = Signal(str)  # a class new to the LabelSet was chosen: the project should save it
    documentSet = Signal()  # set_document ran: another image (or none) is shown

    def __init__(self, labels: LabelSet, parent: QWidget | None = None):
        super().__init__(parent)
        self._labels = labels
        self.label_provider: LabelProvider = make_label_provider(labels, self)
        self._doc: AnnotationDocument | None = None
        self._size = (0, 0)  # image (width, height): vertices are clamped to it
        self._selected: list[str] = []  # the last one is the primary: its vertices are shown
        self._vertex: tuple[int, int] | None = None  # last clicked vertex of the primary
        self._drag: _Drag | None = None
        self._draft: list[tuple[float, float]] | None = None  # None when not drawing
        self._last_label: str | None = None
        self._tool: CanvasTool | None = None  # gets every mouse event and key first while set

        self.setScene(QGraphicsScene(self))
        self.viewport().setMouseTracking(True)
        self._image_item = QGraphicsPixmapItem()
        self._image_item.setZValue(Z_IMAGE)
        self._overlay_item = QGraphicsPixmapItem()
        self._overlay_item.setZValue(Z_OVERLAY)
        self._handles = VertexHandles()
        self._draft_item = DraftItem()
        for item in (self._image_item, self._overlay_item, self._handles, self._draft_item):
            self.scene().addItem(item)
        self._layer = ShapeLayer(self.scene(), labels)
        self._error_item: QGraphicsTextItem | None = None
        self.zoomChanged.connect(self._handles.set_scale)

    # --- document and image ------------------------------------------------------------
    def document(self) -> AnnotationDocument | None:
        return self._doc

    def set_document(self, doc: AnnotationDocument | None, image: np.ndarray | None) -> None:
        """Show `doc` over `image` (RGB uint8 [H,W,3]); either may be None."""
        if self._doc is not None:
            try:
                self._doc.changed.disconnect(self._sync)
            except RuntimeError:  # the old document was already deleted with its signal
                pass
        self._doc = doc
        self._drag, self._draft, self._vertex = None, None, None
        self._draft_item.show_points([], None)
        self._clear_error()
        self._layer.clear()
        self._overlay_item.setPixmap(QPixmap())
        if image is not None:
            self._image_item.setPixmap(pixmap_from_array(image))
            self._size = (image.shape[1], image.shape[0])
        else:
            self._image_item.setPixmap(QPixmap())
            self._size = (doc.annotations.width, doc.annotations.height) if doc is not None else (0, 0)
        self.setSceneRect(QRectF(0, 0, *self._size))
        if doc is not None:
            doc.changed.connect(self._sync)
        self._set_selection([])
        self._sync()
        self.fit_to_window()
        self.documentSet.emit()

    def show_error(self, message: str) -> None:
        """Replace the image by `message` (e.g. an unreadable file)."""
        self.set_document(None, None)
        self._error_item = self.scene().addText(message)
        self._error_item.setDefaultTextColor(QColor(230, 230, 230))
        self._error_item.setTextWidth(max(200, self.viewport().width() - 40))
        self.resetTransform()
        self.setSceneRect(self._error_item.boundingRect())
        self._after_zoom()

    def set_overlay(self, rgba: np.ndarray | None) -> None:
        """Heatmap RGBA uint8 [H,W,4] between the image and the shapes; None removes it.

        An overlay of another size is stretched over the image, so a coarse heatmap
        needs no upsampling by the caller.
        """
        if rgba is None:
            self._overlay_item.setPixmap(QPixmap())
            return
        self._overlay_item.setPixmap(pixmap_from_array(rgba))
        h, w = rgba.shape[:2]
        if self._size[0] and self._size[1]:
            self._overlay_item.setTransform(QTransform.fromScale(self._size[0] / w, self._size[1] / h))

    def set_shape_style(self, style: ShapeStyle) -> None:
        """Fill opacity and hidden classes; hidden shapes are not clickable and leave the selection."""
        self._layer.set_style(style)
        visible = self._layer.visible_ids()
        self._set_selection([i for i in self._selected if i in visible])

    def redraw_shapes(self) -> None:
        """Draw every shape afresh (class colours changed)."""
        self._layer.clear()
        self._sync()

    def shape_style(self) -> ShapeStyle:
        return self._layer.style

    # --- tools ---------------------------------------------------------------------------
    def set_tool(self, tool: CanvasTool | None) -> None:
        """Give the mouse and keys to *tool* (see canvas_tools), or back to selecting and
        editing (None). One tool at a time: the previous one is cancelled."""
        if tool is not None and tool is self._tool:
            return
        old, self._tool = self._tool, tool
        if old is not None:
            old.cancel()
        if tool is not None:
            self.cancel_polygon()
        self.viewport().setCursor(tool.cursor() if tool is not None else Qt.CursorShape.ArrowCursor)
        if tool is not None and tool.hint():
            self.statusMessage.emit(tool.hint())

    def tool(self) -> CanvasTool | None:
        return self._tool

    def shape_at(self, point: tuple[float, float]) -> str | None:
        """Id of the visible shape under the scene *point*, or None."""
        hit = self._hit(point)
        return hit.shape_id if hit is not None else None

    def image_size(self) -> tuple[int, int]:
        """(width, height) of the image shown."""
        return self._size

    def label_color(self, name: str) -> QColor:
        return label_color(self._labels, name)

    def _clear_error(self) -> None:
        if self._error_item is not None:
            self.scene().removeItem(self._error_item)
            self._error_item = None

    def _sync(self) -> None:
        """Bring the items in line with the document (after an edit, undo or redo)."""
        self._drag = None  # an undo in mid-gesture invalidates the gesture
        shapes = self._doc.shapes() if self._doc is not None else []
        present = {s.id for s in shapes}
        if any(i not in present for i in self._selected):
            self._set_selection([i for i in self._selected if i in present])
        self._layer.sync(shapes, self._selected)
        self._refresh_handles()

    # --- selection ---------------------------------------------------------------------
    def selected_ids(self) -> list[str]:
        return list(self._selected)

    def select(self, ids: list[str]) -> None:
        self._set_selection([i for i in ids if self._doc is not None and self._doc.shape(i) is not None])

    def _set_selection(self, ids: list[str]) -> None:
        if ids == self._selected:
            return
        for old in self._selected:
            if (item := self._layer.item(old)) is not None:
                item.set_selected(False)
        self._selected = list(ids)
        for new in self._selected:
            if (item := self._layer.item(new)) is not None:
                item.set_selected(True)
        self._vertex = None
        self._refresh_handles()
        self.selectionChanged.emit(list(self._selected))

    def _primary(self) -> Shape | None:
        return self._doc.shape(self._selected[-1]) if self._doc is not None and self._selected else None

    def _refresh_handles(self) -> None:
        if self._draft is not None:
            self._handles.set_rings([np.array(self._draft, dtype=np.float64).reshape(-1, 2)], QColor(255, 220, 0))
            return
        shape = self._primary()
        rings = tuple(shape.rings()) if shape is not None else ()
        if self._vertex is not None and (not rings or self._vertex[0] >= len(rings)
                                         or self._vertex[1] >= len(rings[self._vertex[0]])):
            self._vertex = None
        self._handles.set_rings(rings, label_color(self._labels, shape.label).lighter(150) if shape else None)
        self._handles.set_highlight(self._vertex)

    # --- commands the main window calls ---------------------------------------------------
    def delete_selected(self) -> None:
        if self._doc is not None and self._selected:
            self._doc.remove_shapes(self._selected)

    def delete_selected_vertex(self) -> None:
        shape = self._primary()
        if shape is None or self._vertex is None:
            self.statusMessage.emit("Click a vertex of the selected shape first")
            return
        self._remove_vertex(shape, *self._vertex)

    def edit_label_of_selected(self) -> None:
        shape = self._primary()
        if shape is None:
            self.statusMessage.emit("Select a shape to change its label")
            return
        label = self._ask_label(shape.label)
        if label is not None:
            self._doc.set_label(self._selected, label)

    def begin_polygon(self) -> None:
        if self._doc is None:
            self.statusMessage.emit("Open an image before drawing")
            return
        self.set_tool(None)
        self._set_selection([])
        self._draft = []
        self.viewport().setCursor(Qt.CursorShape.CrossCursor)
        self.statusMessage.emit(DRAW_HINT)

    def is_drawing(self) -> bool:
        return self._draft is not None

    def cancel_polygon(self) -> None:
        self._draft = None
        self._draft_item.show_points([], None)
        self.viewport().setCursor(Qt.CursorShape.ArrowCursor)
        self._refresh_handles()

    # --- drawing -----------------------------------------------------------------------
    def _draft_click(self, point: tuple[float, float]) -> None:
        tol = self._tolerance()
        if ci.closes_draft(self._draft, point, tol):
            self._finish_polygon()
            return
        if self._draft and np.hypot(point[0] - self._draft[-1][0], point[1] - self._draft[-1][1]) <= tol:
            return  # a second click on the same spot would make a zero-length edge
        self._draft.append(point)
        self._draft_item.show_points(self._draft, point)
        self._refresh_handles()

    def _finish_polygon(self) -> None:
        if self._draft is None:
            return
        ring = np.array(self._draft, dtype=np.float64).reshape(-1, 2)
        if len(ring) < ci.MIN_VERTICES or ci.ring_area(ring) == 0:
            self.statusMessage.emit("A polygon needs at least 3 vertices that enclose an area")
            return
        label = self._ask_label(self._last_label)
        if label is None:  # keep the clicks: a slip in the dialog must not lose them
            self.statusMessage.emit("No label chosen: Enter to choose again, Esc to discard the polygon")
            return
        shape = Shape(label=label, exterior=ring)
        self.cancel_polygon()
        self._doc.add_shape(shape)
        self._set_selection([shape.id])

    def _ask_label(self, current: str | None) -> str | None:
        """Ask the provider; the answer is added to the LabelSet in its canonical spelling."""
        answer = self.label_provider(current)
        if answer is None or not answer.strip():
            return None
        is_new = self._labels.get(answer) is None
        name = self._labels.add(answer).name
        self._last_label = name
        if is_new:
            self.labelAdded.emit(name)
        return name

    # --- mouse -------------------------------------------------------------------------
    def _scene_point(self, event: QMouseEvent) -> tuple[float, float]:
        p = self.mapToScene(event.position().toPoint())
        return (p.x(), p.y())

    def _tolerance(self) -> float:
        return HIT_PX / max(self.zoom(), 1e-6)

    def _hit(self, point: tuple[float, float]) -> ci.Hit | None:
        if self._doc is None:
            return None
        style = self._layer.style
        visible = [s for s in self._doc.shapes() if style.shows(s.label)]
        shapes = [(s.id, tuple(s.rings())) for s in visible]
        layouts = {s.id: s.ring_layout() for s in visible if len(s.parts) > 1}
        return ci.find_hit(shapes, point, self._tolerance(), self._selected[-1] if self._selected else None,
                           layouts)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if self._pan_press(event):
            return
        if self._tool is not None and self._tool.press(event, self._scene_point(event)):
            return
        if event.button() != Qt.MouseButton.LeftButton or self._doc is None:
            return
        raw = self._scene_point(event)
        point = ci.clamp_point(raw, *self._size)
        if self._draft is not None:
            self._draft_click(point)
            return
        mods = event.modifiers()
        # A click in the margin around the image is a click on nothing: clamped onto the
        # border it would pick whatever shape touches the border.
        outside = max(abs(raw[0] - point[0]), abs(raw[1] - point[1])) > self._tolerance()
        hit = None if outside else self._hit(raw)
        if hit is None:
            if not mods & Qt.KeyboardModifier.ControlModifier:
                self._set_selection([])
            return
        if mods & Qt.KeyboardModifier.ControlModifier:
            ids = [i for i in self._selected if i != hit.shape_id]
            self._set_selection(ids if hit.shape_id in self._selected else ids + [hit.shape_id])
            return
        shape = self._doc.shape(hit.shape_id)
        rings = tuple(shape.rings())
        if hit.kind is ci.HitKind.VERTEX and mods & Qt.KeyboardModifier.ShiftModifier:
            self._remove_vertex(shape, hit.ring, hit.index)
            return
        if hit.shape_id not in self._selected or self._selected[-1] != hit.shape_id:
            self._set_selection([hit.shape_id])
        if hit.kind is ci.HitKind.EDGE and mods & Qt.KeyboardModifier.AltModifier:
            rings = ci.insert_vertex(rings, hit.ring, hit.index, hit.point)
            self._start_drag(hit.shape_id, point, rings, (hit.ring, hit.index + 1), dirty=True)
        elif hit.kind is ci.HitKind.VERTEX:
            self._start_drag(hit.shape_id, point, rings, (hit.ring, hit.index), dirty=False)
        else:
            self._start_drag(hit.shape_id, point, rings, None, dirty=False)

    def _start_drag(self, shape_id, origin, rings, vertex, dirty) -> None:
        self._drag = _Drag(shape_id, origin, rings, vertex, rings, dirty)
        self._vertex = vertex
        if dirty:
            self._preview(rings)
        self._handles.set_highlight(vertex)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._pan_move(event):
            return
        point = self._scene_point(event)
        if self._tool is not None and self._tool.move(event, point):
            return
        if self._draft is not None:
            self._draft_item.show_points(self._draft, ci.clamp_point(point, *self._size))
        elif self._drag is not None:
            self._drag_to(point)
        else:
            self._hover(point)

    def _drag_to(self, point: tuple[float, float]) -> None:
        d = self._drag
        if d.vertex is not None:
            rings = ci.move_vertex(d.rings, *d.vertex, ci.clamp_point(point, *self._size))
        else:
            dx, dy = ci.clamp_translation(d.rings, point[0] - d.origin[0], point[1] - d.origin[1], *self._size)
            rings = ci.translate(d.rings, dx, dy)
        d.dirty = True
        self._preview(rings)

    def _preview(self, rings: ci.Rings) -> None:
        self._drag.preview = rings
        self._layer.item(self._drag.shape_id).set_rings(rings)
        self._handles.set_rings(rings)

    def _hover(self, point: tuple[float, float]) -> None:
        hit = self._hit(point)
        cursor = Qt.CursorShape.ArrowCursor
        if hit is not None:
            cursor = {ci.HitKind.VERTEX: Qt.CursorShape.PointingHandCursor,
                      ci.HitKind.EDGE: Qt.CursorShape.SizeAllCursor,
                      ci.HitKind.BODY: Qt.CursorShape.SizeAllCursor}[hit.kind]
        if self._space_held:
            cursor = Qt.CursorShape.OpenHandCursor
        self.viewport().setCursor(cursor)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_release(event):
            return
        if self._tool is not None and self._tool.release(event, self._scene_point(event)):
            return
        d, self._drag = self._drag, None
        if event.button() != Qt.MouseButton.LeftButton or d is None or not d.dirty:
            return
        self._commit_rings(d.shape_id, d.preview)
        self._vertex = d.vertex
        self._refresh_handles()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if self._tool is not None and self._tool.double_click(event, self._scene_point(event)):
            return
        if event.button() != Qt.MouseButton.LeftButton or self._doc is None:
            return
        if self._draft is not None:
            self._finish_polygon()
            return
        hit = self._hit(self._scene_point(event))
        if hit is not None:
            if hit.shape_id not in self._selected:
                self._set_selection([hit.shape_id])
            self.edit_label_of_selected()

    def _remove_vertex(self, shape: Shape, ring: int, index: int) -> None:
        rings = tuple(shape.rings())
        if not ci.can_remove_vertex(rings, ring):
            self.statusMessage.emit(f"A polygon keeps at least {ci.MIN_VERTICES} vertices")
            return
        rings = ci.remove_vertex(rings, ring, index)
        self._vertex = None
        self._commit_rings(shape.id, rings)

    def _commit_rings(self, shape_id: str, rings: ci.Rings) -> None:
        """Edited rings (every part's, flattened as Shape.rings()) back into the document."""
        self._doc.set_parts(shape_id, self._doc.shape(shape_id).with_rings(rings).parts)

    # --- keys --------------------------------------------------------------------------
    def _claims_key(self, event: QKeyEvent) -> bool:
        if self._tool is not None and self._tool.claims_key(event):
            return True
        key = event.key()
        if self._draft is not None and key in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Escape):
            return True
        return key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) or super()._claims_key(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if self._tool is not None and self._tool.key(event):
            event.accept()
            return
        key = event.key()
        if self._draft is not None and key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self._finish_polygon()
        elif self._draft is not None and key == Qt.Key.Key_Escape:
            self.cancel_polygon()
            self.statusMessage.emit("Polygon discarded")
        elif self._draft is not None and key == Qt.Key.Key_Backspace:
            if self._draft:
                self._draft.pop()
            self._draft_item.show_points(self._draft, None)
            self._refresh_handles()
        elif key == Qt.Key.Key_Delete:
            self.delete_selected()
        elif key == Qt.Key.Key_Backspace:
            self.delete_selected_vertex()
        elif key == Qt.Key.Key_E and not event.modifiers():
            self.edit_label_of_selected()
        elif key == Qt.Key.Key_Escape and self._selected:
            self._set_selection([])
        else:
            super().keyPressEvent(event)
            return
        event.accept()
