"""Label chooser: completion from the LabelSet, canonical spelling, no empty answer."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox

from annotator.core.labels import LabelSet
from annotator.gui.label_dialog import LabelDialog


@pytest.fixture
def labels():
    ls = LabelSet()
    for name in ("sky", "potted plant", "Road"):
        ls.add(name)
    return ls


def make(qtbot, labels, current=None):
    dialog = LabelDialog(labels, current)
    qtbot.addWidget(dialog)
    return dialog


def test_starts_from_the_current_label(qtbot, labels):
    dialog = make(qtbot, labels, "sky")
    assert dialog.edit.text() == "sky"
    assert dialog.list.currentItem().text() == "sky"


def test_known_name_comes_back_in_its_own_spelling(qtbot, labels):
    dialog = make(qtbot, labels)
    dialog.edit.setText("  road ")
    assert dialog.label() == "Road"
    dialog.edit.setText("tree")
    assert dialog.label() == "tree"  # new names are allowed; the dialog does not add them
    assert "tree" not in labels


def test_empty_name_cannot_be_accepted(qtbot, labels):
    dialog = make(qtbot, labels)
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert not ok.isEnabled()
    dialog.accept()
    assert dialog.result() != QDialog.DialogCode.Accepted
    dialog.edit.setText("sky")
    assert ok.isEnabled()
    dialog.accept()
    assert dialog.result() == QDialog.DialogCode.Accepted


def test_typing_filters_the_list_inside_names_case_insensitively(qtbot, labels):
    dialog = make(qtbot, labels)
    qtbot.keyClicks(dialog.edit, "PLANT")
    shown = [dialog.list.item(r).text() for r in range(dialog.list.count()) if not dialog.list.item(r).isHidden()]
    assert shown == ["potted plant"]
    assert dialog.label() == "potted plant" and "potted plant" in dialog.hint.text()


def test_enter_takes_the_highlighted_class_not_the_half_typed_text(qtbot):
    ls = LabelSet()
    for name in ("grass", "gravel", "sky"):
        ls.add(name)
    dialog = make(qtbot, ls)
    dialog.show()
    qtbot.keyClicks(dialog.edit, "gra")
    assert dialog.edit.completer() is None, "no popup that eats the first Enter"
    with qtbot.waitSignal(dialog.accepted, timeout=1000):
        qtbot.keyClick(dialog.edit, Qt.Key.Key_Return)  # one Enter
    assert dialog.label() == "grass"


def test_up_past_the_first_match_makes_the_typed_text_a_new_class(qtbot):
    ls = LabelSet()
    for name in ("grass", "gravel"):
        ls.add(name)
    dialog = make(qtbot, ls)
    dialog.show()
    qtbot.keyClicks(dialog.edit, "gra")
    qtbot.keyClick(dialog.edit, Qt.Key.Key_Down)
    assert dialog.label() == "gravel"
    qtbot.keyClick(dialog.edit, Qt.Key.Key_Up)
    qtbot.keyClick(dialog.edit, Qt.Key.Key_Up)
    assert dialog.label() == "gra" and "new class" in dialog.hint.text()
    qtbot.keyClicks(dialog.edit, "nite")  # typing again highlights what matches, here nothing
    assert dialog.label() == "granite"


def test_picking_from_the_list_sets_the_name(qtbot, labels):
    dialog = make(qtbot, labels)
    dialog.list.setCurrentRow(2)
    assert dialog.label() == "Road"
    with qtbot.waitSignal(dialog.accepted):
        dialog.list.itemDoubleClicked.emit(dialog.list.item(0))
    assert dialog.label() == "sky"
