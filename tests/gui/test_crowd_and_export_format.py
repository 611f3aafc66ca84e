"""Shape list Crowd toggle (one undoable command) and the export dialog's format choice."""

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox
from window_fixtures import images_dir, make_window, open_folder, private_settings  # noqa: F401

from annotator.core.shapes import Part, Shape
from annotator.gui.shape_list import CROWD_COLUMN

SQUARE = np.array([[10, 10], [60, 10], [60, 60], [10, 60]], float)


def test_crowd_box_toggles_iscrowd_undoably_and_parts_are_shown(qtbot, make_window, images_dir):
    window = make_window()
    open_folder(qtbot, window, images_dir)
    doc = window.document()
    doc.add_shape(Shape("cup", parts=[Part(SQUARE), Part(SQUARE + 100)]))
    table = window.shapes.table
    assert table.item(0, 0).text() == "cup (2 parts)"
    box = table.item(0, CROWD_COLUMN)
    assert box.checkState() == Qt.CheckState.Unchecked
    box.setCheckState(Qt.CheckState.Checked)  # what a click on the box does
    assert doc.shapes()[0].iscrowd
    assert window.shapes.table.item(0, CROWD_COLUMN).checkState() == Qt.CheckState.Checked
    doc.undo_stack.undo()
    assert not doc.shapes()[0].iscrowd
    assert window.shapes.table.item(0, CROWD_COLUMN).checkState() == Qt.CheckState.Unchecked


def test_export_dialog_writes_semantic_pngs(qtbot, make_window, images_dir, tmp_path):
    from annotator.gui.dialogs import ExportDialog

    window = make_window()
    open_folder(qtbot, window, images_dir)
    cup = window.project.labels.add("cup").id
    window.document().add_shape(Shape("cup", SQUARE))
    window.store.flush()
    dialog = ExportDialog(window.project, window)
    qtbot.addWidget(dialog)
    assert not dialog.unlabeled.isEnabled()
    dialog.format.setCurrentIndex(1)
    assert dialog.chosen_format() == "semantic-png" and not dialog.segmentation.isEnabled()
    assert dialog.path.edit.text().endswith("_masks")
    out = tmp_path / "masks"
    dialog.path.edit.setText(str(out))
    dialog.unlabeled.setCurrentText("255")
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    qtbot.waitUntil(lambda: not dialog.running(), timeout=30000)  # a background job
    assert "Wrote 1 label PNGs" in dialog.report.text(), dialog.report.text()
    (png,) = (out / "labels").rglob("*.png")
    lm = np.array(Image.open(png))
    assert (lm[10:60, 10:60] == cup).all() and lm[0, 0] == 255 and set(np.unique(lm)) == {cup, 255}


def test_merge_and_split_from_the_edit_menu(qtbot, make_window, images_dir):
    window = make_window()
    open_folder(qtbot, window, images_dir)
    doc = window.document()
    a, b = Shape("cup", SQUARE), Shape("cup", SQUARE + 100)
    doc.add_shape(a)
    doc.add_shape(b)
    window.canvas.select([a.id, b.id])
    window.actions["merge_shapes"].trigger()
    assert [len(s.parts) for s in doc.shapes() if s.label == "cup"] == [2]
    assert window.canvas.selected_ids() == [a.id]
    window.actions["split_shape"].trigger()
    assert [len(s.parts) for s in doc.shapes() if s.label == "cup"] == [1, 1]
    assert len(window.canvas.selected_ids()) == 2


def test_import_dialog_reads_semantic_pngs(qtbot, make_window, images_dir, tmp_path):
    from annotator.core.semantic import export_semantic
    from annotator.gui.dialogs import ImportDialog

    window = make_window()
    open_folder(qtbot, window, images_dir)
    window.project.labels.add("cup")
    window.document().add_shape(Shape("cup", SQUARE))
    window.store.flush()
    export_semantic(window.project, tmp_path / "masks")
    rel = window.current
    window.on_import_coco()
    dialog = window.findChild(ImportDialog)
    dialog.format.setCurrentIndex(1)
    dialog.path.edit.setText(str(tmp_path / "masks"))
    dialog.replace.setChecked(True)
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    qtbot.waitUntil(lambda: not dialog.running(), timeout=30000)  # the import runs in the background
    assert "Imported 1 shapes" in dialog.report.text(), dialog.report.text()
    window.show_image(rel)
    (shape,) = window.document().shapes()
    assert shape.label == "cup" and shape.area == 50 * 50
