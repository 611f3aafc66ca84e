"""What labelme / X-AnyLabeling users reach for (issue 13): Edit menu, view options, shortcuts help,
zoom in the status bar, recent folders, reopening on the last image."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication
from window_fixtures import images_dir, key, make_window, open_folder, private_settings  # noqa: F401

from annotator.core.shapes import Shape
from annotator.gui.settings import AppSettings

pytestmark = pytest.mark.gui

FIRST, SECOND = "astronaut.png", "chelsea.png"
SQUARE = np.array([[10, 10], [100, 10], [100, 100], [10, 100]], float)


def test_copy_paste_across_images_duplicate_delete_and_edit_label(qtbot, make_window, images_dir):
    window = make_window()
    open_folder(qtbot, window, images_dir)
    doc = window.document()
    original = Shape(label="cup", exterior=SQUARE, source="model", accepted=False, score=0.3)
    big = Shape(label="cup", exterior=[[0, 0], [505, 0], [505, 290], [0, 290]])  # wider than chelsea (451)
    doc.add_shape(original)
    doc.add_shape(big)
    window.canvas.select([original.id, big.id])
    key(qtbot, window, "Ctrl+C")
    key(qtbot, window, "D")
    assert window.current == SECOND
    other = window.document()
    key(qtbot, window, "Ctrl+V")
    pasted = other.shapes()
    assert len(pasted) == 2 and other.undo_stack.count() == 1, "one paste, one command"
    assert {s.id for s in pasted}.isdisjoint({original.id, big.id})
    assert all(s.source == "human" and s.accepted for s in pasted)
    assert np.array_equal(pasted[0].exterior, SQUARE)
    assert np.vstack(pasted[1].rings())[:, 0].max() <= other.annotations.width, "clipped to this image"
    assert window.canvas.selected_ids() == [s.id for s in pasted]

    window.canvas.select([pasted[0].id])
    key(qtbot, window, "Ctrl+D")
    dup = other.shapes()[-1]
    assert len(other.shapes()) == 3 and np.allclose(dup.exterior, SQUARE + 10)

    window.canvas.label_provider = lambda current: "mug"
    window.actions["edit_label"].trigger()
    assert other.shape(dup.id).label == "mug"
    window.shapes.table.setFocus()  # Delete works from the menu, not only on the canvas
    window.actions["delete"].trigger()
    assert other.shape(dup.id) is None and len(other.shapes()) == 2


def test_view_options_hide_all_per_class_and_fill(qtbot, make_window, images_dir):
    from annotator.gui.view_options import ClassesMenu, FillMenu

    window = make_window()
    open_folder(qtbot, window, images_dir)
    doc = window.document()
    cup, sky = Shape(label="cup", exterior=SQUARE), Shape(label="sky", exterior=SQUARE + 200)
    window.project.labels.add("cup")
    window.project.labels.add("sky")
    doc.add_shape(cup)
    doc.add_shape(sky)
    item = window.canvas._layer.item
    key(qtbot, window, "Ctrl+H")
    assert not item(cup.id).isVisible() and not item(sky.id).isVisible()
    key(qtbot, window, "Ctrl+H")
    assert item(cup.id).isVisible()

    classes = window.findChild(ClassesMenu)
    classes.aboutToShow.emit()
    sky_action = next(a for a in classes.actions() if a.text() == "sky")
    sky_action.setChecked(False)
    assert item(cup.id).isVisible() and not item(sky.id).isVisible()
    assert window.canvas.shape_at((250, 250)) is None, "a hidden shape cannot be clicked"
    classes.aboutToShow.emit()
    next(a for a in classes.actions() if a.text() == "Show All").trigger()
    assert item(sky.id).isVisible()

    fill = window.findChild(FillMenu)
    next(a for a in fill.actions() if a.data() == 0).trigger()
    assert window.canvas.shape_style().fill == 0.0
    assert item(cup.id).brush().color().alpha() == 0 and item(cup.id).pen().color().alpha() > 0


def test_shortcuts_help_zoom_label_recent_and_reopen(qtbot, make_window, images_dir, tmp_path):
    import shutil

    from annotator.gui.dialogs import ShortcutsDialog
    from annotator.gui.recent import RecentMenu

    window = make_window()
    key(qtbot, window, "F1")
    dialog = window.findChild(ShortcutsDialog)
    assert dialog.isVisible()
    dialog.filter.setText("brush")
    rows = dialog.visible_rows()
    assert ("B", "Brush", "Edit") in rows and any(r[2] == "Canvas" for r in rows)
    dialog.close()
    window.activateWindow()  # shortcuts reach the active window only, and the dialog was the active one
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=3000)

    other = tmp_path / "other"
    shutil.copytree(images_dir, other)
    open_folder(qtbot, window, other)
    open_folder(qtbot, window, images_dir)
    key(qtbot, window, "D")
    before = window.zoom_label.text()
    assert before.endswith("%")
    key(qtbot, window, "Ctrl+=")
    assert window.zoom_label.text() != before and window.zoom_label.text().endswith("%")

    qtbot.waitUntil(lambda: AppSettings.load().last_path.endswith(SECOND), timeout=3000)  # once browsing pauses
    stored = AppSettings.load()
    assert stored.recent.splitlines()[:2] == [str(images_dir.resolve()), str(other.resolve())]
    menu = window.findChild(RecentMenu)
    menu.aboutToShow.emit()
    assert [a.text() for a in menu.actions()][:2] == stored.recent.splitlines()[:2]
    assert stored.last_path.endswith(SECOND), "a relaunch reopens on the last image"
    open_folder(qtbot, window, other)
    open_folder(qtbot, window, stored.last_path)  # what run_app does at launch
    assert window.current == SECOND and window.project.root == images_dir.resolve()


def test_readme_shortcut_tables_are_the_generated_ones():
    from pathlib import Path

    from annotator.gui.actions import shortcuts_markdown

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert shortcuts_markdown() in readme, "regenerate the README tables from annotator.gui.actions"
