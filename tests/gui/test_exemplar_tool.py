"""The exemplar tool ("find all like this") end to end: real window, engine thread and lane, with a
stand-in SAM 3 whose answers are known (the engine's equality with HF is tests/engine/test_sam3_exemplars.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QApplication
from window_fixtures import images_dir, key, private_settings  # noqa: F401

from annotator.core.project import Project
from annotator.core.shapes import Shape
from engine.base import Instance
from engine.sam3.exemplars import ExemplarResult, check_boxes

FIRST = "astronaut.png"  # 512 x 512
OBJECTS = [(40, 40, 120, 120), (200, 40, 280, 120), (360, 40, 440, 120), (40, 300, 120, 380)]
SCORES = [0.9, 0.8, 0.7, 0.6]

pytestmark = pytest.mark.gui


class FakeSam3:
    """Every object is "like" a positive box; an object that a negative box touches is not.
    Records each call (the lane runs it on the engine thread)."""

    def __init__(self):
        self.calls = []

    def find_like(self, image, boxes, labels, text=None, threshold=None):
        h, w = image.shape[:2]
        boxes, labels, ignored = check_boxes(boxes, labels, (h, w))
        self.calls.append((list(boxes), list(labels), text, threshold))
        negatives = [b for b, v in zip(boxes, labels) if v == 0]
        found = []
        if 1 in labels:
            for (x0, y0, x1, y1), score in zip(OBJECTS, SCORES):
                touched = any(x0 < n[2] and n[0] < x1 and y0 < n[3] and n[1] < y1 for n in negatives)
                if touched or score <= (threshold or 0):
                    continue
                mask = np.zeros((h, w), bool)
                mask[y0:y1, x0:x1] = True
                found.append(Instance(0, score, (x0, y0, x1, y1), mask))
        return ExemplarResult(found, (h, w), boxes, labels, ignored, {"vision": 0.0})


@pytest.fixture
def sam3_folder(tmp_path):
    """A folder that says it holds SAM 3 weights (the stand-in is loaded for it)."""
    folder = tmp_path / "sam3"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "sam3"}), encoding="utf-8")
    return folder


@pytest.fixture
def exemplar_window(qtbot, private_settings, tiny_model_dir, tiny_sam2_dir, images_dir, sam3_folder, monkeypatch):
    """open(interactive_model) -> (window, fake SAM 3): PnP-OVSS main model, the tool on, class 'person'."""
    from annotator.gui import exemplar_jobs
    from annotator.gui.main_window import MainWindow
    from annotator.gui.settings import AppSettings

    fake = FakeSam3()
    loads = []
    monkeypatch.setattr(exemplar_jobs, "load_sam3", lambda model, device: loads.append(model) or fake)
    windows = []

    def open_window(interactive_model=sam3_folder):
        from annotator.core.project import ProjectSettings

        defaults = ProjectSettings(model=str(tiny_model_dir), device="cpu", interactive_model=str(interactive_model))
        window = MainWindow(AppSettings(), project_defaults=defaults)
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        window.activateWindow()
        qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=3000)
        windows.append(window)
        window.open_path(images_dir / FIRST)
        qtbot.waitUntil(lambda: window.pixels is not None, timeout=30000)
        window.project.settings.interactive_model = str(interactive_model)
        window.canvas.label_provider = lambda current: "person"
        window.heatmap.set_values(0.0, 1.5)
        key(qtbot, window, "L")
        assert window.exemplars.tool.active and window.exemplars.action.isChecked()
        return window, fake, loads

    yield open_window
    for window in windows:
        window.close()


def drag(qtbot, canvas, start, end, button=Qt.MouseButton.LeftButton, modifier=Qt.KeyboardModifier.NoModifier):
    viewport = canvas.viewport()
    a, b = canvas.mapFromScene(QPointF(*start)), canvas.mapFromScene(QPointF(*end))
    qtbot.mousePress(viewport, button, modifier, pos=a)
    for t in (0.3, 0.6, 1.0):
        qtbot.mouseMove(viewport, pos=a + (b - a) * t)
    qtbot.mouseRelease(viewport, button, modifier, pos=b)


def answered(qtbot, window, fake, calls):
    """Until the engine ran *calls* times and the newest answer is shown."""
    qtbot.waitUntil(lambda: len(fake.calls) >= calls, timeout=30000)
    qtbot.waitUntil(lambda: window.exemplars.tool._waiting not in window.exemplars._jobs, timeout=30000)


def test_box_proposals_negative_enter_saved_undo_redo(qtbot, exemplar_window, images_dir):
    window, fake, loads = exemplar_window()
    canvas, tool, doc = window.canvas, window.exemplars.tool, window.document()
    before = len(doc.shapes())

    drag(qtbot, canvas, (38, 38), (122, 122))  # a positive box around the first object
    answered(qtbot, window, fake, 1)
    assert tool.boxes == [pytest.approx((38, 38, 122, 122), abs=1.5)] and tool.labels == [1]
    boxes, labels, text, threshold = fake.calls[-1]
    assert labels == [1] and text == "person" and threshold == 0.0
    assert [s.score for s in tool.proposals] == SCORES
    assert all(s.label == "person" and s.source == "model" and not s.accepted for s in tool.proposals)
    assert tool.score_texts() == ["0.90", "0.80", "0.70", "0.60"], "each proposal is drawn with its score"
    assert len(doc.shapes()) == before, "proposals stay out of the document until Enter"
    assert "4 proposal(s)" in window.statusBar().currentMessage()

    drag(qtbot, canvas, (190, 30), (290, 130), Qt.MouseButton.RightButton)  # not like this one
    answered(qtbot, window, fake, 2)
    assert fake.calls[-1][1] == [1, 0] and len(fake.calls[-1][0]) == 2
    assert [s.score for s in tool.proposals] == [0.9, 0.7, 0.6]
    drag(qtbot, canvas, (30, 290), (130, 390), modifier=Qt.KeyboardModifier.ShiftModifier)  # Shift: negative
    answered(qtbot, window, fake, 3)
    assert tool.labels == [1, 0, 0] and [s.score for s in tool.proposals] == [0.9, 0.7]
    key(qtbot, window, "Backspace")  # the last box goes; the others are asked again
    answered(qtbot, window, fake, 4)
    assert tool.labels == [1, 0] and [s.score for s in tool.proposals] == [0.9, 0.7, 0.6]
    assert loads == [str(window.project.settings.interactive_model)], "SAM 3 loaded once, from the interactive model"

    key(qtbot, window, "Return")
    shapes = doc.shapes()
    assert len(shapes) == before + 3 and doc.undo_stack.count() == 1, "one undo step for the set"
    added = shapes[before:]
    assert [s.score for s in added] == [0.9, 0.7, 0.6] and all(not s.accepted for s in added)
    assert tool.boxes == [] and tool.proposals == []
    key(qtbot, window, "Ctrl+Z")
    assert len(doc.shapes()) == before
    key(qtbot, window, "Ctrl+Shift+Z")
    assert [s.id for s in doc.shapes()[before:]] == [s.id for s in added]

    window.store.flush()
    saved = Project.open(images_dir).load(FIRST)
    for shape in added:
        kept = saved.shape(shape.id)
        assert kept is not None and kept.label == "person" and kept.score == pytest.approx(shape.score)


def test_annotated_objects_threshold_and_escape(qtbot, exemplar_window):
    window, fake, _ = exemplar_window()
    canvas, tool, doc = window.canvas, window.exemplars.tool, window.document()
    x0, y0, x1, y1 = OBJECTS[1]
    doc.add_shape(Shape("person", [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]))  # a human-made shape
    drag(qtbot, canvas, (38, 38), (122, 122))
    answered(qtbot, window, fake, 1)
    assert [s.score for s in tool.proposals] == [0.9, 0.7, 0.6], "the annotated object is not proposed again"
    assert "1 already annotated" in window.statusBar().currentMessage()

    window.heatmap.set_values(0.65, 1.5)  # the threshold slider applies
    window.heatmap.paramsChanged.emit(0.65, 1.5)
    answered(qtbot, window, fake, 2)
    assert fake.calls[-1][3] == pytest.approx(0.65) and [s.score for s in tool.proposals] == [0.9, 0.7]

    key(qtbot, window, "Escape")
    assert tool.boxes == [] and tool.proposals == [] and tool.active
    assert "discarded" in window.statusBar().currentMessage()
    key(qtbot, window, "Escape")
    assert not tool.active and not window.exemplars.action.isChecked()


def test_degenerate_boxes_say_so(qtbot, exemplar_window):
    window, fake, _ = exemplar_window()
    canvas, tool = window.canvas, window.exemplars.tool
    qtbot.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, pos=canvas.mapFromScene(QPointF(100, 100)))
    assert tool.boxes == [] and "no width or height" in window.statusBar().currentMessage()
    canvas.zoom_out()
    canvas.zoom_out()
    drag(qtbot, canvas, (-60, 100), (-20, 200))  # in the grey margin left of the image
    assert tool.boxes == [] and "outside the image" in window.statusBar().currentMessage()
    assert fake.calls == [], "nothing was sent to the model"
    key(qtbot, window, "Return")
    assert "No proposals to keep" in window.statusBar().currentMessage()


def test_without_sam3_the_model_dialog_says_so(qtbot, exemplar_window, tiny_sam2_dir):
    from annotator.gui import dialogs

    window, fake, loads = exemplar_window(interactive_model=tiny_sam2_dir)
    drag(qtbot, window.canvas, (38, 38), (122, 122))
    qtbot.waitUntil(lambda: window.exemplars._dialog is not None, timeout=30000)
    dialog = window.exemplars._dialog
    assert isinstance(dialog, dialogs.ModelMissingDialog)
    assert loads == [] and fake.calls == []
    assert "need SAM 3" in window.statusBar().currentMessage()
    dialog._chosen(str(tiny_sam2_dir / "sam3"))  # a folder chosen in the dialog
    assert window.project.settings.interactive_model == str(tiny_sam2_dir / "sam3")
    assert "Looking for objects like" in window.statusBar().currentMessage()  # the boxes are asked again
    dialog.close()


def test_sam3_as_main_model_runs_the_real_engine(qtbot, private_settings, tiny_sam3_dir, images_dir):
    """No stand-in: the main SAM 3 (tiny, random) answers through the lane; its vision encoding is
    the one Propose uses."""
    from annotator.core.project import ProjectSettings
    from annotator.gui.main_window import MainWindow
    from annotator.gui.settings import AppSettings

    window = MainWindow(AppSettings(), project_defaults=ProjectSettings(model=str(tiny_sam3_dir), device="cpu"))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=3000)
    try:
        window.open_path(images_dir / FIRST)
        qtbot.waitUntil(lambda: window.pixels is not None, timeout=30000)
        window.canvas.label_provider = lambda current: None  # no class: boxes only, asked on Enter
        window.heatmap.set_values(0.0, 1.5)  # every query of the random model is an instance
        key(qtbot, window, "L")
        tool = window.exemplars.tool
        assert tool.active and tool.label is None
        drag(qtbot, window.canvas, (150, 60), (360, 300))
        qtbot.waitUntil(lambda: bool(tool.proposals), timeout=120000)
        assert all(0 <= s.score <= 1 and s.label == "object" for s in tool.proposals)
        window.canvas.label_provider = lambda current: "person"
        key(qtbot, window, "Return")
        kept = window.document().shapes()
        assert kept and all(s.label == "person" and s.source == "model" for s in kept)
    finally:
        window.close()
