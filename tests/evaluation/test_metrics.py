"""Confusion-matrix arithmetic against matrices counted by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from annotator.core.evaluation.metrics import IGNORE, ConfusionMatrix, scores

# 3 classes, 10 pixels (one ignored). Pairs (gt, pred), counted by hand:
#   gt 0: pred 0, 0, 1        -> hist[0] = [2, 1, 0]
#   gt 1: pred 1, 1, 2, 0     -> hist[1] = [1, 2, 1]
#   gt 2: pred 2, 2           -> hist[2] = [0, 0, 2]
#   gt IGNORE: pred 2         -> skipped
GT = np.array([[0, 0, 0, 1, 1], [1, 1, 2, 2, IGNORE]])
PRED = np.array([[0, 0, 1, 1, 1], [2, 0, 2, 2, 2]])


def test_matrix_counts_each_pair_and_skips_ignored():
    cm = ConfusionMatrix(3)
    cm.add(GT, PRED)
    assert cm.hist.tolist() == [[2, 1, 0, 0], [1, 2, 1, 0], [0, 0, 2, 0]]


def test_scores_match_hand_computation():
    cm = ConfusionMatrix(3)
    cm.add(GT, PRED)
    sc = scores(cm.hist)
    # rows 3, 4, 2; columns 3, 3, 3; diagonal 2, 2, 2
    assert sc.iou.tolist() == pytest.approx([2 / 4, 2 / 5, 2 / 3])
    assert sc.miou == pytest.approx((2 / 4 + 2 / 5 + 2 / 3) / 3)
    assert sc.pixel_accuracy == pytest.approx(6 / 9)
    assert sc.mean_accuracy == pytest.approx((2 / 3 + 2 / 4 + 2 / 2) / 3)
    assert sc.fw_iou == pytest.approx(3 / 9 * 2 / 4 + 4 / 9 * 2 / 5 + 2 / 9 * 2 / 3)
    assert sc.gt_pixels.tolist() == [3, 4, 2]
    assert sc.pred_pixels.tolist() == [3, 3, 3]


def test_images_are_summed_not_averaged():
    one, two = ConfusionMatrix(2), ConfusionMatrix(2)
    a_gt, a_pred = np.array([0, 0, 0, 1]), np.array([0, 0, 0, 1])  # perfect, 4 px
    b_gt, b_pred = np.array([1, 1]), np.array([0, 0])  # all wrong, 2 px
    one.add(a_gt, a_pred)
    one.add(b_gt, b_pred)
    two.add(np.concatenate([a_gt, b_gt]), np.concatenate([a_pred, b_pred]))
    assert one.hist.tolist() == two.hist.tolist() == [[3, 0, 0], [2, 1, 0]]
    # Pooled IoU of class 1 is 1/3; the mean of per-image IoUs would be (1 + 0) / 2.
    assert scores(one.hist).iou[1] == pytest.approx(1 / 3)


def test_no_class_column_is_a_miss_for_the_ground_truth_only():
    cm = ConfusionMatrix(2)
    cm.add(np.array([0, 0, 1, 1]), np.array([0, cm.none, cm.none, 1]))
    assert cm.hist.tolist() == [[1, 0, 1], [0, 1, 1]]
    sc = scores(cm.hist)
    assert sc.iou.tolist() == pytest.approx([1 / 2, 1 / 2])  # unions 2 and 2, not 1
    assert sc.pixel_accuracy == pytest.approx(2 / 4)
    assert sc.pred_pixels.tolist() == [1, 1]


def test_mean_over_gt_skips_predicted_absent_classes_union_counts_them():
    cm = ConfusionMatrix(3)
    cm.add(np.array([0, 0, 1, 1]), np.array([0, 2, 1, 1]))  # class 2 predicted, never in GT
    by_gt, by_union = scores(cm.hist, "gt"), scores(cm.hist, "union")
    assert by_gt.counted.tolist() == [True, True, False]
    assert by_gt.miou == pytest.approx((1 / 2 + 1) / 2)
    assert by_union.counted.tolist() == [True, True, True]
    assert by_union.miou == pytest.approx((1 / 2 + 1 + 0) / 3)


def test_class_without_ground_truth_or_prediction_is_nan_and_excluded():
    cm = ConfusionMatrix(3)
    cm.add(np.array([0, 1]), np.array([0, 1]))
    sc = scores(cm.hist, "union")
    assert math.isnan(sc.iou[2]) and math.isnan(sc.accuracy[2])
    assert sc.miou == 1.0 and sc.mean_accuracy == 1.0


def test_square_matrix_is_accepted():
    sc = scores(np.array([[5, 1], [0, 4]]))
    assert sc.iou.tolist() == pytest.approx([5 / 6, 4 / 5])


def test_empty_matrix_has_no_scores():
    sc = scores(ConfusionMatrix(2).hist)
    assert math.isnan(sc.miou) and math.isnan(sc.pixel_accuracy)


def test_out_of_range_prediction_and_shape_mismatch_raise():
    cm = ConfusionMatrix(2)
    with pytest.raises(ValueError, match=r"\[0, 2\]"):
        cm.add(np.array([0, 1]), np.array([0, 3]))
    with pytest.raises(ValueError, match="differ in size"):
        cm.add(np.zeros((2, 2), int), np.zeros((2, 3), int))
    with pytest.raises(ValueError, match="mean_over"):
        scores(cm.hist, "images")


def test_ground_truth_at_or_above_n_is_skipped_as_in_the_released_code():
    cm = ConfusionMatrix(2)
    cm.add(np.array([0, 1, 2, 200]), np.array([0, 1, 1, 0]))
    assert cm.hist.sum() == 2
