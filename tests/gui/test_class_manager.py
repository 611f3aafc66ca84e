"""Edit > Classes on the real window: rename, merge, delete and recolour across the project."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication, QInputDialog, QMessageBox
from window_fixtures import images_dir, key, make_window, open_folder, private_settings  # noqa: F401

from annotator.core.annotations import ImageAnnotations
from annotator.core.project import Project
from annotator.core.shapes import Shape

pytestmark = pytest.mark.gui

SQUARE = np.array([[10, 10], [100, 10], [100, 100], [10, 100]], float)


def test_class_manager_edits_open_images_undoably_and_the_rest_on_disk(qtbot, make_window, images_dir,
                                                                       monkeypatch):
    from annotator.gui.dialogs import ClassManagerDialog

    seeded = Project.open(images_dir)
    for name in ("cat", "dog", "sky"):
        seeded.labels.add(name)
    seeded.save_settings()
    seeded.save(ImageAnnotations("coffee.png", 640, 400, [Shape("cat", SQUARE), Shape("sky", SQUARE + 200)]))
    window = make_window()
    open_folder(qtbot, window, images_dir)
    doc = window.document()
    doc.add_shape(Shape(label="cat", exterior=SQUARE, source="model", accepted=False, score=0.5))

    key(qtbot, window, "Ctrl+Shift+L")
    dialog = window.findChild(ClassManagerDialog)
    qtbot.waitUntil(lambda: dialog.count("cat") is not None, timeout=10000)
    assert (dialog.count("cat"), dialog.count("sky"), dialog.count("dog")) == (2, 1, 0)

    # rename through the button, answering the name prompt
    dialog.table.selectRow(0)
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("kitten", True))
    dialog.buttons["rename"].click()
    qtbot.waitUntil(lambda: not dialog.busy(), timeout=10000)
    assert window.project.labels.names == ["kitten", "dog", "sky"]
    assert doc.shapes()[0].label == "kitten" and not doc.shapes()[0].accepted, "review state kept"
    assert [s.label for s in Project.open(images_dir).load("coffee.png").shapes] == ["kitten", "sky"]
    assert "kitten" in window.shapes.table.item(0, 0).text()

    # merge into an existing class, then delete one with its shapes
    dialog.merge("kitten", "dog")
    qtbot.waitUntil(lambda: not dialog.busy(), timeout=10000)
    assert window.project.labels.names == ["dog", "sky"] and doc.shapes()[0].label == "dog"
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    dialog.table.selectRow(1)
    dialog.buttons["delete"].click()
    qtbot.waitUntil(lambda: not dialog.busy() and dialog.count("dog") is not None, timeout=10000)
    assert window.project.labels.names == ["dog"]
    assert [s.label for s in Project.open(images_dir).load("coffee.png").shapes] == ["dog"]
    assert dialog.count("dog") == 2

    window.project.labels.add("typo")  # a class no shape uses
    dialog._fill()
    dialog.buttons["unused"].click()
    qtbot.waitUntil(lambda: not dialog.busy(), timeout=10000)
    assert window.project.labels.names == ["dog"]

    dialog.recolour("dog", (1, 2, 3))
    assert window.project.labels.color("dog") == (1, 2, 3)
    assert window.canvas._layer.item(doc.shapes()[0].id).brush().color().red() == 1, "redrawn in the new colour"
    assert Project.open(images_dir).labels.color("dog") == (1, 2, 3), "saved"
    dialog.close()
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=3000)
    key(qtbot, window, "Ctrl+Z")  # on the open image, the merge is undone there
    assert doc.shapes()[0].label == "kitten"
