"""The details a day of labelling in the window runs into (issue 13, defects 1-12), on the real window."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QFileDialog
from window_fixtures import (  # noqa: F401
    images_dir, key, make_window, open_folder, private_settings, propose, wait_idle,
)

from annotator.core.shapes import Shape

pytestmark = pytest.mark.gui

FIRST, SECOND = "astronaut.png", "chelsea.png"
SQUARE = np.array([[10, 10], [100, 10], [100, 100], [10, 100]], float)


def click_scene(qtbot, canvas, x, y, mods=Qt.KeyboardModifier.NoModifier):
    qtbot.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, mods, canvas.mapFromScene(QPointF(x, y)))


def test_cancelled_import_leaves_documents_and_undo_alone(qtbot, make_window, images_dir, tmp_path):
    from annotator.gui.dialogs import ImportDialog

    window = make_window()
    open_folder(qtbot, window, images_dir)
    doc = window.document()
    doc.add_shape(Shape(label="cup", exterior=SQUARE))
    window.on_import_coco()
    dialog = window.findChild(ImportDialog)
    dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel).click()
    assert window.canvas.document() is window.document() is doc
    click_scene(qtbot, window.canvas, 50, 50)  # the canvas still works on a live document
    assert window.canvas.selected_ids() == [doc.shapes()[0].id]
    key(qtbot, window, "Ctrl+Z")
    assert doc.shapes() == [], "the undo history survived the cancelled dialog"
    key(qtbot, window, "Ctrl+Shift+Z")

    # an accepted import reloads only the images it wrote; the others keep their history
    coco = {"images": [{"id": 1, "file_name": SECOND, "width": 451, "height": 300}],
            "categories": [{"id": 1, "name": "cat"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0,
                             "segmentation": [[20, 20, 200, 20, 200, 200, 20, 200]]}]}
    path = tmp_path / "in.json"
    path.write_text(json.dumps(coco))
    window.on_import_coco()
    dialog = [d for d in window.findChildren(ImportDialog) if d.isVisible()][0]
    dialog.path.edit.setText(str(path))
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    qtbot.waitUntil(lambda: not dialog.running(), timeout=30000)  # the import runs in the background
    assert "Imported 1 shapes" in dialog.report.text(), dialog.report.text()
    assert window.document() is doc and doc.undo_stack.canUndo()
    # statuses come from the index, refreshed off the GUI thread
    qtbot.waitUntil(lambda: window.files.status(SECOND) == "reviewed", timeout=30000)
    assert window.files.counts(SECOND) == (1, 0)
    dialog.buttons.button(QDialogButtonBox.StandardButton.Close).click()
    window.show_image(SECOND)
    assert [s.label for s in window.document().shapes()] == ["cat"]


def test_margin_click_and_empty_space_deselect(qtbot, make_window, images_dir):
    window = make_window()
    open_folder(qtbot, window, images_dir)
    doc = window.document()
    w, h = doc.annotations.width, doc.annotations.height
    whole = Shape(label="grass", exterior=[[0, 0], [w, 0], [w, h], [0, h]])  # a label map covers everything
    doc.add_shape(whole)
    qtbot.waitUntil(lambda: window.canvas.viewport().width() > 300, timeout=3000)  # laid out
    window.canvas.fit_to_window()
    click_scene(qtbot, window.canvas, w / 2, h / 2)
    assert window.canvas.selected_ids() == [whole.id]
    window.canvas.zoom_out()
    window.canvas.zoom_out()
    click_scene(qtbot, window.canvas, -60, h / 2)  # the dark margin left of the image
    assert window.canvas.selected_ids() == [], "a margin click selects nothing and clears the selection"
    assert window.shapes.selected_ids() == []


def test_empty_folder_clears_the_previous_shapes(qtbot, make_window, images_dir, tmp_path):
    window = make_window()
    open_folder(qtbot, window, images_dir)
    window.document().add_shape(Shape(label="cup", exterior=SQUARE))
    assert window.shapes.table.rowCount() == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    open_folder(qtbot, window, empty)
    assert window.shapes.table.rowCount() == 0 and window.canvas.document() is None
    assert window.files.visible_images() == []


def test_heatmap_look_sliders_undo_relaunch_and_no_carry_over(qtbot, make_window, images_dir, private_settings):
    window = make_window()
    open_folder(qtbot, window, images_dir)
    assert not window.heatmap.threshold.isEnabled() and window.heatmap.note.isVisibleTo(window.heatmap)
    propose(qtbot, window, "sky, person")
    doc = window.document()
    assert (doc.params.threshold, doc.params.tolerance) == (pytest.approx(0.15), pytest.approx(1.5))
    assert window.heatmap.threshold.isEnabled()

    # the heatmap: its own colours and opacity, over the image, under outline-only shapes
    overlays = []
    original = window.canvas.set_overlay
    window.canvas.set_overlay = lambda rgba: (overlays.append(rgba), original(rgba))
    key(qtbot, window, "H")
    rgba = overlays[-1]
    assert rgba is not None and len(np.unique(rgba[..., 3])) == 1, "a colour map at one opacity"
    assert window.canvas.shape_style().fill == 0.0, "fills step aside for the heatmap, outlines stay"
    window.heatmap.opacity.setValue(20)
    assert overlays[-1][0, 0, 3] == 51
    window.heatmap.hide_shapes.setChecked(True)
    assert not any(window.canvas._layer.item(s.id).isVisible() for s in doc.shapes())
    window.heatmap.hide_shapes.setChecked(False)
    key(qtbot, window, "H")
    assert window.canvas.shape_style().fill == 1.0

    # a threshold move re-draws this image; undo puts the slider back with the shapes
    stack = doc.undo_stack.count()
    window.heatmap.threshold.setValue(60)
    qtbot.waitUntil(lambda: doc.undo_stack.count() == stack + 1, timeout=20000)
    wait_idle(qtbot, window)
    assert doc.params.threshold == pytest.approx(0.6)
    key(qtbot, window, "Ctrl+Z")
    assert window.heatmap.values()[0] == pytest.approx(0.15), "undo restores the slider"
    key(qtbot, window, "Ctrl+Shift+Z")
    assert window.heatmap.values()[0] == pytest.approx(0.6)

    # the next image starts from the defaults, not from this image's slider
    key(qtbot, window, "D")
    assert window.heatmap.values()[0] == pytest.approx(0.15)
    assert not window.heatmap.threshold.isEnabled(), "no result for this image yet, and the dock says so"
    key(qtbot, window, "A")
    assert window.heatmap.values()[0] == pytest.approx(0.6)

    # a relaunch: the kept heatmaps make the sliders work again
    heat = window.project.annotation_path(FIRST).with_name(FIRST + ".heat.npz")
    assert heat.exists() and heat.stat().st_size < 20000
    window.close()
    again = make_window()
    open_folder(qtbot, again, images_dir)
    # the kept result comes back once the image is decoded (off the GUI thread)
    qtbot.waitUntil(lambda: again.heatmap.threshold.isEnabled(), timeout=20000)
    assert again.heatmap.classes.count() == 2
    assert again.heatmap.values()[0] == pytest.approx(0.6)
    doc = again.document()
    stack = doc.undo_stack.count()
    again.heatmap.threshold.setValue(20)
    qtbot.waitUntil(lambda: doc.undo_stack.count() == stack + 1, timeout=20000)
    wait_idle(qtbot, again)
    assert doc.params.threshold == pytest.approx(0.2)


def test_reproposing_a_reviewed_image_adds_no_identical_copies(qtbot, make_window, images_dir):
    window = make_window()
    open_folder(qtbot, window, images_dir)
    propose(qtbot, window, "sky, person")
    doc = window.document()
    key(qtbot, window, "Shift+Y")
    accepted = len(doc.shapes())
    propose(qtbot, window, "sky, person")  # same image, same classes: the same regions again
    assert doc.proposal_ids() == [] and len(doc.shapes()) == accepted


def test_export_dialog_defaults_outside_the_folder_and_counts_proposals(qtbot, make_window, images_dir,
                                                                        tmp_path):
    from pycocotools.coco import COCO

    from annotator.gui.dialogs import ExportDialog

    window = make_window()
    open_folder(qtbot, window, images_dir)
    doc = window.document()
    doc.add_shape(Shape(label="cup", exterior=SQUARE))
    doc.add_shape(Shape(label="sky", exterior=SQUARE + 150, source="model", accepted=False, score=0.5))
    doc.add_shape(Shape(label="sky", exterior=SQUARE + 250, source="model", accepted=False, score=0.5))
    window.project.labels.add("never used")
    key(qtbot, window, "Ctrl+E")
    dialog = window.findChild(ExportDialog)
    target = dialog.path.edit.text()
    assert not target.startswith(str(images_dir.resolve()) + "/"), "never inside the image folder"
    assert "2 unreviewed proposal(s) in 1 image(s)" in dialog.accepted_only.text()
    assert dialog.accepted_only.isChecked() and dialog.used_only.isChecked()
    out = tmp_path / "out.json"
    dialog.path.edit.setText(str(out))
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    qtbot.waitUntil(lambda: not dialog.running(), timeout=30000)  # the export runs in the background
    coco = COCO(str(out))
    assert [c["name"] for c in coco.dataset["categories"]] == ["cup"], "no empty categories"
    assert len(coco.dataset["annotations"]) == 1
    report = dialog.report
    assert report.height() >= report.heightForWidth(report.width()), "the result text is not clipped"


def test_batch_dialog_cancel_then_start_again(qtbot, make_window, images_dir):
    from annotator.gui.dialogs import BatchDialog

    window = make_window()
    open_folder(qtbot, window, images_dir)
    propose(qtbot, window, "sky")  # the model is loaded: the batch is cancelled inside its first image
    window.prompt.classes.setText("sky, person")
    key(qtbot, window, "Ctrl+B")
    dialog = window.findChild(BatchDialog)
    passes = []
    window.client.progress.connect(lambda *a: passes.append(a))
    dialog.start.click()
    qtbot.waitUntil(lambda: bool(passes), timeout=20000)
    dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel).click()
    qtbot.waitUntil(lambda: dialog.job_id is None, timeout=30000)
    text = dialog.status.text()
    assert text.startswith("Cancelled after") and "problem" not in text and ": :" not in text, text
    assert dialog.start.isEnabled() and dialog.classes.isEnabled(), "another run needs no reopening"
    assert dialog.status.height() >= dialog.status.heightForWidth(dialog.status.width())
    dialog.skip.setChecked(True)
    dialog.start.click()
    qtbot.waitUntil(lambda: dialog.job_id is None, timeout=90000)
    assert dialog.status.text().startswith("Done") and dialog.start.isEnabled()
    dialog.close()


def test_first_launch_without_model_says_so_and_runs_the_pending_proposal(qtbot, make_window, images_dir,
                                                                          tmp_path, tiny_model_dir, monkeypatch):
    from annotator.gui.dialogs import ModelMissingDialog

    window = make_window(model=str(tmp_path / "no-such-model"))
    qtbot.waitUntil(lambda: window.model_setup.state is not None, timeout=10000)
    assert "missing" in window.engine_state.text(), "the status bar says so before any Propose"
    open_folder(qtbot, window, images_dir)
    window.prompt.classes.setText("sky")
    key(qtbot, window, "Ctrl+Return")
    dialog = window.findChild(ModelMissingDialog)
    assert dialog is not None and dialog.isVisible(), "shown at once, not after a failed load"
    assert not window.client.busy()
    text = dialog.findChildren(type(window.engine_state))[0].text()
    assert "--model" not in text and "OSError" not in text and "no-such-model" in text
    assert dialog.folder_button.isDefault() and not dialog.download_button.isDefault(), "offline here"

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tiny_model_dir))
    dialog.folder_button.click()
    qtbot.waitUntil(lambda: window.client.busy(), timeout=3000)  # no second Propose needed
    wait_idle(qtbot, window)
    assert window.document().proposal_ids()


def test_small_window_keeps_room_for_the_image(qtbot, make_window, images_dir):
    window = make_window()
    open_folder(qtbot, window, images_dir)
    window.resize(640, 400)
    qtbot.waitUntil(lambda: window.width() <= 660, timeout=3000)
    QApplication.processEvents()
    assert window.canvas.width() >= 0.4 * window.width(), window.canvas.width()
    assert window.height() <= 420


def test_progress_says_post_processing_after_the_last_pass(qtbot, make_window):
    window = make_window()
    window.prompt.show_progress("pass", 2, 4)
    assert window.prompt.progress.format() == "pass 2/4"
    window.prompt.show_progress("pass", 4, 4)
    assert window.prompt.progress.format() == "post-processing…"
    assert window.prompt.progress.maximum() == 0, "a busy bar: this stage has no steps to count"


def test_image_list_counts_and_unannotated_rows_are_not_grey(qtbot, make_window, images_dir):
    window = make_window()
    open_folder(qtbot, window, images_dir)
    doc = window.document()
    doc.add_shape(Shape(label="cup", exterior=SQUARE))
    doc.add_shape(Shape(label="sky", exterior=SQUARE + 150, source="model", accepted=False, score=0.5))
    assert window.files.counts(FIRST) == (2, 1)
    assert window.files.summary.text().startswith("0 of 4 reviewed")
    doc.accept_all_proposals()
    assert window.files.summary.text() == "1 of 4 reviewed"
    model = window.files.view.model()
    row = next(r for r in range(model.rowCount()) if SECOND in model.index(r, 0).data())
    assert model.index(row, 0).data(Qt.ItemDataRole.ForegroundRole) is None, "normal text colour"
