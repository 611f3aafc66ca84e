"""Main window on the tiny random model: navigation, proposals, review, undo/redo, routing."""

from __future__ import annotations

import json
import threading

import pytest
from window_fixtures import (  # noqa: F401
    GuiTurns, images_dir, key, make_window, open_folder, private_settings, propose, wait_idle,
)

pytestmark = pytest.mark.gui

FIRST, SECOND = "astronaut.png", "chelsea.png"


def test_open_folder_lists_images_and_a_d_navigate(qtbot, make_window, images_dir):
    window = make_window()
    assert open_folder(qtbot, window, images_dir)
    assert window.files.visible_images() == ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg"]
    assert window.current == FIRST
    qtbot.waitUntil(lambda: window.pixels is not None, timeout=5000)  # decoded off the GUI thread
    assert window.files.status(FIRST) == "none"
    key(qtbot, window, "D")
    assert window.current == SECOND
    key(qtbot, window, "D")
    key(qtbot, window, "A")
    assert window.current == SECOND
    window.files.filter.setText("co")
    assert window.files.visible_images() == ["coffee.png"]
    key(qtbot, window, "D")
    assert window.current == "coffee.png"


def test_open_single_image_opens_its_folder_on_it(qtbot, make_window, images_dir):
    window = make_window()
    open_folder(qtbot, window, images_dir / "rocket.jpg")
    assert window.current == "rocket.jpg" and window.project.root == images_dir.resolve()


def test_a_folder_is_listed_off_the_gui_thread_and_shown_when_the_listing_arrives(
        qtbot, make_window, images_dir, monkeypatch):
    import threading

    from annotator.core.project import Project

    listed_on, release = [], threading.Event()
    real_images = Project.images

    def slow_images(project):
        listed_on.append(threading.current_thread())
        assert release.wait(10), "the test never released the listing"
        return real_images(project)

    monkeypatch.setattr(Project, "images", slow_images)
    window = make_window()
    assert window.open_path(images_dir)  # returns while the folder is still being listed
    qtbot.waitUntil(lambda: bool(listed_on), timeout=5000)
    assert listed_on[0] is not threading.main_thread()
    assert window.listing() and window.files.visible_images() == [] and window.current is None
    release.set()
    qtbot.waitUntil(lambda: not window.listing(), timeout=5000)
    assert window.files.visible_images() == ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg"]
    assert window.current == FIRST and window.document() is not None
    assert window.files.view.currentIndex().data().startswith(FIRST)


def test_an_image_opened_by_name_is_shown_before_its_folder_is_listed(qtbot, make_window, images_dir, monkeypatch):
    import threading

    from annotator.core.project import Project

    release = threading.Event()
    real_images = Project.images
    monkeypatch.setattr(Project, "images", lambda project: (release.wait(10), real_images(project))[1])
    window = make_window()
    window.open_path(images_dir / "coffee.png")
    assert window.current == "coffee.png" and window.document() is not None
    qtbot.waitUntil(lambda: window.pixels is not None, timeout=5000)
    release.set()
    qtbot.waitUntil(lambda: not window.listing(), timeout=5000)
    assert window.current == "coffee.png", "the listing does not move away from the image shown"
    assert window.files.view.currentIndex().data().startswith("coffee.png")
    key(qtbot, window, "D")
    assert window.current == "rocket.jpg"


def test_a_folders_first_image_is_drawn_once_with_its_pixels(qtbot, make_window, images_dir, monkeypatch):
    from annotator.gui.canvas import Canvas

    drawn, real = [], Canvas.set_document
    monkeypatch.setattr(Canvas, "set_document",
                        lambda self, doc, image: (drawn.append((doc is not None, image is not None)),
                                                  real(self, doc, image))[1])
    window = make_window()
    open_folder(qtbot, window, images_dir)
    assert window.current == FIRST and window.pixels is not None
    assert [d for d in drawn if d[0]] == [(True, True)], "not drawn first without its pixels, then again"


def test_a_batch_started_while_the_folder_is_listed_says_so(qtbot, make_window, images_dir, monkeypatch):
    import threading

    from annotator.core.project import Project
    from annotator.gui.dialogs import BatchDialog

    release, real_images = threading.Event(), Project.images
    monkeypatch.setattr(Project, "images", lambda project: (release.wait(10), real_images(project))[1])
    window = make_window()
    window.open_path(images_dir)
    window.prompt.classes.setText("sky")
    window.on_batch()
    dialog = window.findChild(BatchDialog)
    dialog.start.click()
    assert "still being listed" in dialog.status.text() and dialog.job_id is None
    release.set()
    qtbot.waitUntil(lambda: not window.listing(), timeout=5000)
    dialog.close()


def test_propose_review_undo_redo_with_shortcuts(qtbot, make_window, images_dir):
    window = make_window()
    open_folder(qtbot, window, images_dir)
    propose(qtbot, window)
    doc = window.document()
    proposals = doc.proposal_ids()
    assert proposals, "the tiny model proposes at least one region"
    assert all(s.source == "model" and not s.accepted and s.score is not None for s in doc.shapes())
    assert window.files.status(FIRST) == "proposed"
    table = window.shapes.table
    assert table.rowCount() == len(doc.shapes())
    assert [table.item(0, c).text() for c in (1, 3)] == ["model", "no"]

    key(qtbot, window, "Shift+Y")  # accept all
    assert doc.proposal_ids() == [] and window.files.status(FIRST) == "reviewed"
    key(qtbot, window, "Ctrl+Z")
    assert doc.proposal_ids() == proposals
    key(qtbot, window, "Ctrl+Shift+Z")
    assert doc.proposal_ids() == []
    key(qtbot, window, "Ctrl+Z")
    key(qtbot, window, "Ctrl+Y")
    assert doc.proposal_ids() == []
    key(qtbot, window, "Ctrl+Z")
    key(qtbot, window, "Ctrl+Z")  # undo the proposals themselves
    assert doc.shapes() == []
    key(qtbot, window, "Ctrl+Shift+Z")
    assert doc.proposal_ids() == proposals

    key(qtbot, window, "N")  # review loop: select the next pending proposal
    assert window.canvas.selected_ids() == [proposals[0]]
    assert window.shapes.selected_ids() == [proposals[0]]
    key(qtbot, window, "Y")
    assert doc.shape(proposals[0]).accepted
    if len(proposals) > 1:
        assert window.canvas.selected_ids() == [proposals[1]], "Y moves on to the next proposal"
        key(qtbot, window, "X")
        assert doc.shape(proposals[1]) is None
        if len(proposals) > 2:
            assert window.canvas.selected_ids() == [proposals[2]], "and so does X"
    # the classes typed are remembered per project and offered for completion
    assert window.project.settings.classes == "sky, person"
    assert {"sky", "person"} <= set(window.project.labels.names)


def test_result_lands_on_its_image_after_switching(qtbot, make_window, images_dir):
    window = make_window()
    open_folder(qtbot, window, images_dir)
    window.prompt.classes.setText("sky, person")
    key(qtbot, window, "Ctrl+Return")
    key(qtbot, window, "D")  # leave before the result arrives
    assert window.current == SECOND
    wait_idle(qtbot, window)
    assert window.document().shapes() == [], "a result for another image never lands here"
    path = window.project.annotation_path(FIRST)
    qtbot.waitUntil(path.exists, timeout=3000)  # applied to A's document, then autosaved
    saved = json.loads(path.read_text())
    assert saved["shapes"] and all(s["source"] == "model" for s in saved["shapes"])
    assert window.files.status(FIRST) == "proposed"
    key(qtbot, window, "A")
    assert len(window.document().shapes()) == len(saved["shapes"])
    key(qtbot, window, "Ctrl+Z")  # applied to A's open document: undoable there
    assert window.document().shapes() == []


def test_newer_proposal_supersedes_older_for_same_image(qtbot, make_window, images_dir):
    window = make_window()
    open_folder(qtbot, window, images_dir)
    window.prompt.classes.setText("sky")
    key(qtbot, window, "Ctrl+Return")
    window.prompt.classes.setText("cat, dog")
    key(qtbot, window, "Ctrl+Return")
    wait_idle(qtbot, window)
    labels = {s.label for s in window.document().shapes()}
    assert labels and labels <= {"cat", "dog"}
    assert window.document().undo_stack.count() == 1, "only the newest job's proposals were applied"


def test_gui_keeps_turning_while_the_model_loads_and_runs(qtbot, make_window, images_dir):
    """Loading the model, GradCAM passes, blur, CRF, polygons, routing: all on the engine thread,
    and the GUI's event loop turns during every engine call (GuiTurns: no timing)."""
    from annotator.gui.engine_worker import load_segmenter

    with GuiTurns() as gui:
        loads = []

        def factory(settings):
            loads.append(threading.current_thread().name)
            return gui.wrap(load_segmenter(settings))

        window = make_window(factory=factory)
        open_folder(qtbot, window, images_dir)
        propose(qtbot, window)
        window.heatmap.threshold.setValue(40)  # a slider re-run as well
        qtbot.waitUntil(lambda: window.document().undo_stack.count() == 2, timeout=60000)
        wait_idle(qtbot, window)
    assert window.document().shapes()
    assert loads and threading.main_thread().name not in loads, "the model loads off the GUI thread"
    # the slider's re-run: in the engine thread, or handed to the post-processing pool
    assert "segment" in gui.names and {"postprocess", "postprocess_async"} & set(gui.names), gui.names
    assert threading.main_thread().name not in gui.threads
    assert gui.stalled == [], f"the GUI loop did not turn during {gui.stalled}"


def test_gui_keeps_turning_during_dense_crf(qtbot, make_window, images_dir):
    from annotator.gui.engine_worker import load_segmenter

    with GuiTurns() as gui:
        window = make_window(factory=lambda settings: gui.wrap(load_segmenter(settings)))
        open_folder(qtbot, window, images_dir)
        propose(qtbot, window)
    assert window.document().shapes()
    assert gui.threads and threading.main_thread().name not in gui.threads
    assert gui.stalled == [], f"the GUI loop did not turn during {gui.stalled}"


def test_cancel_stops_the_running_job(qtbot, make_window, images_dir):
    window = make_window()
    open_folder(qtbot, window, images_dir)
    propose(qtbot, window)  # the model is loaded now: the next job is cancelled mid-image
    before = window.document().shapes()
    window.prompt.classes.setText("cat")
    passes = []
    window.client.progress.connect(lambda *a: passes.append(a))
    key(qtbot, window, "Ctrl+Return")
    qtbot.waitUntil(lambda: len(passes) >= 1, timeout=10000)
    key(qtbot, window, "Ctrl+.")
    wait_idle(qtbot, window)
    assert window.document().shapes() == before
    message = window.statusBar().currentMessage()
    assert message.startswith("Cancelled") and message.count("ancel") == 1, message
    assert max(p[3] for p in passes if p[2] == "pass") < 4


def test_heatmap_overlay_and_sliders_rerun_only_postprocessing(qtbot, make_window, images_dir):
    from annotator.gui.engine_worker import load_segmenter

    calls = {"segment": 0, "postprocess": 0}

    def counting(settings):
        seg = load_segmenter(settings)
        segment, postprocess = seg.segment, seg.postprocess

        def count_segment(*a, **k):
            calls["segment"] += 1
            return segment(*a, **k)

        def count_postprocess(*a, **k):
            calls["postprocess"] += 1
            return postprocess(*a, **k)

        later = seg.postprocess_async  # in the window's post-processing pool (core.postpool)

        def count_later(*a, **k):
            calls["postprocess"] += 1
            return later(*a, **k)

        seg.segment, seg.postprocess, seg.postprocess_async = count_segment, count_postprocess, count_later
        return seg

    window = make_window(factory=counting)
    open_folder(qtbot, window, images_dir)
    overlays = []
    original = window.canvas.set_overlay
    window.canvas.set_overlay = lambda rgba: (overlays.append(rgba), original(rgba))
    propose(qtbot, window, "sky, person")
    assert window.heatmap.classes.count() >= 1
    key(qtbot, window, "H")
    assert window.heatmap.show_overlay.isChecked()
    assert overlays and overlays[-1] is not None and overlays[-1].shape[2] == 4
    key(qtbot, window, "H")
    assert overlays[-1] is None

    doc = window.document()
    stack = doc.undo_stack.count()
    window.heatmap.threshold.setValue(90)
    qtbot.waitUntil(lambda: doc.undo_stack.count() == stack + 1, timeout=10000)
    wait_idle(qtbot, window)
    window.heatmap.tolerance.setValue(60)
    qtbot.waitUntil(lambda: doc.undo_stack.count() == stack + 2, timeout=10000)
    wait_idle(qtbot, window)
    assert calls["segment"] == 1, "sliders never call the model"
    assert calls["postprocess"] == 1, "a simplification move reuses the last label map"
    assert window.project.settings.simplify_tolerance == pytest.approx(1.5), "sliders act on this image only"
    window.heatmap.make_default.click()
    assert window.project.settings.simplify_tolerance == pytest.approx(6.0)
    assert window.project.settings.threshold == pytest.approx(0.9)


def test_unreadable_image_shows_error_and_list_moves_on(qtbot, make_window, images_dir):
    (images_dir / "broken.png").write_bytes(b"not a png at all")
    window = make_window()
    open_folder(qtbot, window, images_dir / "broken.png")
    assert window.current == "broken.png" and window.pixels is None and window.document() is None
    assert "broken.png" in window.statusBar().currentMessage()
    key(qtbot, window, "D")
    assert window.current == "chelsea.png"
    qtbot.waitUntil(lambda: window.pixels is not None, timeout=5000)


def test_edits_autosave_and_closing_keeps_them(qtbot, make_window, images_dir):
    import numpy as np

    from annotator.core.project import Project
    from annotator.core.shapes import Shape

    window = make_window()
    open_folder(qtbot, window, images_dir)
    square = np.array([[10, 10], [100, 10], [100, 100], [10, 100]], float)
    window.document().add_shape(Shape(label="cup", exterior=square))
    path = window.project.annotation_path(FIRST)
    qtbot.waitUntil(path.exists, timeout=3000)  # the debounced autosave
    window.document().add_shape(Shape(label="table", exterior=square + 200))
    window.close()  # before the debounce fires: closing must flush
    saved = Project.open(images_dir).load(FIRST)
    assert [s.label for s in saved.shapes] == ["cup", "table"]


def test_batch_labels_every_unannotated_image(qtbot, make_window, images_dir):
    from annotator.gui.dialogs import BatchDialog

    window = make_window()
    open_folder(qtbot, window, images_dir)
    propose(qtbot, window, "sky")
    first_shapes = [s.id for s in window.document().shapes()]
    window.prompt.classes.setText("sky, person")
    key(qtbot, window, "Ctrl+B")
    dialog = window.findChild(BatchDialog)
    assert dialog.isVisible() and not dialog.isModal() and dialog.classes.text() == "sky, person"
    dialog.start.click()
    qtbot.waitUntil(lambda: dialog.job_id is None, timeout=90000)
    assert dialog.image_bar.maximum() == 3, "the annotated image was skipped"
    assert [s.id for s in window.document().shapes()] == first_shapes
    for image in ("chelsea.png", "coffee.png", "rocket.jpg"):
        assert window.files.status(image) == "proposed"
    assert "Done" in dialog.status.text()
    dialog.close()


def test_run_app_opens_the_path_and_returns_when_closed(qtbot, private_settings, images_dir):
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from annotator.gui.app import run_app
    from annotator.gui.main_window import MainWindow

    seen = []

    def close_window():
        window = next(w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible())
        seen.append((window.current, window.project.root))
        window.close()

    QTimer.singleShot(300, close_window)
    assert run_app(str(images_dir / "coffee.png")) == 0
    assert seen == [("coffee.png", images_dir.resolve())]


def test_switching_project_drops_the_old_projects_results(qtbot, make_window, images_dir, tmp_path):
    import shutil

    other = tmp_path / "other"
    shutil.copytree(images_dir, other)
    window = make_window()
    open_folder(qtbot, window, images_dir)
    window.prompt.classes.setText("sky")
    key(qtbot, window, "Ctrl+Return")
    open_folder(qtbot, window, other)  # same image names, another folder
    wait_idle(qtbot, window)
    qtbot.wait(500)  # past the autosave delay
    assert window.document().shapes() == []
    assert not window.project.annotation_path(FIRST).exists()


def test_letter_shortcuts_do_not_fire_while_typing_classes(qtbot, make_window, images_dir):
    window = make_window()
    open_folder(qtbot, window, images_dir)
    window.prompt.classes.setFocus()
    qtbot.keyClicks(window.prompt.classes, "dyxhan")
    assert window.prompt.classes.text() == "dyxhan"
    assert window.current == FIRST and not window.heatmap.show_overlay.isChecked()


def test_statuses_come_from_the_index_off_the_gui_thread_and_images_are_decoded_ahead(
        qtbot, make_window, images_dir, monkeypatch):
    from annotator.core.annotations import ImageAnnotations
    from annotator.core.index import StatusIndex
    from annotator.core.project import Project
    from annotator.core.shapes import Shape

    square = [[1, 1], [30, 1], [30, 30], [1, 30]]
    project = Project.open(images_dir)
    project.save(ImageAnnotations(SECOND, 451, 300, [Shape("cat", square)]))
    project.save(ImageAnnotations("coffee.png", 400, 300, [Shape("cup", square, source="model", accepted=False)]))
    project.annotation_path("rocket.jpg").write_text("{damaged")
    parsed = []
    monkeypatch.setattr(StatusIndex, "_parse", lambda self, *a: parsed.append(a[0]))
    window = make_window()
    open_folder(qtbot, window, images_dir)
    qtbot.waitUntil(lambda: window.files.status("rocket.jpg") == "unreadable", timeout=30000)
    assert [window.files.status(i) for i in (FIRST, SECOND, "coffee.png")] == ["none", "reviewed", "proposed"]
    assert parsed == [], "the folder's files are parsed in a helper process, not in the window's"
    assert (project.state_dir / "index.json").exists()
    qtbot.waitUntil(lambda: window.images.cached((window.project.root, SECOND)) is not None, timeout=5000)
    key(qtbot, window, "D")
    assert window.current == SECOND and window.pixels is not None, "the neighbour was decoded ahead"


def test_a_replaced_image_of_another_size_is_reported_and_its_shapes_kept(qtbot, make_window, images_dir):
    from PySide6.QtWidgets import QMessageBox

    from annotator.core.annotations import ImageAnnotations
    from annotator.core.project import Project
    from annotator.core.shapes import Shape

    project = Project.open(images_dir)
    project.save(ImageAnnotations(FIRST, 1000, 900, [Shape("cat", [[1, 1], [30, 1], [30, 30]])]))
    window = make_window()
    open_folder(qtbot, window, images_dir)
    qtbot.waitUntil(lambda: window.findChild(QMessageBox) is not None, timeout=5000)
    assert "replaced" in window.findChild(QMessageBox).windowTitle().lower()
    assert [s.label for s in window.document().shapes()] == ["cat"]
