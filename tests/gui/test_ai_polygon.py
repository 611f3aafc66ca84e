"""The AI polygon tool end to end: real window, tiny random SAM 2 loaded like users' weights."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QApplication, QLabel
from window_fixtures import images_dir, key, private_settings  # noqa: F401

from annotator.core.project import Project
from engine.interactive import Prediction

FIRST = "astronaut.png"

pytestmark = pytest.mark.gui


@pytest.fixture
def ai_window(qtbot, private_settings, tiny_model_dir, tiny_sam2_dir, images_dir):
    """open(interactive_model=None, interactive_factory=None) -> window on FIRST with the AI tool on."""
    from annotator.gui.engine_worker import load_interactive
    from annotator.gui.main_window import MainWindow
    from annotator.gui.settings import AppSettings

    windows = []

    def open_window(interactive_model=None, interactive_factory=load_interactive):
        from annotator.core.project import ProjectSettings

        defaults = ProjectSettings(model=str(tiny_model_dir), device="cpu",
                                   interactive_model=str(interactive_model or tiny_sam2_dir))
        window = MainWindow(AppSettings(), project_defaults=defaults, interactive_factory=interactive_factory)
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        window.activateWindow()
        qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=3000)
        windows.append(window)
        window.open_path(images_dir / FIRST)
        qtbot.waitUntil(lambda: window.pixels is not None, timeout=30000)  # decoded off the GUI thread
        window.project.settings.interactive_model = str(interactive_model or tiny_sam2_dir)
        window.canvas.label_provider = lambda current: "person"
        key(qtbot, window, "I")
        assert window.ai.tool.active and window.ai.action.isChecked()
        return window

    yield open_window
    for window in windows:
        window.close()


def click(qtbot, canvas, x, y, button=Qt.MouseButton.LeftButton, modifier=Qt.KeyboardModifier.NoModifier):
    qtbot.mouseClick(canvas.viewport(), button, modifier, canvas.mapFromScene(QPointF(x, y)))


def drag(qtbot, canvas, start, end):
    viewport = canvas.viewport()
    a, b = canvas.mapFromScene(QPointF(*start)), canvas.mapFromScene(QPointF(*end))
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=a)
    for t in (0.3, 0.6, 1.0):
        qtbot.mouseMove(viewport, pos=a + (b - a) * t)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=b)


def propose_slowly(qtbot, window, classes):
    """Propose and wait: generous, because a shared CI machine can be slow to run even the tiny models."""
    window.prompt.classes.setText(classes)
    key(qtbot, window, "Ctrl+Return")
    qtbot.waitUntil(lambda: not window.client.busy(), timeout=300000)


def wait_preview(qtbot, tool, timeout=180000):
    qtbot.waitUntil(lambda: tool._waiting is not None and tool.preview_score is not None, timeout=timeout)


def test_clicks_preview_enter_saves_and_undo_redo(qtbot, ai_window, images_dir):
    window = ai_window()
    canvas, tool, doc = window.canvas, window.ai.tool, window.document()
    before = len(doc.shapes())
    click(qtbot, canvas, 256, 256)
    wait_preview(qtbot, tool)
    first = [e.copy() for e, _ in tool.preview]
    assert tool.points == [pytest.approx((256.0, 256.0), abs=1.5)] and tool.labels == [1]
    assert tool.preview, "the tiny model outlines something at the centre"
    assert tool._outline.path().elementCount() > 0, "the preview is drawn"

    click(qtbot, canvas, 128, 128, Qt.MouseButton.RightButton)  # negative point
    tool.preview_score = None
    qtbot.waitUntil(lambda: tool.preview_score is not None, timeout=180000)
    assert tool.labels == [1, 0]
    assert len(first) != len(tool.preview) or any(
        a.shape != b.shape or not np.allclose(a, b) for a, b in zip(first, (e for e, _ in tool.preview)))

    key(qtbot, window, "Return")
    shapes = doc.shapes()
    assert len(shapes) == before + 1
    added = shapes[-1]
    assert added.label == "person" and added.source == "human" and added.accepted
    assert tool.points == [] and tool.preview == [], "prompts are cleared after accepting"
    assert doc.undo_stack.count() == 1, "one undoable command per accept"

    key(qtbot, window, "Ctrl+Z")
    assert len(doc.shapes()) == before
    key(qtbot, window, "Ctrl+Shift+Z")
    assert doc.shape(added.id) is not None

    window.store.flush()
    saved = Project.open(images_dir).load(FIRST)
    assert saved.shape(added.id) is not None and saved.shape(added.id).label == "person"


def test_enter_on_a_selected_shape_replaces_its_geometry(qtbot, ai_window):
    window = ai_window()
    canvas, tool, doc = window.canvas, window.ai.tool, window.document()
    click(qtbot, canvas, 256, 256)
    wait_preview(qtbot, tool)
    key(qtbot, window, "Return")
    target = doc.shapes()[-1]
    canvas.select([target.id])
    drag(qtbot, canvas, (100, 300), (400, 480))  # a box somewhere else
    assert tool.box == pytest.approx((100.0, 300.0, 400.0, 480.0), abs=1.5) and tool.points == []
    wait_preview(qtbot, tool)
    key(qtbot, window, "Return")
    replaced = doc.shape(target.id)
    assert len(doc.shapes()) == 1 and replaced.label == target.label
    assert replaced.parts != target.parts and replaced.id == target.id
    key(qtbot, window, "Ctrl+Z")
    assert doc.shape(target.id) == target


def test_outside_click_backspace_escape(qtbot, ai_window):
    window = ai_window()
    canvas, tool = window.canvas, window.ai.tool
    canvas.zoom_out()
    canvas.zoom_out()
    click(qtbot, canvas, -40, 100)  # in the grey margin left of the image
    assert tool.points == []
    click(qtbot, canvas, 256, 256)
    first = tool.points[0]
    click(qtbot, canvas, 300, 100, modifier=Qt.KeyboardModifier.ShiftModifier)
    assert tool.labels == [1, 0]
    key(qtbot, window, "Backspace")
    assert tool.points == [first] and tool.labels == [1]
    key(qtbot, window, "Escape")
    assert tool.points == [] and tool.preview == []
    assert tool.active
    key(qtbot, window, "Escape")  # nothing pending: leave the tool
    assert not tool.active and not window.ai.action.isChecked()
    assert window.document().shapes() == []


def test_switching_images_mid_click_drops_the_answer(qtbot, ai_window):
    window = ai_window()
    tool = window.ai.tool
    click(qtbot, window.canvas, 256, 256)
    with qtbot.waitSignal(window.client.embedded, timeout=180000,
                          check_params_cb=lambda job, image: image != FIRST):  # the new image, ahead of a click
        key(qtbot, window, "D")  # next image before the answer arrives
    assert window.current != FIRST and tool.points == [] and tool.active
    qtbot.wait(200)
    qtbot.waitUntil(lambda: window.client._worker.lane.pending() == 0, timeout=180000)
    qtbot.wait(300)
    assert tool.preview == []
    key(qtbot, window, "Return")
    assert window.document().shapes() == []


class EmptySegmenter:
    """A stand-in interactive model whose answer is always an empty mask."""

    def set_image(self, key, rgb):
        self.size = rgb.shape[:2]
        return True

    def predict(self, points, labels, box=None, *, image_key=None):
        return Prediction(mask=np.zeros(self.size, bool), score=0.1)


def test_empty_mask_says_no_object_and_adds_nothing(qtbot, ai_window):
    window = ai_window(interactive_factory=lambda model, device: EmptySegmenter())
    messages = []
    window.canvas.statusMessage.connect(messages.append)
    click(qtbot, window.canvas, 256, 256)
    qtbot.waitUntil(lambda: any("No object here" in m for m in messages), timeout=120000)
    key(qtbot, window, "Return")
    assert window.document().shapes() == []


def test_missing_interactive_model_shows_the_model_dialog(qtbot, ai_window, tmp_path):
    window = ai_window(interactive_model=str(tmp_path / "no-such-model"))
    click(qtbot, window.canvas, 256, 256)
    qtbot.waitUntil(lambda: window.ai._dialog is not None, timeout=120000)
    dialog = window.ai._dialog
    assert dialog.isVisible() and "no-such-model" in dialog.findChild(QLabel).text()
    assert dialog.download_button.text() == "Download facebook/sam2.1-hiera-tiny"
    dialog._chosen(str(tmp_path / "other"))
    assert window.project.settings.interactive_model == str(tmp_path / "other")
    key(qtbot, window, "Escape")
    key(qtbot, window, "Escape")
    assert not window.ai.tool.active  # the app goes on


class LeftHalfSegmenter(EmptySegmenter):
    """A stand-in whose answer is the left half of the image, whatever the prompts."""

    def predict(self, points, labels, box=None, *, image_key=None):
        mask = np.zeros(self.size, bool)
        mask[:, : self.size[1] // 2] = True
        return Prediction(mask=mask, score=0.9)


def test_sharpen_selected_proposal_is_one_undoable_command(qtbot, ai_window):
    window = ai_window(interactive_factory=lambda model, device: LeftHalfSegmenter())
    key(qtbot, window, "Escape")  # leave the AI tool; Propose as usual
    propose_slowly(qtbot, window, "sky, person")
    doc = window.document()
    w, h = doc.annotations.width, doc.annotations.height
    straddling = [s for s in doc.shapes() if s.mask(h, w)[:, w // 2:].any() and s.mask(h, w)[:, :w // 2].any()]
    assert straddling, "some proposal crosses the middle of the image"
    target = max(straddling, key=lambda s: s.area)
    others = {s.id: s for s in doc.shapes() if s.id != target.id}
    window.canvas.select([target.id])
    steps = doc.undo_stack.count()
    key(qtbot, window, "Shift+S")
    qtbot.waitUntil(lambda: doc.undo_stack.count() == steps + 1, timeout=120000)
    sharp = doc.shape(target.id)
    assert sharp.label == target.label and sharp.score == target.score and not sharp.accepted
    assert not sharp.mask(h, w)[:, w // 2 + 1:].any(), "the answer (left half) clipped the region"
    assert all(doc.shape(i) is s for i, s in others.items()), "unselected shapes are untouched"
    # simplified outlines (1.5 px) of neighbours touch; sharpening adds no overlap of its own
    overlap = lambda shapes: int((np.stack([s.mask(h, w) for s in shapes]).sum(axis=0) > 1).sum())  # noqa: E731
    assert overlap(doc.shapes()) <= overlap([target, *others.values()])
    key(qtbot, window, "Ctrl+Z")
    assert doc.shape(target.id) == target


def test_propose_with_the_sharpen_setting_refines_the_label_map(qtbot, ai_window):
    window = ai_window(interactive_factory=lambda model, device: LeftHalfSegmenter())
    key(qtbot, window, "Escape")
    window.project.settings.refine = True
    propose_slowly(qtbot, window, "sky, person")
    doc = window.document()
    w, h = doc.annotations.width, doc.annotations.height
    assert doc.shapes()
    for s in doc.shapes():  # the answer (left half) cut every region that reaches into it
        mask = s.mask(h, w)
        if mask[:, : w // 2 - 2].any():
            assert not mask[:, w // 2 + 2:].any(), s.label
