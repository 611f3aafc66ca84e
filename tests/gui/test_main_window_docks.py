"""The docks and small helpers of the main window, without a model."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from annotator.gui.file_list import FileListDock
from annotator.gui.heatmap_overlay import CLASS_COLOR, render_heatmap
from annotator.gui.heatmap_panel import HeatmapDock
from annotator.gui.prompt_bar import ClassesEdit, parse_classes

pytestmark = pytest.mark.gui


def test_parse_classes_drops_blanks_and_spaces():
    assert parse_classes(" sky, potted plant,, ,car ") == ["sky", "potted plant", "car"]
    assert parse_classes(" , ") == []


def test_class_completion_replaces_only_the_name_being_typed(qtbot):
    edit = ClassesEdit()
    qtbot.addWidget(edit)
    edit.set_names(["potted plant", "person", "sky"])
    edit.show()
    qtbot.keyClicks(edit, "sky, po")
    completer = edit._completer
    assert completer.completionPrefix() == "po"
    assert completer.currentCompletion() == "potted plant"
    completer.activated.emit("potted plant")
    assert edit.text() == "sky, potted plant"


def test_file_list_filter_status_and_stepping(qtbot):
    dock = FileListDock()
    qtbot.addWidget(dock)
    dock.set_images(["a/cat.png", "a/dog.png", "b/cat2.jpg"], {"a/dog.png": "reviewed"})
    assert dock.status("a/dog.png") == "reviewed" and dock.status("a/cat.png") == "none"
    assert dock.step("a/cat.png", +1) == "a/dog.png"
    assert dock.step("b/cat2.jpg", +1) == "b/cat2.jpg", "the last image stays put"
    dock.filter.setText("CAT")
    assert dock.visible_images() == ["a/cat.png", "b/cat2.jpg"]
    assert dock.step("a/cat.png", +1) == "b/cat2.jpg", "D skips images the filter hides"
    dock.set_status("b/cat2.jpg", "unreadable")
    assert dock.status("b/cat2.jpg") == "unreadable"
    activated = []
    dock.imageActivated.connect(activated.append)
    index = dock.view.model().index(1, 0)
    dock.view.clicked.emit(index)
    assert activated == ["b/cat2.jpg"]


def test_heatmap_overlay_follows_the_map(qtbot):
    heat = np.zeros((21, 21), np.float32)
    heat[:, 15:] = 1.0  # hot on the right
    rgba = render_heatmap(heat, (40, 60), (255, 0, 0), CLASS_COLOR, opacity=0.6)
    assert rgba.shape == (40, 60, 4) and rgba.dtype == np.uint8
    assert (rgba[..., 0] == 255).all()
    assert rgba[20, 59, 3] == 153 and rgba[20, 0, 3] == 0
    assert render_heatmap(np.ones((21, 21), np.float32), (5, 5), (0, 0, 255), CLASS_COLOR)[..., 3].max() == 0
    # a colour map: hot (red end of turbo) on the right, cold (blue end) on the left, one opacity
    turbo = render_heatmap(heat, (40, 60), (0, 0, 0), "turbo", opacity=0.5)
    assert turbo[20, 59, 0] > turbo[20, 59, 2] and turbo[20, 0, 2] > turbo[20, 0, 0]
    assert (turbo[..., 3] == 127).all()
    with pytest.raises(ValueError, match="turbo"):
        render_heatmap(heat, (4, 4), (0, 0, 0), "rainbow")


def test_heatmap_sliders_debounce_into_one_update(qtbot):
    dock = HeatmapDock()
    qtbot.addWidget(dock)
    dock.set_values(0.15, 1.5)
    assert dock.values() == (0.15, 1.5)
    with qtbot.waitSignal(dock.paramsChanged, timeout=2000) as blocker:
        for v in (20, 30, 40):
            dock.threshold.setValue(v)
        dock.tolerance.setValue(25)
    assert blocker.args == [0.4, 2.5]
    with qtbot.assertNotEmitted(dock.paramsChanged, wait=300):
        dock.set_values(0.5, 3.0)  # programmatic: no re-run
