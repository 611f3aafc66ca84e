"""Exemplar instances -> proposals: already-annotated objects left out, boxed objects not returned reported."""

import numpy as np
import pytest

from annotator.core.exemplars import box_iou, exemplar_proposals, mask_iou
from annotator.core.shapes import Shape
from engine.base import Instance

SIZE = (100, 120)


def square(x0, y0, x1, y1, score=0.9):
    mask = np.zeros(SIZE, bool)
    mask[y0:y1, x0:x1] = True
    return Instance(0, score, (x0, y0, x1, y1), mask)


def rect_shape(x0, y0, x1, y1, **kw):
    return Shape("cup", [(x0, y0), (x1, y0), (x1, y1), (x0, y1)], **kw)


def test_instances_become_scored_proposals_of_the_class():
    made = exemplar_proposals([square(10, 10, 30, 30, 0.7), square(50, 10, 70, 30, 0.9)], "cup", [], SIZE,
                              [(9, 9, 31, 31)], tolerance=0)
    assert [s.score for s in made.shapes] == [0.9, 0.7]
    assert all(s.label == "cup" and s.source == "model" and not s.accepted for s in made.shapes)
    assert made.shapes[0].bbox == (50, 10, 20, 20) and made.duplicates == 0 and made.missed == []


@pytest.mark.parametrize("existing, left_out", [
    (rect_shape(10, 10, 30, 30), 1),  # human-made, the same pixels
    (rect_shape(10, 10, 30, 30, source="model", accepted=True), 1),  # accepted proposal
    (rect_shape(10, 10, 30, 30, source="model", accepted=False), 0),  # a pending proposal: not kept work
    (rect_shape(10, 10, 30, 28), 1),  # IoU 0.9
    (rect_shape(10, 10, 30, 25), 0),  # IoU 0.75 < 0.8: a different object
])
def test_already_annotated_objects_are_not_proposed(existing, left_out):
    made = exemplar_proposals([square(10, 10, 30, 30), square(50, 10, 70, 30, 0.8)], "cup", [existing], SIZE)
    assert made.duplicates == left_out and len(made.shapes) == 2 - left_out


def test_a_boxed_object_not_returned_is_reported():
    found = [square(50, 10, 70, 30)]
    made = exemplar_proposals(found, "cup", [rect_shape(80, 60, 100, 90)], SIZE,
                              [(49, 9, 71, 31), (5, 50, 25, 80), (80, 60, 100, 90)])
    assert made.missed == [(5, 50, 25, 80)], "matched by an instance or by a kept shape is not missed"


def test_ious_and_bad_input():
    a, b = np.zeros((4, 4), bool), np.zeros((4, 4), bool)
    assert mask_iou(a, b) == 0.0
    a[:2], b[1:3] = True, True
    assert mask_iou(a, b) == pytest.approx(4 / 12)
    assert box_iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert box_iou((0, 0, 1, 1), (2, 2, 3, 3)) == 0.0
    with pytest.raises(ValueError, match="instance mask is"):
        exemplar_proposals([Instance(0, 0.9, (0, 0, 1, 1), np.ones((3, 3), bool))], "cup", [], SIZE)
    with pytest.raises(ValueError, match="min_iou"):
        exemplar_proposals([], "cup", [], SIZE, min_iou=0)
