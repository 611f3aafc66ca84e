"""Canvas editing through simulated mouse and keys on the real widget (offscreen)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest

from annotator.core.annotations import ImageAnnotations
from annotator.core.labels import LabelSet
from annotator.core.shapes import Shape
from annotator.gui.canvas import Canvas
from annotator.gui.canvas_items import ShapeItem
from annotator.gui.document import AnnotationDocument

W, H = 200, 150
EXTERIOR = [[20, 20], [120, 20], [120, 120], [20, 120]]
HOLE = [[60, 60], [80, 60], [80, 80], [60, 80]]
NO = Qt.KeyboardModifier.NoModifier
LEFT = Qt.MouseButton.LeftButton


class Asked:
    """A label_provider stub that records its calls and answers `answer`."""

    def __init__(self, answer):
        self.answer = answer
        self.calls = []

    def __call__(self, current):
        self.calls.append(current)
        return self.answer


@pytest.fixture
def labels():
    ls = LabelSet()
    ls.add("cat")
    ls.add("dog")
    return ls


@pytest.fixture
def setup(qtbot, labels):
    shape = Shape(label="cat", exterior=EXTERIOR, holes=[HOLE])
    doc = AnnotationDocument(ImageAnnotations("a.png", W, H, [shape]))
    canvas = Canvas(labels)
    canvas.label_provider = Asked("dog")
    qtbot.addWidget(canvas)
    canvas.resize(500, 400)
    canvas.show()
    qtbot.waitExposed(canvas)
    canvas.set_document(doc, np.zeros((H, W, 3), np.uint8))
    canvas.setFocus()
    return canvas, doc, shape.id


def at(canvas, x, y):
    return canvas.mapFromScene(QPointF(x, y))


def click(canvas, x, y, mods=NO):
    QTest.mouseClick(canvas.viewport(), LEFT, mods, at(canvas, x, y))


def drag(canvas, start, end, mods=NO):
    vp = canvas.viewport()
    QTest.mousePress(vp, LEFT, mods, at(canvas, *start))
    # several moves: one gesture must still be one undo command
    for t in (0.25, 0.5, 0.75, 1.0):
        QTest.mouseMove(vp, at(canvas, start[0] + t * (end[0] - start[0]), start[1] + t * (end[1] - start[1])))
    QTest.mouseRelease(vp, LEFT, mods, at(canvas, *end))


def key(canvas, k, mods=NO):
    QTest.keyClick(canvas, k, mods)


def only(doc):
    (shape,) = doc.shapes()
    return shape


# --- drawing -------------------------------------------------------------------------
def test_draw_polygon_by_clicks_and_enter(setup):
    canvas, doc, _ = setup
    canvas.label_provider = Asked("Dog")  # case-insensitive match: the known class
    canvas.begin_polygon()
    assert canvas.is_drawing()
    for x, y in [(140, 20), (190, 20), (190, 100), (140, 100)]:
        click(canvas, x, y)
    key(canvas, Qt.Key.Key_Return)
    assert not canvas.is_drawing()
    new = doc.shapes()[-1]
    assert len(doc.shapes()) == 2
    assert (new.label, new.source, new.accepted) == ("dog", "human", True)
    assert np.allclose(new.exterior, [[140, 20], [190, 20], [190, 100], [140, 100]], atol=1.0)
    assert canvas.selected_ids() == [new.id]
    assert canvas.label_provider.calls == [None]
    doc.undo_stack.undo()
    assert len(doc.shapes()) == 1


def test_click_on_first_vertex_closes(setup):
    canvas, doc, _ = setup
    canvas.begin_polygon()
    for x, y in [(140, 20), (190, 20), (190, 100), (140.5, 20.5)]:
        click(canvas, x, y)
    assert not canvas.is_drawing()
    assert len(doc.shapes()[-1].exterior) == 3


def test_escape_cancels_drawing(setup):
    canvas, doc, _ = setup
    canvas.begin_polygon()
    click(canvas, 140, 20)
    click(canvas, 190, 20)
    key(canvas, Qt.Key.Key_Escape)
    assert not canvas.is_drawing()
    assert len(doc.shapes()) == 1 and doc.undo_stack.count() == 0


def test_cancelled_label_keeps_the_draft(setup):
    canvas, doc, _ = setup
    canvas.label_provider = Asked(None)
    canvas.begin_polygon()
    for x, y in [(140, 20), (190, 20), (190, 100)]:
        click(canvas, x, y)
    key(canvas, Qt.Key.Key_Return)
    assert canvas.is_drawing() and len(doc.shapes()) == 1
    canvas.label_provider = Asked("cat")
    key(canvas, Qt.Key.Key_Enter)
    assert len(doc.shapes()) == 2


def test_new_label_is_added_to_the_label_set(setup, labels, qtbot):
    canvas, doc, _ = setup
    canvas.label_provider = Asked("tree")
    canvas.begin_polygon()
    for x, y in [(140, 20), (190, 20), (190, 100)]:
        click(canvas, x, y)
    with qtbot.waitSignal(canvas.labelAdded) as added:
        key(canvas, Qt.Key.Key_Return)
    assert added.args == ["tree"]
    assert "tree" in labels.names
    with qtbot.assertNotEmitted(canvas.labelAdded):
        canvas.label_provider = Asked("Tree")
        canvas.edit_label_of_selected()
    assert doc.shapes()[-1].label == "tree"


# --- vertices ------------------------------------------------------------------------
def test_drag_vertex_is_one_undo_command(setup):
    canvas, doc, sid = setup
    click(canvas, 40, 40)  # select: vertices appear
    assert canvas.selected_ids() == [sid]
    drag(canvas, (120, 20), (150, 10))
    edited = only(doc)
    assert np.allclose(edited.exterior[1], [150, 10], atol=1.0)
    assert np.array_equal(edited.holes[0], HOLE)  # the hole survives an exterior edit
    assert doc.undo_stack.count() == 1
    doc.undo_stack.undo()
    assert np.array_equal(only(doc).exterior, EXTERIOR)


def test_drag_hole_vertex(setup):
    canvas, doc, _ = setup
    click(canvas, 40, 40)
    drag(canvas, (80, 80), (90, 95))
    assert np.allclose(only(doc).holes[0][2], [90, 95], atol=1.0)
    assert np.array_equal(only(doc).exterior, EXTERIOR)


def test_vertex_stays_on_the_image(setup):
    canvas, doc, _ = setup
    click(canvas, 40, 40)
    drag(canvas, (20, 20), (-50, -50))
    assert only(doc).exterior[0].tolist() == [0, 0]


def test_alt_click_on_edge_inserts_vertex(setup):
    canvas, doc, _ = setup
    click(canvas, 40, 40)
    click(canvas, 70, 20, Qt.KeyboardModifier.AltModifier)
    ext = only(doc).exterior
    assert len(ext) == 5
    assert np.allclose(ext[1], [70, 20], atol=1.0)
    assert len(only(doc).holes[0]) == 4
    assert doc.undo_stack.count() == 1


def test_alt_drag_on_edge_inserts_and_moves_in_one_command(setup):
    canvas, doc, _ = setup
    click(canvas, 40, 40)
    drag(canvas, (70, 20), (70, 5), Qt.KeyboardModifier.AltModifier)
    ext = only(doc).exterior
    assert len(ext) == 5 and np.allclose(ext[1], [70, 5], atol=1.0)
    assert doc.undo_stack.count() == 1


def test_shift_click_deletes_vertex_but_not_below_three(setup):
    canvas, doc, _ = setup
    click(canvas, 40, 40)
    click(canvas, 120, 20, Qt.KeyboardModifier.ShiftModifier)
    assert len(only(doc).exterior) == 3
    click(canvas, 20, 20, Qt.KeyboardModifier.ShiftModifier)
    assert len(only(doc).exterior) == 3
    assert doc.undo_stack.count() == 1
    # hole vertices too, with the same floor
    click(canvas, 60, 60, Qt.KeyboardModifier.ShiftModifier)
    assert len(only(doc).holes[0]) == 3


def test_backspace_deletes_the_clicked_vertex(setup):
    canvas, doc, _ = setup
    click(canvas, 40, 40)
    click(canvas, 120, 120)  # click a vertex without moving: it becomes the current vertex
    assert doc.undo_stack.count() == 0
    key(canvas, Qt.Key.Key_Backspace)
    assert [120, 120] not in only(doc).exterior.tolist()
    assert len(only(doc).exterior) == 3


# --- shapes --------------------------------------------------------------------------
def test_move_shape_moves_holes_and_undoes(setup):
    canvas, doc, _ = setup
    drag(canvas, (40, 40), (50, 35))  # press on the interior of an unselected shape
    moved = only(doc)
    assert np.allclose(moved.exterior - np.array(EXTERIOR), [10, -5], atol=1.0)
    assert np.allclose(moved.holes[0] - np.array(HOLE), moved.exterior[0] - np.array(EXTERIOR[0]))
    assert doc.undo_stack.count() == 1
    doc.undo_stack.undo()
    assert np.array_equal(only(doc).exterior, EXTERIOR)
    doc.undo_stack.redo()
    assert np.array_equal(only(doc).exterior, moved.exterior)


def test_click_in_the_hole_selects_nothing(setup):
    canvas, doc, sid = setup
    click(canvas, 40, 40)
    click(canvas, 70, 70)
    assert canvas.selected_ids() == []


def test_delete_key_removes_selected_shape(setup, qtbot):
    canvas, doc, sid = setup
    with qtbot.waitSignal(canvas.selectionChanged):
        click(canvas, 40, 40)
    key(canvas, Qt.Key.Key_Delete)
    assert doc.shapes() == [] and canvas.selected_ids() == []
    doc.undo_stack.undo()
    assert [s.id for s in doc.shapes()] == [sid]


def test_double_click_and_e_change_the_label(setup):
    canvas, doc, sid = setup
    QTest.mouseDClick(canvas.viewport(), LEFT, NO, at(canvas, 40, 40))
    assert only(doc).label == "dog"
    canvas.label_provider = Asked("cat")
    key(canvas, Qt.Key.Key_E)
    assert only(doc).label == "cat"
    assert canvas.label_provider.calls == ["dog"]  # the dialog starts from the current label


def test_human_edit_accepts_a_proposal_and_dash_goes(qtbot, labels):
    prop = Shape(label="cat", exterior=EXTERIOR, source="model", score=0.5, accepted=False)
    doc = AnnotationDocument(ImageAnnotations("a.png", W, H, [prop]))
    canvas = Canvas(labels)
    qtbot.addWidget(canvas)
    canvas.resize(500, 400)
    canvas.show()
    canvas.set_document(doc, np.zeros((H, W, 3), np.uint8))
    item = next(i for i in canvas.scene().items() if isinstance(i, ShapeItem))
    assert item.pen().style() == Qt.PenStyle.DashLine
    drag(canvas, (40, 40), (45, 45))
    assert only(doc).accepted
    item = next(i for i in canvas.scene().items() if isinstance(i, ShapeItem))
    assert item.pen().style() == Qt.PenStyle.SolidLine
    doc.undo_stack.undo()
    assert not only(doc).accepted


def test_undo_redraws_only_the_changed_item(setup, labels):
    canvas, doc, sid = setup
    other = Shape(label="dog", exterior=[[130, 20], [190, 20], [190, 90]])
    doc.add_shape(other)
    items = {i.shape_id: i for i in canvas.scene().items() if isinstance(i, ShapeItem)}
    doc.set_geometry(sid, np.array(EXTERIOR) + 1, [np.array(HOLE)])
    after = {i.shape_id: i for i in canvas.scene().items() if isinstance(i, ShapeItem)}
    assert after[other.id] is items[other.id]
    assert after[sid] is not items[sid]


def test_fill_rule_is_odd_even(setup):
    canvas, _, _ = setup
    item = next(i for i in canvas.scene().items() if isinstance(i, ShapeItem))
    assert item.path().fillRule() == Qt.FillRule.OddEvenFill
    assert not item.path().contains(QPointF(70, 70))
    assert item.path().contains(QPointF(40, 40))


# --- view ----------------------------------------------------------------------------
def test_zoom_in_out_and_fit(setup, qtbot):
    canvas, _, _ = setup
    fitted = canvas.zoom()
    with qtbot.waitSignal(canvas.zoomChanged):
        key(canvas, Qt.Key.Key_Equal, Qt.KeyboardModifier.ControlModifier)
    assert canvas.zoom() == pytest.approx(fitted * 1.25)
    key(canvas, Qt.Key.Key_Minus, Qt.KeyboardModifier.ControlModifier)
    key(canvas, Qt.Key.Key_Minus, Qt.KeyboardModifier.ControlModifier)
    assert canvas.zoom() == pytest.approx(fitted / 1.25)
    key(canvas, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert canvas.zoom() == pytest.approx(fitted)
    canvas.zoom_in()
    assert canvas.zoom() > fitted
    canvas.fit_to_window()
    # fitted: the whole image is visible in the viewport
    visible = canvas.mapToScene(canvas.viewport().rect()).boundingRect()
    assert visible.contains(canvas.sceneRect())


def test_wheel_zooms(setup):
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QWheelEvent

    canvas, _, _ = setup
    before = canvas.zoom()
    pos = QPointF(at(canvas, 40, 40))
    event = QWheelEvent(pos, canvas.viewport().mapToGlobal(pos), QPoint(), QPoint(0, 120), Qt.MouseButton.NoButton,
                        NO, Qt.ScrollPhase.NoScrollPhase, False)
    canvas.wheelEvent(event)
    assert canvas.zoom() == pytest.approx(before * 1.25)


def test_middle_drag_pans_without_editing(setup):
    canvas, doc, _ = setup
    canvas.zoom_in()
    canvas.zoom_in()
    canvas.zoom_in()
    vp = canvas.viewport()
    h0 = canvas.horizontalScrollBar().value()
    start = at(canvas, 40, 40)
    QTest.mousePress(vp, Qt.MouseButton.MiddleButton, NO, start)
    QTest.mouseMove(vp, start + QPointF(-60, 0).toPoint())
    QTest.mouseRelease(vp, Qt.MouseButton.MiddleButton, NO, start + QPointF(-60, 0).toPoint())
    assert canvas.horizontalScrollBar().value() == h0 + 60
    assert doc.undo_stack.count() == 0


def test_overlay_sits_between_image_and_shapes(setup):
    canvas, _, _ = setup
    rgba = np.zeros((21, 21, 4), np.uint8)
    canvas.set_overlay(rgba)
    overlay = canvas._overlay_item
    shape_item = next(i for i in canvas.scene().items() if isinstance(i, ShapeItem))
    assert canvas._image_item.zValue() < overlay.zValue() < shape_item.zValue()
    assert overlay.sceneBoundingRect().width() == pytest.approx(W)  # stretched over the image
    canvas.set_overlay(None)
    assert overlay.pixmap().isNull()


def test_show_error_clears_the_document(setup):
    canvas, _, _ = setup
    canvas.show_error("cannot read a.png: truncated file")
    texts = [i.toPlainText() for i in canvas.scene().items() if hasattr(i, "toPlainText")]
    assert texts == ["cannot read a.png: truncated file"]
    assert not any(isinstance(i, ShapeItem) for i in canvas.scene().items())
    assert canvas.document() is None


def test_backspace_while_drawing_removes_the_last_vertex(setup):
    canvas, doc, _ = setup
    canvas.begin_polygon()
    for x, y in [(140, 20), (190, 20), (170, 60), (190, 100)]:
        click(canvas, x, y)
    key(canvas, Qt.Key.Key_Backspace)
    canvas.viewport().repaint()  # painting the handles of the shortened draft must work
    key(canvas, Qt.Key.Key_Return)
    assert np.allclose(doc.shapes()[-1].exterior, [[140, 20], [190, 20], [170, 60]], atol=1.0)


def test_draft_emptied_by_backspace_still_paints(setup):
    canvas, _, _ = setup
    canvas.begin_polygon()
    click(canvas, 140, 20)
    key(canvas, Qt.Key.Key_Backspace)
    canvas.viewport().repaint()
    assert canvas.is_drawing()


def test_space_drag_pans_without_editing(setup):
    canvas, doc, _ = setup
    for _ in range(3):
        canvas.zoom_in()
    vp = canvas.viewport()
    v0 = canvas.verticalScrollBar().value()
    QTest.keyPress(canvas, Qt.Key.Key_Space)
    start = at(canvas, 40, 40)  # inside the shape: without Space this would move it
    QTest.mousePress(vp, LEFT, NO, start)
    QTest.mouseMove(vp, start + QPointF(0, -50).toPoint())
    QTest.mouseRelease(vp, LEFT, NO, start + QPointF(0, -50).toPoint())
    QTest.keyRelease(canvas, Qt.Key.Key_Space)
    assert canvas.verticalScrollBar().value() == v0 + 50
    assert doc.undo_stack.count() == 0


def test_canvas_claims_its_keys_before_window_shortcuts(setup):
    """Qt offers a key to the focus widget as ShortcutOverride before matching a window
    QAction; accepting it keeps Delete/zoom/drawing keys on the focused canvas."""
    from PySide6.QtCore import QEvent
    from PySide6.QtGui import QKeyEvent
    from PySide6.QtWidgets import QApplication

    canvas, _, _ = setup

    def claimed(key, mods=NO):
        event = QKeyEvent(QEvent.Type.ShortcutOverride, key, mods)
        QApplication.sendEvent(canvas, event)
        return event.isAccepted()

    assert claimed(Qt.Key.Key_Delete) and claimed(Qt.Key.Key_Backspace)
    assert claimed(Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert not claimed(Qt.Key.Key_Return)  # Enter is the canvas's only while drawing
    assert not claimed(Qt.Key.Key_N) and not claimed(Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    canvas.begin_polygon()
    assert claimed(Qt.Key.Key_Return) and claimed(Qt.Key.Key_Escape)


# --- multi-part shapes (one instance, several polygons) -----------------------------------
@pytest.fixture
def two_parts(qtbot, labels):
    from annotator.core.shapes import Part
    shape = Shape(label="cat", parts=[Part(EXTERIOR, [HOLE]), Part([[140, 20], [180, 20], [180, 60], [140, 60]])])
    doc = AnnotationDocument(ImageAnnotations("a.png", W, H, [shape]))
    canvas = Canvas(labels)
    qtbot.addWidget(canvas)
    canvas.resize(500, 400)
    canvas.show()
    qtbot.waitExposed(canvas)
    canvas.set_document(doc, np.zeros((H, W, 3), np.uint8))
    canvas.setFocus()
    return canvas, doc, shape.id


def test_clicking_either_part_selects_the_one_shape(two_parts):
    canvas, doc, sid = two_parts
    click(canvas, 160, 40)  # the second part
    assert canvas.selected_ids() == [sid]
    click(canvas, 190, 140)  # empty
    assert canvas.selected_ids() == []
    click(canvas, 30, 30)  # the first part
    assert canvas.selected_ids() == [sid]


def test_dragging_one_part_moves_the_whole_shape_in_one_command(two_parts):
    canvas, doc, sid = two_parts
    before = only(doc)
    drag(canvas, (160, 40), (150, 50))
    moved = only(doc)
    assert len(moved.parts) == 2 and doc.undo_stack.count() == 1
    for old, new in zip(before.rings(), moved.rings()):
        assert np.allclose(new - old, [-10, 10], atol=1.0)
    doc.undo_stack.undo()
    assert only(doc) is before


def test_vertex_of_the_second_part_is_edited_alone(two_parts):
    canvas, doc, sid = two_parts
    click(canvas, 160, 40)
    drag(canvas, (180, 60), (190, 70))
    edited = only(doc)
    assert np.allclose(edited.parts[1].exterior[2], [190, 70], atol=1.0)
    assert np.array_equal(edited.parts[0].exterior, EXTERIOR) and np.array_equal(edited.parts[0].holes[0], HOLE)
    assert np.array_equal(edited.parts[1].exterior[:2], [[140, 20], [180, 20]])


def test_overlapping_parts_of_one_shape_are_both_filled(qtbot):
    from annotator.core.shapes import Part
    from annotator.gui.canvas_items import shape_path
    shape = Shape("cat", parts=[Part(EXTERIOR, [HOLE]), Part([[100, 100], [150, 100], [150, 140], [100, 140]])])
    path = shape_path(shape)
    assert path.contains(QPointF(110, 110))  # in both parts: filled, not an even-odd hole
    assert path.contains(QPointF(140, 130)) and not path.contains(QPointF(70, 70))  # the hole stays a hole


def test_crowd_shapes_are_hatched(setup):
    canvas, doc, sid = setup
    assert canvas._layer.item(sid).brush().style() == Qt.BrushStyle.SolidPattern
    doc.set_iscrowd([sid], True)
    assert canvas._layer.item(sid).brush().style() == Qt.BrushStyle.BDiagPattern


class CountingTool:
    """A canvas tool (the CanvasTool protocol, duck-typed) that records its calls and
    consumes what `uses` names; everything else goes on to the canvas."""

    def __init__(self, uses=("press", "move", "release", "double_click", "key", "claims_key")):
        self.uses = set(uses)
        self.calls: list[tuple] = []

    def _record(self, name, *args):
        self.calls.append((name, *args))
        return name in self.uses

    def press(self, event, point):
        return self._record("press", event.button(), tuple(round(v) for v in point))

    def move(self, event, point):
        return self._record("move")

    def release(self, event, point):
        return self._record("release", event.button())

    def double_click(self, event, point):
        return self._record("double_click")

    def claims_key(self, event):
        return event.key() == Qt.Key.Key_Escape and self._record("claims_key")

    def key(self, event):
        return self._record("key", event.key())

    def hint(self):
        return "counting tool"

    def cursor(self):
        return Qt.CursorShape.PointingHandCursor

    def cancel(self):
        self._record("cancel")

    def names(self):
        return [c[0] for c in self.calls]


def test_the_canvas_delegates_to_the_active_tool_and_cancels_it(setup, qtbot):
    canvas, doc, sid = setup
    tool = CountingTool()
    with qtbot.waitSignal(canvas.statusMessage) as hint:
        canvas.set_tool(tool)
    assert canvas.tool() is tool and hint.args == ["counting tool"]
    assert canvas.viewport().cursor().shape() == Qt.CursorShape.PointingHandCursor
    stack = doc.undo_stack.count()
    drag(canvas, (50, 40), (90, 40))  # would move the shape without the tool
    QTest.mouseDClick(canvas.viewport(), LEFT, NO, at(canvas, 50, 40))  # would edit its label
    key(canvas, Qt.Key.Key_Escape)
    assert tool.calls[0] == ("press", LEFT, (50, 40))
    assert tool.names().count("move") >= 4 and ("release", LEFT) in tool.calls
    assert "double_click" in tool.names() and ("key", Qt.Key.Key_Escape) in tool.calls
    assert doc.undo_stack.count() == stack and canvas.label_provider.calls == [], "the tool used them all"
    assert canvas.selected_ids() == []

    canvas.set_tool(None)
    assert tool.names()[-1] == "cancel" and canvas.tool() is None
    assert canvas.viewport().cursor().shape() == Qt.CursorShape.ArrowCursor
    count = len(tool.calls)
    click(canvas, 50, 40)
    assert len(tool.calls) == count and canvas.selected_ids() == [sid], "no tool: the canvas edits again"


def test_events_a_tool_does_not_use_go_on_to_the_canvas(setup):
    canvas, doc, sid = setup
    tool = CountingTool(uses=("move",))
    canvas.set_tool(tool)
    click(canvas, 50, 40)
    assert "press" in tool.names() and canvas.selected_ids() == [sid]
    key(canvas, Qt.Key.Key_Delete)
    assert ("key", Qt.Key.Key_Delete) in tool.calls and doc.shapes() == []
    other = CountingTool()
    canvas.set_tool(other)
    assert tool.names()[-1] == "cancel" and canvas.tool() is other, "one tool at a time"


def test_drawing_a_polygon_ends_the_ai_polygon_and_gets_the_clicks(setup, qtbot):
    from annotator.gui.canvas_tools.ai_polygon import AiPolygonTool

    canvas, doc, _ = setup
    ai = AiPolygonTool(canvas)  # no decoder: clicks only collect prompts
    assert ai.activate() and ai.active
    click(canvas, 150, 30)
    assert ai.points == [pytest.approx((150, 30), abs=1)]
    with qtbot.waitSignal(ai.finished):
        canvas.begin_polygon()
    assert not ai.active and ai.points == []
    for x, y in ((130, 10), (190, 10), (190, 60)):
        click(canvas, x, y)
    key(canvas, Qt.Key.Key_Return)
    assert len(doc.shapes()) == 2 and doc.shapes()[-1].label == "dog"
