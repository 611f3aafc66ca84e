"""Brush and eraser: the stroke arithmetic, then strokes on the real window."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from window_fixtures import images_dir, key, make_window, open_folder, private_settings  # noqa: F401

from annotator.core.shapes import Shape
from annotator.gui.canvas_tools.brush import BrushTool, paint_stroke, stroke_shape

pytestmark = pytest.mark.gui

SQUARE = [[20, 20], [120, 20], [120, 120], [20, 120]]


def test_paint_stroke_covers_the_pixels_under_the_dabs():
    mask = np.zeros((50, 50), bool)
    out = paint_stroke(mask, [(10.5, 10.5), (40.5, 10.5)], 3, erase=False)
    assert not mask.any(), "the input is not changed"
    assert out[10, 10] and out[10, 25] and out[10, 40] and out[13, 25] and not out[15, 25]
    assert not paint_stroke(out, [(25.5, 10.5)], 30, erase=True).any()


def test_erasing_a_hole_and_cutting_in_two_keep_holes_and_parts():
    shape = Shape(label="cat", exterior=SQUARE, source="model", accepted=False, score=0.4)
    holed = stroke_shape(shape, (200, 150), [(70, 70)], 10, erase=True)
    assert holed.id == shape.id and holed.label == "cat" and holed.has_holes and len(holed.parts) == 1
    assert holed.area == pytest.approx(shape.area - np.pi * 10 ** 2, rel=0.1)
    cut = stroke_shape(shape, (200, 150), [(70, 0), (70, 150)], 5, erase=True)
    assert len(cut.parts) == 2
    grown = stroke_shape(shape, (200, 150), [(120, 70), (160, 70)], 6, erase=False)
    assert grown.area > shape.area and len(grown.parts) == 1
    assert stroke_shape(shape, (200, 150), [(70, 70)], 100, erase=True) is None, "erased away"
    assert stroke_shape(shape, (200, 150), [(180, 140)], 3, erase=True) is shape, "no pixel changed"


def drag(qtbot, canvas, points):
    viewport = canvas.viewport()
    at = [canvas.mapFromScene(QPointF(*p)) for p in points]
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=at[0])
    for p in at[1:]:
        qtbot.mouseMove(viewport, pos=p)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=at[-1])


def test_brush_and_eraser_strokes_are_one_undoable_command_each(qtbot, make_window, images_dir):
    window = make_window()
    open_folder(qtbot, window, images_dir)
    qtbot.waitUntil(lambda: window.canvas.viewport().width() > 300, timeout=3000)
    window.canvas.fit_to_window()
    doc = window.document()
    shape = Shape(label="cup", exterior=[[100, 100], [300, 100], [300, 300], [100, 300]])
    doc.add_shape(shape)
    window.canvas.select([shape.id])
    key(qtbot, window, "B")
    tool = window.canvas.tool()
    assert isinstance(tool, BrushTool) and not tool.erase
    radius = tool.radius
    key(qtbot, window, "]")
    assert tool.radius > radius and "radius" in window.statusBar().currentMessage()
    stack = doc.undo_stack.count()
    drag(qtbot, window.canvas, [(290, 200), (330, 200), (360, 200)])
    assert tool._cursor.isVisible() and tool._cursor.rect().width() == pytest.approx(2 * tool.radius)
    assert doc.undo_stack.count() == stack + 1, "one stroke, one command"
    grown = doc.shape(shape.id)
    assert grown.area > shape.area and grown.bbox[0] + grown.bbox[2] > 350

    key(qtbot, window, "Shift+B")
    assert window.canvas.tool().erase
    drag(qtbot, window.canvas, [(200, 200), (201, 201)])
    assert doc.shape(shape.id).has_holes, "erasing inside makes a hole"
    assert doc.undo_stack.count() == stack + 2
    key(qtbot, window, "Ctrl+Z")
    assert not doc.shape(shape.id).has_holes
    key(qtbot, window, "Ctrl+Z")
    assert doc.shape(shape.id).parts == shape.parts
    key(qtbot, window, "Escape")
    assert window.canvas.tool() is None
