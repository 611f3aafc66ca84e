"""AnnotationDocument: every edit is one undoable, redoable command."""

from __future__ import annotations

import numpy as np
import pytest

from annotator.core.annotations import ImageAnnotations
from annotator.core.shapes import Shape
from annotator.gui.document import AnnotationDocument

SQUARE = [[10, 10], [60, 10], [60, 60], [10, 60]]
HOLE = [[30, 30], [40, 30], [40, 40], [30, 40]]


def human(label="cat", exterior=SQUARE, holes=()):
    return Shape(label=label, exterior=exterior, holes=list(holes))


def proposal(label="sky", dx=0):
    return Shape(label=label, exterior=np.array(SQUARE) + [dx, 100], source="model", score=0.8, accepted=False)


@pytest.fixture
def doc(qtbot):
    ann = ImageAnnotations("a.png", 200, 200, [human(holes=[HOLE]), proposal()])
    return AnnotationDocument(ann)


def snapshot(doc):
    return [s.copy() for s in doc.shapes()]


def check_undo_redo(doc, before, after_edit):
    """One command was pushed; undo restores `before`, redo restores the edited state."""
    after = snapshot(doc)
    assert after != before
    assert after_edit(after) is not False
    assert doc.undo_stack.count() == 1
    doc.undo_stack.undo()
    assert snapshot(doc) == before
    doc.undo_stack.redo()
    assert snapshot(doc) == after


def test_add_shape(doc, qtbot):
    before = snapshot(doc)
    new = human("dog", exterior=[[0, 0], [5, 0], [5, 5]])
    with qtbot.waitSignal(doc.changed):
        doc.add_shape(new)
    check_undo_redo(doc, before, lambda after: after[-1] == new)
    with pytest.raises(ValueError, match="already"):
        doc.add_shape(new)


def test_remove_shapes_restores_order_on_undo(doc):
    before = snapshot(doc)
    doc.remove_shapes([before[0].id])
    check_undo_redo(doc, before, lambda after: [s.id for s in after] == [before[1].id])


def test_set_geometry_accepts_a_proposal_and_keeps_holes_given(doc):
    before = snapshot(doc)
    target = before[1]
    moved = target.exterior + 5
    doc.set_geometry(target.id, moved, [])
    edited = doc.shape(target.id)
    assert np.array_equal(edited.exterior, moved)
    assert edited.accepted and edited.source == "model"

    check_undo_redo(doc, before, lambda after: None)
    doc.undo_stack.undo()
    assert not doc.shape(target.id).accepted  # undo takes the acceptance back too


def test_set_geometry_validates_rings(doc):
    with pytest.raises(ValueError, match="at least 3"):
        doc.set_geometry(doc.shapes()[0].id, [[0, 0], [1, 1]], [])
    assert doc.undo_stack.count() == 0


def test_set_label_relabels_and_accepts(doc):
    before = snapshot(doc)
    ids = [s.id for s in before]
    doc.set_label(ids, "tree")
    assert [s.label for s in doc.shapes()] == ["tree", "tree"]
    assert all(s.accepted for s in doc.shapes())
    check_undo_redo(doc, before, lambda after: None)


def test_accept_and_reject(doc):
    before = snapshot(doc)
    prop_id = before[1].id
    doc.accept([prop_id])
    check_undo_redo(doc, before, lambda after: after[1].accepted)

    doc2 = AnnotationDocument(ImageAnnotations("b.png", 200, 200, [s.copy() for s in before]))
    doc2.reject([before[0].id, prop_id])  # the human shape is not a proposal: kept
    assert [s.id for s in doc2.shapes()] == [before[0].id]
    check_undo_redo(doc2, before, lambda after: None)


def test_accept_and_reject_all(qtbot):
    shapes = [human(), proposal("sky"), proposal("road", dx=70)]
    doc = AnnotationDocument(ImageAnnotations("a.png", 200, 200, shapes))
    before = snapshot(doc)
    doc.accept_all_proposals()
    assert doc.annotations.status == "reviewed"
    doc.undo_stack.undo()
    assert doc.annotations.status == "proposed"
    doc.reject_all_proposals()
    assert [s.id for s in doc.shapes()] == [shapes[0].id]
    doc.undo_stack.undo()
    assert snapshot(doc) == before
    assert doc.undo_stack.count() == 1  # the new edit replaced the undone accept
    doc.undo_stack.redo()
    assert doc.annotations.status == "reviewed" and len(doc.shapes()) == 1


def test_apply_proposals_replaces_pending_ones_only(doc):
    before = snapshot(doc)
    fresh = [proposal("grass", dx=20), proposal("water", dx=80)]
    doc.apply_proposals(fresh)
    labels = [s.label for s in doc.shapes()]
    assert labels == ["cat", "grass", "water"]
    check_undo_redo(doc, before, lambda after: None)


def test_apply_proposals_keeps_accepted_model_shapes(doc):
    prop_id = doc.shapes()[1].id
    doc.accept([prop_id])
    doc.apply_proposals([proposal("grass")])
    assert prop_id in [s.id for s in doc.shapes()]
    assert doc.undo_stack.count() == 2


def test_no_op_edits_push_nothing(doc):
    human_id = doc.shapes()[0].id
    doc.accept([human_id])  # already accepted
    doc.reject([human_id])  # not a proposal
    doc.remove_shapes([])
    doc.set_label([human_id], "cat")  # same label, already accepted
    assert doc.undo_stack.count() == 0


def test_unknown_ids_raise_with_the_id(doc):
    with pytest.raises(KeyError, match="nope"):
        doc.remove_shapes(["nope"])
    with pytest.raises(KeyError, match="nope"):
        doc.set_geometry("nope", SQUARE, [])


def test_edits_never_mutate_shapes_in_place(doc):
    """The canvas redraws by object identity, so an old Shape must keep its old data."""
    old = doc.shapes()[0]
    old_ext = old.exterior.copy()
    doc.set_geometry(old.id, old.exterior + 1, old.holes)
    assert np.array_equal(old.exterior, old_ext)
    assert doc.shape(old.id) is not old
    doc.undo_stack.undo()
    assert doc.shape(old.id) is old


def test_set_parts_replaces_all_geometry_in_one_undoable_command(doc):
    from annotator.core.shapes import Part
    target = doc.shapes()[0]
    parts = [Part(np.array(SQUARE) + 50), Part(np.array(SQUARE) + 200)]
    doc.set_parts(target.id, parts)
    edited = doc.shape(target.id)
    assert edited.parts == parts and edited.accepted and edited.id == target.id
    doc.undo_stack.undo()
    assert doc.shape(target.id) is target


def test_set_iscrowd_toggles_in_one_command_and_skips_no_ops(doc):
    ids = [s.id for s in doc.shapes()]
    count = doc.undo_stack.count()
    doc.set_iscrowd(ids, True)
    assert all(doc.shape(i).iscrowd for i in ids) and doc.undo_stack.count() == count + 1
    doc.set_iscrowd(ids, True)  # nothing changes: no command
    assert doc.undo_stack.count() == count + 1
    doc.undo_stack.undo()
    assert not any(doc.shape(i).iscrowd for i in ids)


def test_set_geometry_on_a_multi_part_shape_edits_the_first_part_only(doc):
    from annotator.core.shapes import Part
    target = doc.shapes()[0]
    doc.set_parts(target.id, [Part(np.array(SQUARE)), Part(np.array(SQUARE) + 300)])
    doc.set_geometry(target.id, np.array(SQUARE) + 1, [])
    edited = doc.shape(target.id)
    assert len(edited.parts) == 2 and np.array_equal(edited.parts[1].exterior, np.array(SQUARE) + 300)
