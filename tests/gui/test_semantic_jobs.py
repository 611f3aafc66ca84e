"""Semantic-PNG export and import in the window: progress per image, Cancel writes nothing."""

from __future__ import annotations

import threading

import numpy as np
from PySide6.QtWidgets import QDialogButtonBox
from window_fixtures import images_dir, make_window, open_folder, private_settings  # noqa: F401

from annotator.core.shapes import Shape

SQUARE = np.array([[10, 10], [60, 10], [60, 60], [10, 60]], float)


def _held_at_first_image(real, release: threading.Event, seen: list):
    """*real* with its progress callback held at the first image until *release* (the user
    presses Cancel meanwhile); everything else is the real export/import."""

    def held(project, path, **kw):
        report = kw["progress"]

        def progress(done, total):
            seen.append((done, total))
            report(done, total)
            if done == 1:
                release.wait(10)

        return real(project, path, **{**kw, "progress": progress})

    return held


def _annotate_every_image(window) -> None:
    window.project.labels.add("cup")
    for rel in window.project.images():
        window.show_image(rel)
        window.document().add_shape(Shape("cup", SQUARE))
    window.store.flush()


def test_semantic_export_shows_progress_and_cancel_writes_nothing(qtbot, make_window, images_dir, tmp_path,
                                                                   monkeypatch):
    from annotator.gui.dialogs import ExportDialog
    from annotator.gui.dialogs import coco as coco_dialogs

    window = make_window()
    open_folder(qtbot, window, images_dir)
    _annotate_every_image(window)
    total = len(window.project.images())
    release, seen = threading.Event(), []
    monkeypatch.setattr(coco_dialogs, "export_semantic", _held_at_first_image(coco_dialogs.export_semantic,
                                                                              release, seen))
    dialog = ExportDialog(window.project, window)
    qtbot.addWidget(dialog)
    dialog.format.setCurrentIndex(1)
    out = tmp_path / "masks"
    dialog.path.edit.setText(str(out))
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    qtbot.waitUntil(lambda: dialog.progress.maximum() == total and dialog.progress.value() == 1, timeout=10000)
    assert dialog.running() and not dialog.progress.isHidden()
    dialog.reject()  # Cancel
    release.set()
    qtbot.waitUntil(lambda: not dialog.running(), timeout=10000)
    assert "cancelled" in dialog.report.text() and not out.exists()
    assert seen == [(0, total), (1, total)]

    release.set()  # again, to the end
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    qtbot.waitUntil(lambda: not dialog.running(), timeout=30000)
    assert f"Wrote {total} label PNGs" in dialog.report.text(), dialog.report.text()
    assert seen[-1] == (total, total)


def test_semantic_import_shows_progress_and_cancel_changes_nothing(qtbot, make_window, images_dir, tmp_path,
                                                                    monkeypatch):
    from annotator.core.semantic import export_semantic
    from annotator.gui.dialogs import ImportDialog
    from annotator.gui.dialogs import coco as coco_dialogs

    window = make_window()
    open_folder(qtbot, window, images_dir)
    _annotate_every_image(window)
    export_semantic(window.project, tmp_path / "masks")
    files = {p: p.read_bytes() for p in window.project.state_dir.rglob("*.*.json")}
    release, seen = threading.Event(), []
    monkeypatch.setattr(coco_dialogs, "import_semantic", _held_at_first_image(coco_dialogs.import_semantic,
                                                                              release, seen))
    dialog = ImportDialog(window.project, window)
    qtbot.addWidget(dialog)
    dialog.format.setCurrentIndex(1)
    dialog.path.edit.setText(str(tmp_path / "masks"))
    dialog.replace.setChecked(True)
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    total = len(window.project.images())
    qtbot.waitUntil(lambda: dialog.progress.maximum() == total and dialog.progress.value() == 1, timeout=10000)
    dialog.reject()  # Cancel
    release.set()
    qtbot.waitUntil(lambda: not dialog.running(), timeout=10000)
    assert "cancelled" in dialog.report.text()
    assert {p: p.read_bytes() for p in window.project.state_dir.rglob("*.*.json")} == files
