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


def test_completion_matches_inside_names_case_insensitively(qtbot, labels):
    dialog = make(qtbot, labels)
    completer = dialog.edit.completer()
    completer.setCompletionPrefix("PLANT")
    assert completer.currentCompletion() == "potted plant"


def test_picking_from_the_list_sets_the_name(qtbot, labels):
    dialog = make(qtbot, labels)
    dialog.list.setCurrentRow(2)
    assert dialog.label() == "Road"
    with qtbot.waitSignal(dialog.accepted):
        dialog.list.itemDoubleClicked.emit(dialog.list.item(0))
    assert dialog.label() == "sky"
