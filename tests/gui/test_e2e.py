"""The whole annotation loop on real widgets and the tiny random model.

Open a folder, propose, drag a vertex, undo, redo, accept, leave and come back,
export COCO (read back with pycocotools), import it into a fresh project.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QDialogButtonBox
from window_fixtures import (  # noqa: F401
    images_dir, key, make_window, open_folder, private_settings, propose, wait_idle,
)

FIRST = "astronaut.png"

pytestmark = pytest.mark.gui


def drag_vertex(qtbot, canvas, start, end) -> None:
    viewport = canvas.viewport()
    a = canvas.mapFromScene(QPointF(*start))
    b = canvas.mapFromScene(QPointF(*end))
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=a)
    for t in (0.25, 0.5, 0.75, 1.0):
        step = a + (b - a) * t
        qtbot.mouseMove(viewport, pos=step)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=b)


def test_annotate_export_import_round_trip(qtbot, make_window, images_dir, tmp_path):
    from pycocotools.coco import COCO

    from annotator.core.project import Project
    from annotator.gui.dialogs import ExportDialog, ImportDialog

    window = make_window()
    open_folder(qtbot, window, images_dir)
    propose(qtbot, window, "sky, person")
    doc = window.document()
    target = max(doc.shapes(), key=lambda s: s.area)  # a big region: its vertex is easy to grab
    window.canvas.select([target.id])
    x, y = target.exterior[0]
    w, h = doc.annotations.width, doc.annotations.height
    goal = (float(np.clip(x + 25, 1, w - 2)), float(np.clip(y + 20, 1, h - 2)))
    drag_vertex(qtbot, window.canvas, (x, y), goal)
    moved = doc.shape(target.id)
    assert moved.accepted, "a human edit accepts the proposal"
    assert np.allclose(moved.exterior[0], goal, atol=1.5)

    key(qtbot, window, "Ctrl+Z")
    assert np.allclose(doc.shape(target.id).exterior, target.exterior)
    assert not doc.shape(target.id).accepted
    key(qtbot, window, "Ctrl+Shift+Z")
    assert np.allclose(doc.shape(target.id).exterior[0], goal, atol=1.5)

    key(qtbot, window, "Shift+Y")
    assert doc.proposal_ids() == []
    edited = {s.id: s.exterior.copy() for s in doc.shapes()}

    key(qtbot, window, "D")
    assert window.current != FIRST
    key(qtbot, window, "A")
    back = window.document()
    assert {s.id for s in back.shapes()} == set(edited)
    assert all(np.allclose(back.shape(i).exterior, e) for i, e in edited.items())
    assert Project.open(images_dir).load(FIRST).status == "reviewed", "saved on the switch"

    out = tmp_path / "export.json"
    export = ExportDialog(window.project, window)
    export.path.edit.setText(str(out))
    export.accepted_only.setChecked(True)
    export.segmentation.setCurrentText("polygon")
    export.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    qtbot.waitUntil(lambda: not export.running(), timeout=30000)  # a background job
    assert out.exists(), export.report.text()
    coco = COCO(str(out))
    image_id = next(i["id"] for i in coco.dataset["images"] if i["file_name"] == FIRST)
    anns = coco.loadAnns(coco.getAnnIds(imgIds=[image_id]))
    assert len(anns) == len(edited)
    names = {coco.loadCats(a["category_id"])[0]["name"] for a in anns}
    assert names <= {"sky", "person"}
    assert all(coco.annToMask(a).sum() > 0 for a in anns)

    fresh = tmp_path / "fresh"
    shutil.copytree(images_dir, fresh, ignore=shutil.ignore_patterns(".pnp-annotator"))
    open_folder(qtbot, window, fresh)
    assert window.files.status(FIRST) == "none"
    window.on_import_coco()
    importer = window.findChild(ImportDialog)
    importer.path.edit.setText(str(out))
    importer.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    qtbot.waitUntil(lambda: not importer.running(), timeout=30000)
    assert "Imported" in importer.report.text(), importer.report.text()
    qtbot.waitUntil(lambda: window.files.status(FIRST) == "reviewed", timeout=10000)  # the index, off-thread
    imported = window.document().shapes()
    assert len(imported) == len(edited)
    assert {s.label for s in imported} == names
    wait_idle(qtbot, window)


def test_export_and_import_run_in_the_background_and_cancel_writes_nothing(qtbot, make_window, images_dir,
                                                                            tmp_path, monkeypatch):
    import threading

    from annotator.core import coco
    from annotator.gui.dialogs import ExportDialog, ImportDialog
    from annotator.gui.dialogs import coco as coco_dialogs

    window = make_window()
    open_folder(qtbot, window, images_dir)
    release, threads = threading.Event(), []
    real_export = coco.export_coco

    def slow_export(project, out, **kw):
        threads.append(threading.current_thread())
        kw["progress"](0, 4)
        release.wait(10)  # the user presses Cancel meanwhile
        return real_export(project, out, **kw)

    monkeypatch.setattr(coco_dialogs, "export_coco", slow_export)
    out = tmp_path / "cancelled.json"
    export = ExportDialog(window.project, window)
    export.path.edit.setText(str(out))
    export.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    qtbot.waitUntil(lambda: export.progress.maximum() == 4, timeout=5000)
    assert export.running() and threads[0] is not threading.main_thread()
    export.reject()  # Cancel
    release.set()
    qtbot.waitUntil(lambda: not export.running(), timeout=10000)
    assert "cancelled" in export.report.text() and not out.exists()

    monkeypatch.setattr(coco_dialogs, "export_coco", real_export)
    good = tmp_path / "good.json"
    export.path.edit.setText(str(good))
    export.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    qtbot.waitUntil(lambda: not export.running(), timeout=30000)
    assert good.exists()

    def annotation_files():
        # index.json is the status cache that the window's background status scan (opened with the
        # folder) writes whenever it finishes: not something the import wrote (the import's own
        # index lines are cut back on a cancel); the race failed this test once in three full-suite runs
        return sorted(p.name for p in window.project.state_dir.rglob("*.json") if p.name != "index.json")

    before = annotation_files()
    importer = ImportDialog(window.project, window)
    importer.path.edit.setText(str(good))
    real_import = coco.import_coco

    def cancelled_import(project, path, **kw):
        kw["cancel"].set()  # as if Cancel was pressed before the writing started
        return real_import(project, path, **kw)

    monkeypatch.setattr(coco_dialogs, "import_coco", cancelled_import)
    importer.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    qtbot.waitUntil(lambda: not importer.running(), timeout=30000)
    assert "cancelled" in importer.report.text()
    assert annotation_files() == before
