"""The window walked as a new user would, second time (issue 20): focus after Propose, the
filter opening its match, Label All's failures, class edits undone and followed by the
Classes field, and the other rows of that issue."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from test_ai_polygon import ai_window  # noqa: F401
from window_fixtures import images_dir, key, make_window, open_folder, private_settings, wait_idle  # noqa: F401

from annotator.core.shapes import Shape

pytestmark = pytest.mark.gui

FIRST = "astronaut.png"
SQUARE = np.array([[10, 10], [100, 10], [100, 100], [10, 100]], float)


def test_after_propose_the_review_keys_reach_the_canvas_and_esc_leaves_the_classes_field(
        qtbot, make_window, images_dir):
    window = make_window()
    open_folder(qtbot, window, images_dir)
    field = window.prompt.classes
    field.setFocus()
    field.selectAll()
    qtbot.keyClicks(field, "sky, person")
    qtbot.keyClick(field, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    wait_idle(qtbot, window)
    assert window.document().proposal_ids(), "the tiny model proposed something"
    assert QApplication.focusWidget() is window.canvas
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_N)
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Y)
    assert field.text() == "sky, person", "N and Y did not type into the field"
    assert window.document().undo_stack.count() == 2, "Y accepted the proposal N selected"

    field.setFocus()
    qtbot.keyClick(field, Qt.Key.Key_Escape)
    assert QApplication.focusWidget() is window.canvas
    assert field.text() == "sky, person"


def test_filter_enter_or_down_opens_the_first_match(qtbot, make_window, images_dir):
    window = make_window()
    open_folder(qtbot, window, images_dir)
    assert window.current == FIRST
    key(qtbot, window, "Ctrl+F")
    qtbot.keyClicks(window.files.filter, "roc")
    qtbot.keyClick(window.files.filter, Qt.Key.Key_Return)
    assert window.current == "rocket.jpg"
    qtbot.waitUntil(lambda: window.pixels is not None and window.pixels.shape[:2] == (427, 640), timeout=5000)

    window.files.filter.setFocus()
    window.files.filter.setText("c")  # chelsea.png, coffee.png, rocket.jpg
    qtbot.keyClick(window.files.filter, Qt.Key.Key_Down)
    assert window.current == "chelsea.png"
    assert QApplication.focusWidget() is window.files.view
    qtbot.keyClick(window.files.view, Qt.Key.Key_Down)  # arrows in the list open what they reach
    assert window.current == "coffee.png"


def test_label_all_lists_every_failed_image_and_marks_them_at_once(qtbot, make_window, tmp_path, samples_dir):
    from annotator.gui.dialogs import BatchDialog

    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(samples_dir / "chelsea.png", folder)
    whole = (samples_dir / "rocket.jpg").read_bytes()
    (folder / "cut.jpg").write_bytes(whole[: len(whole) // 3])  # a truncated JPEG
    (folder / "notes.png").write_text("these are notes, not pixels")
    window = make_window()
    open_folder(qtbot, window, folder)
    window.prompt.classes.setText("sky")
    key(qtbot, window, "Ctrl+B")
    dialog = window.findChild(BatchDialog)
    dialog.start.click()
    qtbot.waitUntil(lambda: dialog.job_id is None, timeout=90000)
    rows = [dialog.failures.item(r).text() for r in range(dialog.failures.count())]
    assert len(rows) == 2 and dialog.failures.isVisible()
    assert rows[0].startswith("cut.jpg: ") and rows[1].startswith("notes.png: ")
    assert "2 image(s) could not be labelled" in dialog.status.text()
    assert window.files.status("cut.jpg") == "unreadable" and window.files.status("notes.png") == "unreadable"
    assert window.files.status("chelsea.png") == "proposed"
    item = dialog.failures.item(1)
    dialog.failures.itemClicked.emit(item)
    assert window.current == "notes.png"
    dialog.close()


def _back_to_window(qtbot, window) -> None:
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=3000)


def _class_dialog(window):
    from annotator.gui.dialogs import ClassManagerDialog

    window.actions["classes"].trigger()
    dialog = window.findChild(ClassManagerDialog)
    return dialog


def _labels_on_disk(window) -> dict:
    data = json.loads((window.project.state_dir / "project.json").read_text())
    return {c["name"]: (c["id"], tuple(c["color"])) for c in data["labels"]["categories"]}


def test_undoing_a_class_delete_brings_back_its_id_and_colour(qtbot, make_window, images_dir):
    window = make_window()
    open_folder(qtbot, window, images_dir)
    for name in ("sky", "car", "road"):
        window.project.labels.add(name)
    window.project.save_settings()
    car = window.project.labels.get("car")
    doc = window.document()
    doc.add_shape(Shape(label="car", exterior=SQUARE))
    doc.add_shape(Shape(label="sky", exterior=SQUARE + 150))
    window.prompt.classes.setText("sky, car, road")

    dialog = _class_dialog(window)
    qtbot.waitUntil(lambda: not dialog.busy(), timeout=10000)
    dialog.delete("car")
    qtbot.waitUntil(lambda: not dialog.busy(), timeout=10000)
    dialog.close()
    _back_to_window(qtbot, window)
    assert "car" not in window.project.labels and "car" not in _labels_on_disk(window)
    assert window.prompt.classes.text() == "sky, road", "the Classes field follows the delete"
    assert [s.label for s in doc.shapes()] == ["sky"]

    key(qtbot, window, "Ctrl+Z")
    assert [s.label for s in doc.shapes()] == ["car", "sky"]
    back = window.project.labels.get("car")
    assert (back.id, back.color) == (car.id, car.color)
    assert _labels_on_disk(window)["car"] == (car.id, car.color)
    assert window.project.labels.names == ["sky", "car", "road"], "in its place"
    dialog = _class_dialog(window)
    names = [dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())]
    assert names == ["sky", "car", "road"]
    dialog.close()
    _back_to_window(qtbot, window)

    key(qtbot, window, "Ctrl+Shift+Z")  # redo deletes it again
    assert "car" not in window.project.labels and [s.label for s in doc.shapes()] == ["sky"]


def test_the_classes_field_follows_renames_and_merges(qtbot, make_window, images_dir):
    window = make_window()
    open_folder(qtbot, window, images_dir)
    for name in ("sky", "car", "road"):
        window.project.labels.add(name)
    window.document().add_shape(Shape(label="car", exterior=SQUARE))
    window.prompt.classes.setText("sky, car, road")
    dialog = _class_dialog(window)
    dialog.rename("sky", "Heaven")
    qtbot.waitUntil(lambda: not dialog.busy(), timeout=10000)
    assert window.prompt.classes.text() == "Heaven, car, road"
    dialog.merge("car", "road")
    qtbot.waitUntil(lambda: not dialog.busy(), timeout=10000)
    dialog.close()
    _back_to_window(qtbot, window)
    assert window.prompt.classes.text() == "Heaven, road", "the merged class is not proposed again"
    assert window.project.settings.classes == "Heaven, road", "kept for the next launch"
    assert [s.label for s in window.document().shapes()] == ["road"]
    key(qtbot, window, "Ctrl+Z")  # the merge undone: car is back with its shape
    assert "car" in window.project.labels and [s.label for s in window.document().shapes()] == ["car"]


def test_counting_shapes_clears_once_counted(qtbot, make_window, images_dir):
    window = make_window()
    open_folder(qtbot, window, images_dir)
    window.project.labels.add("sky")
    window.document().add_shape(Shape(label="sky", exterior=SQUARE))
    key(qtbot, window, "Ctrl+Shift+L")
    dialog = _class_dialog(window)
    qtbot.waitUntil(lambda: dialog.count("sky") is not None, timeout=10000)
    assert dialog.count("sky") == 1 and "Counting" not in dialog.status.text()
    dialog.rename("sky", "heaven")
    qtbot.waitUntil(lambda: not dialog.busy(), timeout=10000)
    assert dialog.status.text().startswith("Updated "), "the edit's own message comes back after the count"
    dialog.close()


def test_sharpen_says_why_proposals_were_left(qtbot, ai_window):
    from test_ai_polygon import LeftHalfSegmenter

    window = ai_window(interactive_factory=lambda model, device: LeftHalfSegmenter())
    key(qtbot, window, "Escape")  # leave the AI tool
    doc = window.document()
    left = Shape(label="sky", exterior=SQUARE + 40, source="model", accepted=False, score=0.5)
    right = Shape(label="sky", exterior=SQUARE + [380, 40], source="model", accepted=False, score=0.5)
    speck = Shape(label="sky", exterior=[[60, 300], [62, 300], [62, 302], [60, 302]], source="model",
                  accepted=False, score=0.5)
    doc.add_shapes([left, right, speck])
    steps = doc.undo_stack.count()
    key(qtbot, window, "Shift+S")
    qtbot.waitUntil(lambda: doc.undo_stack.count() == steps + 1, timeout=120000)
    message = window.statusBar().currentMessage()
    assert message.startswith("Sharpened 1 proposal(s) of astronaut.png; 2 left as they were: "), message
    assert "1 the model found no object there" in message and "1 too small to sharpen" in message
    assert doc.shape(right.id) == right and doc.shape(speck.id) == speck and doc.shape(left.id) != left


def test_heatmap_colour_map_opacity_and_visibility_persist(qtbot, make_window, private_settings, tiny_model_dir):
    from annotator.core.project import ProjectSettings
    from annotator.gui.main_window import MainWindow
    from annotator.gui.settings import AppSettings

    window = make_window()
    window.heatmap.look.setCurrentText("viridis")
    window.heatmap.opacity.setValue(20)
    key(qtbot, window, "H")
    assert window.heatmap.show_overlay.isChecked()
    window.close()
    saved = AppSettings.load()
    assert (saved.heatmap_look, saved.heatmap_opacity, saved.show_heatmap) == ("viridis", 20, 1)

    again = MainWindow(saved, project_defaults=ProjectSettings(model=str(tiny_model_dir), device="cpu"))
    qtbot.addWidget(again)
    again.show()
    qtbot.waitUntil(lambda: again.isVisible())
    qtbot.wait(1)  # its start-up timers (thread warm-ups) run before it is closed
    assert again.heatmap.look.currentText() == "viridis" and again.heatmap.opacity.value() == 20
    assert again.heatmap.show_overlay.isChecked() and again.actions["toggle_heatmap"].isChecked()
    again.close()


def test_export_runs_again_after_a_format_change_and_import_remembers_its_path(
        qtbot, make_window, images_dir, tmp_path):
    from PySide6.QtWidgets import QDialogButtonBox

    from annotator.gui.dialogs import ExportDialog, ImportDialog

    window = make_window()
    open_folder(qtbot, window, images_dir)
    window.project.labels.add("cup")
    window.document().add_shape(Shape(label="cup", exterior=SQUARE))
    window.store.flush()
    window.actions["export_coco"].trigger()
    export = window.findChild(ExportDialog)
    ok = lambda dialog: dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)  # noqa: E731
    export.path.edit.setText(str(tmp_path / "out.json"))
    ok(export).click()
    qtbot.waitUntil(lambda: not export.running() and "Wrote" in export.report.text(), timeout=30000)
    export.format.setCurrentIndex(1)  # semantic PNG: the dialog is ready to run again
    assert ok(export) is not None and ok(export).isEnabled() and export.report.text() == ""
    export.path.edit.setText(str(tmp_path / "masks"))
    ok(export).click()
    qtbot.waitUntil(lambda: not export.running() and "label PNGs" in export.report.text(), timeout=30000)
    assert (tmp_path / "masks" / "labelmap.txt").exists()
    export.close()

    window.actions["import_coco"].trigger()
    importer = window.findChild(ImportDialog)
    importer.format.setCurrentIndex(1)
    importer.path.edit.setText(str(tmp_path / "masks"))
    ok(importer).click()
    qtbot.waitUntil(lambda: not importer.running() and "Imported" in importer.report.text(), timeout=30000)
    importer.close()
    importer.deleteLater()
    qtbot.waitUntil(lambda: window.findChild(ImportDialog) is None, timeout=5000)
    window.actions["import_coco"].trigger()
    again = window.findChild(ImportDialog)
    assert again.chosen() == ("semantic-png", str(tmp_path / "masks")), "the last import's path is offered"
    again.close()


def test_model_menu_keeps_its_order_names_engines_and_a_new_folder_starts_with_the_last_model(
        qtbot, make_window, images_dir, tmp_path, samples_dir, tiny_model_dir, tiny_sam3_dir, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    window = make_window()
    open_folder(qtbot, window, images_dir)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tiny_sam3_dir))
    window.model_menu.refresh()
    window.model_menu.actions()[-1].trigger()  # Choose Local Folder…
    window.model_menu.refresh()
    order = [m for _, m, _ in window.model_menu.entries()]
    texts = dict((m, t) for t, m, _ in window.model_menu.entries())
    assert texts[str(tiny_sam3_dir)] == f"Local folder (SAM 3): {tiny_sam3_dir}"
    assert texts[str(tiny_model_dir)] == f"Local folder (PnP-OVSS (BLIP)): {tiny_model_dir}"
    back = next(a for a in window.model_menu.actions() if a.data() == str(tiny_model_dir))
    back.trigger()
    window.model_menu.refresh()
    assert [m for _, m, _ in window.model_menu.entries()] == order, "choosing a folder does not reorder"
    window.model_menu.actions()[-1].trigger()  # SAM 3 again
    assert window.client.settings.model == str(tiny_sam3_dir)

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    shutil.copy(samples_dir / "chelsea.png", fresh)
    open_folder(qtbot, window, fresh)
    assert window.project.settings.model == str(tiny_sam3_dir), "a new folder starts with the last model"
    assert window.client.settings.model == str(tiny_sam3_dir)


def test_model_dialog_details_scroll_and_the_dialog_makes_room(qtbot, private_settings):
    from PySide6.QtWidgets import QLabel

    from annotator.gui.dialogs import ModelMissingDialog

    message = "\n".join(f"looked in /home/someone/.cache/huggingface/hub/models--x/snapshots/{i}: nothing"
                        for i in range(40))
    dialog = ModelMissingDialog(message, "Salesforce/blip-itm-large-flickr", online=False)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    text = next(w for w in dialog.findChildren(QLabel) if "Proposals need" in w.text())
    dialog.details_button.click()
    qtbot.waitUntil(lambda: dialog.details.isVisible())
    assert dialog.details.toPlainText() == message
    assert dialog.details.verticalScrollBar().maximum() > 0, "long details scroll inside their box"
    assert text.height() >= text.heightForWidth(text.width()), "the explanation above is not clipped"
    assert dialog.height() >= dialog.minimumSizeHint().height()
    dialog.details_button.click()
    assert not dialog.details.isVisible()
    dialog.close()


def test_the_classes_field_grows_with_the_window(qtbot, make_window):
    window = make_window()
    field = window.prompt.classes
    window.resize(1280, 800)
    qtbot.waitUntil(lambda: window.width() == 1280)
    qtbot.wait(1)
    narrow = field.width()
    assert narrow > 0.3 * 1280, narrow  # the rest of the bar: tools, Shapes, Propose, Cancel
    text = "sky, road, car, person, traffic light"
    assert field.fontMetrics().horizontalAdvance(text) < narrow, "the usual list is in view"
    window.resize(1600, 800)
    qtbot.waitUntil(lambda: field.width() >= narrow + 250, timeout=3000)


def test_a_bad_image_is_explained_plainly_and_propose_loads_no_model_for_it(
        qtbot, make_window, tmp_path, samples_dir):
    from annotator.gui.engine_worker import load_segmenter

    folder = tmp_path / "bad"
    folder.mkdir()
    shutil.copy(samples_dir / "chelsea.png", folder)
    whole = (samples_dir / "rocket.jpg").read_bytes()
    (folder / "cut.jpg").write_bytes(whole[: len(whole) // 3])  # the header is whole: its size is known
    loads = []
    window = make_window(factory=lambda settings: loads.append(settings) or load_segmenter(settings))
    open_folder(qtbot, window, folder / "cut.jpg")
    qtbot.waitUntil(lambda: window.files.status("cut.jpg") == "unreadable", timeout=10000)
    message = window.statusBar().currentMessage()
    assert "cut short (truncated)" in message and "Error" not in message, message
    window.prompt.classes.setText("sky")
    key(qtbot, window, "Ctrl+Return")
    assert "image itself cannot be read" in window.statusBar().currentMessage()
    assert not window.client.busy() and loads == [], "no model was loaded for an image that cannot be read"


def test_docks_give_back_their_room_and_the_heatmap_dock_is_not_clipped(qtbot, make_window, images_dir):
    window = make_window()
    open_folder(qtbot, window, images_dir)
    window.resize(1280, 800)
    qtbot.waitUntil(lambda: window.width() == 1280)
    QApplication.processEvents()
    before = (window.files.width(), window.shapes.width())
    window.resize(800, 600)
    qtbot.waitUntil(lambda: window.width() == 800)
    QApplication.processEvents()
    assert window.files.width() < before[0] and window.shapes.width() < before[1], "the docks gave way"
    scroll = window.heatmap.widget()
    assert scroll.horizontalScrollBar().maximum() == 0, "the heatmap dock's rows fit its width"
    window.resize(1280, 800)
    qtbot.waitUntil(lambda: window.width() == 1280)
    QApplication.processEvents()
    after = (window.files.width(), window.shapes.width())
    assert all(abs(a - b) <= 4 for a, b in zip(after, before)), (before, after)


def test_an_image_opened_by_name_is_drawn_once_with_its_pixels(qtbot, make_window, images_dir, monkeypatch):
    """A relaunch opens the last image by name: its shapes are not drawn on an empty canvas first."""
    from annotator.core.annotations import ImageAnnotations
    from annotator.core.project import Project
    from annotator.gui.canvas import Canvas

    Project.open(images_dir).save(ImageAnnotations("coffee.png", 640, 400, [Shape("cup", SQUARE)]))
    drawn, real = [], Canvas.set_document
    monkeypatch.setattr(Canvas, "set_document",
                        lambda self, doc, image: (drawn.append((doc is not None, image is not None)),
                                                  real(self, doc, image))[1])
    window = make_window()
    window.open_path(images_dir / "coffee.png")
    assert window.current == "coffee.png"
    qtbot.waitUntil(lambda: window.pixels is not None and window.canvas.document() is not None, timeout=10000)
    assert [d for d in drawn if d[0]] == [(True, True)], "shapes and image appear together"
    assert len(window.canvas.document().shapes()) == 1


def test_import_shows_what_it_does_from_the_start(qtbot, make_window, images_dir, tmp_path, monkeypatch):
    import threading

    from PySide6.QtWidgets import QDialogButtonBox

    from annotator.gui.dialogs import ImportDialog
    from annotator.gui.dialogs import coco as coco_dialogs

    reading, counted, release = threading.Event(), threading.Event(), threading.Event()

    def slow_import(project, path, **kw):
        reading.wait(10)  # the file is being read: no count yet
        kw["progress"].stage("matching images")
        kw["progress"](3, 10)
        counted.set()
        release.wait(10)
        raise ValueError("stopped by the test")

    monkeypatch.setattr(coco_dialogs, "import_coco", slow_import)
    window = make_window()
    open_folder(qtbot, window, images_dir)
    dialog = ImportDialog(window.project, window)
    qtbot.addWidget(dialog)
    dialog.path.edit.setText(str(tmp_path / "big.json"))
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert dialog.report.text() == "Reading big.json…" and dialog.progress.isVisibleTo(dialog)
    reading.set()
    qtbot.waitUntil(lambda: dialog.progress.text() == "matching images: 3 of 10 images", timeout=5000)
    assert dialog.report.text() == "Matching images…"
    release.set()
    qtbot.waitUntil(lambda: not dialog.running(), timeout=5000)
    assert "stopped by the test" in dialog.report.text()


def test_every_phase_of_a_proposal_is_named_while_it_runs(qtbot, make_window, images_dir):
    from PySide6.QtCore import QTimer

    window = make_window()
    open_folder(qtbot, window, images_dir)
    seen = []
    poll = QTimer()
    poll.timeout.connect(lambda: window.prompt.progress.isVisible() and seen.append(
        (window.prompt.state.text(), window.prompt.progress.format())))
    poll.start(2)
    window.prompt.classes.setText("sky, person")
    key(qtbot, window, "Ctrl+Return")
    assert window.prompt.state.text(), "named from the first moment"
    wait_idle(qtbot, window)
    poll.stop()
    assert seen, "the bar was seen running"
    assert all(state and state != "ready" for state, _ in seen), sorted(set(seen))
    assert all(fmt == state or state.startswith("model pass") for state, fmt in seen), sorted(set(seen))
    assert window.prompt.state.text() == "" and not window.prompt.progress.isVisible()

    # the prompt bar's own words for each phase
    prompt = window.prompt
    prompt.set_busy(True)
    prompt.show_state("ready")  # the engine loaded: the running phase stays named
    assert prompt.state.text() == "starting…"
    prompt.show_progress("pass", 1, 4)
    assert prompt.state.text() == "model pass 2 of 4" and prompt.progress.format() == "pass 1/4"
    prompt.show_progress("pass", 4, 4)
    assert prompt.state.text() == "post-processing…" and prompt.progress.maximum() == 0
    prompt.set_busy(False)


def test_label_all_names_its_phases_instead_of_pass_0_of_100(qtbot, make_window, images_dir):
    from annotator.gui.dialogs import BatchDialog

    window = make_window()
    open_folder(qtbot, window, images_dir)
    key(qtbot, window, "Ctrl+B")
    dialog = window.findChild(BatchDialog)
    assert dialog.pass_bar.text() == "not started"
    dialog.classes.setText("sky")
    dialog.start.click()
    assert dialog.pass_bar.format() == "loading the model…"
    formats = set()
    window.client.progress.connect(lambda *a: formats.add(dialog.pass_bar.format()))
    qtbot.waitUntil(lambda: dialog.job_id is None, timeout=120000)
    assert "pass %v of %m" in formats and dialog.pass_bar.text() == "finished"
    dialog.close()


def test_the_heatmap_dock_says_kept_heatmaps_are_coming_not_none(qtbot, make_window, images_dir):
    """Relaunch (issue 20 row 14): while the image's pixels are decoded, a kept heatmap file is
    announced as being read, not as "No heatmaps"; once they are there, its sliders work."""
    from annotator.core import heatcache
    from annotator.core.annotations import ImageAnnotations
    from annotator.core.project import Project
    from annotator.gui.heatmap_panel import NO_RESULT, READING

    project = Project.open(images_dir)
    project.save(ImageAnnotations("coffee.png", 640, 400, [Shape("cup", SQUARE)]))
    window = make_window()
    open_folder(qtbot, window, images_dir)
    qtbot.waitUntil(lambda: window.pixels is not None, timeout=10000)
    window.show_image("coffee.png")
    assert window.heatmap.note.text() == NO_RESULT  # no heatmap file
    saved = heatcache.SavedResult(["cup"], np.ones((1, 4, 4), np.float32), (400, 640), (400, 640), 0.15, 1.5, "auto")
    heatcache.save_result(window.project, "coffee.png", saved)
    window.pixels = None  # as on a relaunch, before the decode thread answers
    window.heatmap_view.result_changed("coffee.png")
    assert window.heatmap.note.text() == READING
