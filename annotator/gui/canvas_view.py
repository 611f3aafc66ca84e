"""Zoom and pan for a QGraphicsView, apart from any editing.

Wheel zooms about the cursor, Ctrl+= / Ctrl++ / Ctrl+- zoom about the centre, Ctrl+0
fits the scene to the window. Middle-drag pans, and so does left-drag while Space is
held. After a fit the view stays fitted when the window is resized, until the user
zooms.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPointF, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPainter, QWheelEvent
from PySide6.QtWidgets import QGraphicsView, QWidget

ZOOM_STEP = 1.25
MIN_ZOOM = 0.01  # a 4000 px image still shows as 40 px
MAX_ZOOM = 64.0  # one image pixel as a 64 px square: enough to place a vertex exactly


def _is_zoom_key(event: QKeyEvent) -> bool:
    return bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier) and event.key() in (
        Qt.Key.Key_Equal, Qt.Key.Key_Plus, Qt.Key.Key_Minus, Qt.Key.Key_0)


class ZoomPanView(QGraphicsView):
    zoomChanged = Signal(float)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setBackgroundBrush(QColor(48, 48, 48))
        self.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._fitted = True
        self._space_held = False
        self._pan_from: QPointF | None = None

    # --- zoom -------------------------------------------------------------------------
    def zoom(self) -> float:
        return self.transform().m11()

    def zoom_in(self) -> None:
        self._zoom_by(ZOOM_STEP, under_mouse=False)

    def zoom_out(self) -> None:
        self._zoom_by(1 / ZOOM_STEP, under_mouse=False)

    def fit_to_window(self) -> None:
        rect = self.sceneRect()
        if rect.isEmpty():
            return
        self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        self._fitted = True
        self._after_zoom()

    def _zoom_by(self, factor: float, under_mouse: bool) -> None:
        current = self.zoom()
        target = min(max(current * factor, MIN_ZOOM), MAX_ZOOM)
        if target == current:
            return
        self.setTransformationAnchor(
            QGraphicsView.ViewportAnchor.AnchorUnderMouse if under_mouse
            else QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.scale(target / current, target / current)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self._fitted = False
        self._after_zoom()

    def _after_zoom(self) -> None:
        # Smoothing helps when many image pixels share a screen pixel; zoomed in, crisp
        # pixels are what the annotator needs to place a vertex on an edge.
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self.zoom() < 1.0)
        self.zoomChanged.emit(self.zoom())

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps:
            self._zoom_by(ZOOM_STEP ** steps, under_mouse=True)
        event.accept()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._fitted:
            self.fit_to_window()

    # --- pan --------------------------------------------------------------------------
    def _pan_press(self, event: QMouseEvent) -> bool:
        """Start a pan if this press asks for one; True when the event is consumed."""
        button = event.button()
        if button == Qt.MouseButton.MiddleButton or (button == Qt.MouseButton.LeftButton and self._space_held):
            self._pan_from = event.position()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return True
        return False

    def _pan_move(self, event: QMouseEvent) -> bool:
        if self._pan_from is None:
            return False
        delta = event.position() - self._pan_from
        self._pan_from = event.position()
        h, v = self.horizontalScrollBar(), self.verticalScrollBar()
        h.setValue(h.value() - round(delta.x()))
        v.setValue(v.value() - round(delta.y()))
        event.accept()
        return True

    def _pan_release(self, event: QMouseEvent) -> bool:
        if self._pan_from is None:
            return False
        self._pan_from = None
        self.viewport().setCursor(Qt.CursorShape.OpenHandCursor if self._space_held else Qt.CursorShape.ArrowCursor)
        event.accept()
        return True

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if not self._pan_press(event):
            super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if not self._pan_move(event):
            super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if not self._pan_release(event):
            super().mouseReleaseEvent(event)

    # --- keys -------------------------------------------------------------------------
    def event(self, event: QEvent) -> bool:
        # Claim our keys before a window-level QAction with the same shortcut sees them,
        # but only while this view has focus (Qt sends ShortcutOverride to the focus widget).
        if event.type() == QEvent.Type.ShortcutOverride and self._claims_key(event):
            event.accept()
            return True
        return super().event(event)

    def _claims_key(self, event: QKeyEvent) -> bool:
        return _is_zoom_key(event) or event.key() == Qt.Key.Key_Space

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if _is_zoom_key(event):
            {Qt.Key.Key_Equal: self.zoom_in, Qt.Key.Key_Plus: self.zoom_in,
             Qt.Key.Key_Minus: self.zoom_out, Qt.Key.Key_0: self.fit_to_window}[Qt.Key(event.key())]()
            event.accept()
        elif event.key() == Qt.Key.Key_Space:
            if not event.isAutoRepeat():
                self._space_held = True
                self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            event.accept()
        else:
            super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_held = False
            if self._pan_from is None:
                self.viewport().setCursor(Qt.CursorShape.ArrowCursor)
            event.accept()
        else:
            super().keyReleaseEvent(event)

    def focusOutEvent(self, event) -> None:
        # Space released in another window never reaches us: do not stay in pan mode.
        self._space_held = False
        super().focusOutEvent(event)
