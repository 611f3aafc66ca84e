"""Per-class thresholds (``ProposalSettings.class_thresholds``) reach both engines' post-processing."""

from __future__ import annotations

import numpy as np
import pytest

from annotator.core.pipeline import postprocess_overrides, postprocess_result
from annotator.core.proposal_settings import ProposalSettings
from engine import Segmenter
from engine.base import class_thresholds
from engine.sam3.postprocess import label_map_from_probabilities


def test_class_thresholds_resolve_against_the_result_classes():
    assert class_thresholds(None, ["a", "b"], 0.15) == 0.15
    assert class_thresholds(0.3, ["a", "b"], 0.15) == 0.3
    assert class_thresholds({"a": 0.4, None: None}, ["a"], 0.15) == 0.4
    np.testing.assert_array_equal(class_thresholds({"b": 0.9, None: 0.2}, ["a", "b", "c"], 0.15),
                                  np.float32([0.2, 0.9, 0.2]))
    np.testing.assert_array_equal(class_thresholds({"b": 0.9}, ["a", "b"], 0.15), np.float32([0.15, 0.9]))
    assert class_thresholds({"z": 0.9, None: 0.3}, ["a", "b"], 0.15) == 0.3  # a class not in the result
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        class_thresholds({"a": 1.5}, ["a", "b"], 0.15)


def test_the_record_sends_a_mapping_only_when_classes_have_their_own():
    class Seg:
        config = type("C", (), {"threshold": 0.15, "background": "auto"})()

    assert postprocess_overrides(Seg(), ProposalSettings(threshold=0.3)) == {"threshold": 0.3}
    assert postprocess_overrides(Seg(), ProposalSettings(threshold=0.3, class_thresholds={"sky": 0.6})) == \
        {"threshold": {"sky": 0.6, None: 0.3}}


def test_pnp_ovss_cuts_each_class_at_its_own_threshold(tiny_model_dir, samples_dir):
    seg = Segmenter.load(str(tiny_model_dir), device="cpu")
    result = seg.segment(sorted(samples_dir.iterdir())[0], ["cat", "sky", "grass"])
    names = list(result.classes)
    assert len(names) == 3
    same = seg.postprocess(result, threshold={n: 0.3 for n in names})
    np.testing.assert_array_equal(same, seg.postprocess(result, threshold=0.3))
    uniform = seg.postprocess(result, threshold=0.15)
    strict = postprocess_result(seg, result, ProposalSettings(class_thresholds={names[0]: 1.0})).label_map
    # only the first class's peak patch survives its threshold of 1.0: it shrinks, the others grow into it
    assert (strict == 1).sum() < (uniform == 1).sum()
    assert ((strict == 2) | (strict == 3)).sum() >= ((uniform == 2) | (uniform == 3)).sum()
    # the pool's path (a pending result finished elsewhere) cuts the same way
    (pending,) = seg.segment_batch_pending([sorted(samples_dir.iterdir())[0]], [["cat", "sky", "grass"]])
    wanted = postprocess_overrides(seg, ProposalSettings(class_thresholds={names[0]: 1.0}))
    np.testing.assert_array_equal(pending.finish(**wanted).label_map, strict)


def test_sam3_compares_each_pixel_with_its_winning_class_threshold():
    probs = np.zeros((2, 4, 4), np.float32)
    probs[0] = 0.6  # class 1 wins everywhere with 0.6 ...
    probs[1, :, :2] = 0.4
    both = label_map_from_probabilities(probs, (4, 4), 0.5)
    assert (both == 1).all()
    strict_first = label_map_from_probabilities(probs, (4, 4), np.float32([0.7, 0.3]))
    assert (strict_first == 0).all(), "a pixel is cut at its winner's threshold, not handed to the runner-up"
    loose = label_map_from_probabilities(probs, (4, 4), np.float32([0.55, 0.9]))
    assert (loose == 1).all()


def test_sam3_segmenter_takes_the_mapping(tiny_sam3_dir, samples_dir):
    seg = Segmenter.load(str(tiny_sam3_dir), device="cpu")
    result = seg.segment(sorted(samples_dir.iterdir())[0], ["cat", "sky"])
    names = list(result.classes)
    np.testing.assert_array_equal(seg.postprocess(result, threshold={n: 0.4 for n in names}),
                                  seg.postprocess(result, threshold=0.4))
    only_first = seg.postprocess(result, threshold={names[0]: 0.0, None: 1.0})
    assert set(np.unique(only_first)) <= {0, 1}
