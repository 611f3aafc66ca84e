"""Annotated images whose file was deleted: listed (struck through), not openable, their
annotations moved to the trash on request (issue 8: deleted images are listed in the GUI)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMenu, QMessageBox
from window_fixtures import images_dir, key, make_window, open_folder, private_settings  # noqa: F401

from annotator.core.annotations import ImageAnnotations
from annotator.core.project import Project
from annotator.core.shapes import Shape
from annotator.core.trash import TRASH_DIR
from annotator.gui.file_list import MISSING

pytestmark = pytest.mark.gui

GONE = "coffee.png"
SQUARE = [[1, 1], [30, 1], [30, 30], [1, 30]]


@pytest.fixture
def window(qtbot, make_window, images_dir):
    project = Project.open(images_dir)
    project.save(ImageAnnotations(GONE, 400, 300, [Shape("cup", SQUARE), Shape("cup", SQUARE)]))
    project.save(ImageAnnotations("chelsea.png", 451, 300, [Shape("cat", SQUARE)]))
    (images_dir / GONE).unlink()
    window = make_window()
    open_folder(qtbot, window, images_dir)
    qtbot.waitUntil(lambda: window.files.status(GONE) == MISSING, timeout=30000)
    return window


def _row(window, image):
    view = window.files.view
    index = next(view.model().index(r, 0) for r in range(view.model().rowCount())
                 if view.model().index(r, 0).data(Qt.ItemDataRole.UserRole + 1) == image)
    return view, index


def test_a_deleted_image_is_listed_last_struck_through_with_its_shape_count(qtbot, window):
    assert window.files.visible_images() == ["astronaut.png", "chelsea.png", "rocket.jpg", GONE]
    assert window.files.status("chelsea.png") == "reviewed" and window._images == [
        "astronaut.png", "chelsea.png", "rocket.jpg"], "a batch never sees the missing image"
    _, index = _row(window, GONE)
    assert index.data(Qt.ItemDataRole.FontRole).strikeOut()
    tip = index.data(Qt.ItemDataRole.ToolTipRole)
    assert "missing" in tip and "2 shape(s)" in tip and "trash" in tip
    assert "1 missing" in window.files.summary.text()
    window.show_image("rocket.jpg")
    key(qtbot, window, "D")
    assert window.current == "rocket.jpg", "D steps over missing images"


def test_selecting_a_missing_image_says_why_and_opens_nothing(qtbot, window):
    view, index = _row(window, GONE)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(index).center())
    assert window.current == GONE and window.document() is None and window.pixels is None
    message = window.statusBar().currentMessage()
    assert GONE in message and "missing" in message and "2 shape(s)" in message
    key(qtbot, window, "A")
    assert window.current == "rocket.jpg"


def _ask_trash(qtbot, window) -> QMessageBox:
    view, index = _row(window, GONE)
    view.customContextMenuRequested.emit(view.visualRect(index).center())
    menu = window.files.findChildren(QMenu)[-1]
    action = next(a for a in menu.actions() if "Trash" in a.text())
    assert action.isEnabled()
    action.trigger()
    qtbot.waitUntil(lambda: window.findChild(QMessageBox) is not None, timeout=3000)
    return window.findChild(QMessageBox)


def test_the_context_action_moves_the_annotations_to_the_trash_after_asking(qtbot, window):
    project = window.project
    text = project.annotation_path(GONE).read_text()
    box = _ask_trash(qtbot, window)
    assert "2 shape(s)" in box.text()
    box.button(QMessageBox.StandardButton.Cancel).click()
    assert project.annotation_path(GONE).exists() and window.files.status(GONE) == MISSING

    qtbot.waitUntil(lambda: window.findChild(QMessageBox) is None, timeout=3000)
    _ask_trash(qtbot, window).button(QMessageBox.StandardButton.Yes).click()
    assert not project.annotation_path(GONE).exists()
    assert (project.state_dir / TRASH_DIR / (GONE + ".json")).read_text() == text
    assert window.files.status(GONE) is None and GONE not in window.files.visible_images()
    assert "trash" in window.statusBar().currentMessage()


def test_the_trash_action_is_disabled_for_an_image_that_is_there(qtbot, window):
    view, index = _row(window, "chelsea.png")
    view.customContextMenuRequested.emit(view.visualRect(index).center())
    menu = window.files.findChildren(QMenu)[-1]
    assert not next(a for a in menu.actions() if "Trash" in a.text()).isEnabled()
