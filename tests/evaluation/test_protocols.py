"""Label mapping of the reference and standard protocols, checked value by value."""

from __future__ import annotations

import numpy as np
import pytest

from annotator.core.evaluation.datasets import INFOS
from annotator.core.evaluation.metrics import IGNORE
from annotator.core.evaluation.protocols import engine_overrides, eval_space, prompt_names


def gt(key, protocol, values):
    return eval_space(INFOS[key], protocol).gt_labels(np.array(values, dtype=np.uint8)).tolist()


def test_reference_counts_background_and_voc_void_as_background():
    assert gt("voc", "reference", [0, 15, 20, 255]) == [0, 15, 20, 0]
    assert gt("context", "reference", [0, 59]) == [0, 59]
    assert gt("ade20k", "reference", [0, 150]) == [0, 150]
    assert gt("coco-object", "reference", [0, 90, 91]) == [0, 90, IGNORE]  # >= n_class skipped
    assert gt("coco-stuff", "reference", [0, 182, 183]) == [0, 182, IGNORE]
    sizes = {k: eval_space(info, "reference").n for k, info in INFOS.items()}
    assert sizes == {"voc": 21, "context": 60, "coco-object": 91, "coco-stuff": 183, "ade20k": 151}


def test_standard_ignores_void_and_reduces_the_zero_label():
    assert gt("voc", "standard", [0, 15, 255]) == [0, 15, IGNORE]
    assert gt("context", "standard", [0, 1, 59, 255]) == [IGNORE, 0, 58, IGNORE]
    assert gt("ade20k", "standard", [0, 1, 150]) == [IGNORE, 0, 149]
    assert gt("coco-stuff", "standard", [0, 1, 12, 18, 92, 157, 182]) == [IGNORE, 0, IGNORE, 16, 80, 145, 170]
    assert gt("coco-object", "standard", [0, 1, 18, 90, 12]) == [0, 1, 17, 80, IGNORE]
    sizes = {k: eval_space(info, "standard").n for k, info in INFOS.items()}
    assert sizes == {"voc": 21, "context": 59, "coco-object": 81, "coco-stuff": 171, "ade20k": 150}


def test_standard_names_line_up_with_indices():
    stuff = eval_space(INFOS["coco-stuff"], "standard")
    assert stuff.names[145] == "sky" and stuff.names[16] == "dog" and stuff.names[80] == "banner"
    obj = eval_space(INFOS["coco-object"], "standard")
    assert obj.names[0] == "background" and obj.names[17] == "dog" and obj.names[80] == "toothbrush"
    assert eval_space(INFOS["voc"], "reference").names[16] == "pottedplant"


def test_prediction_uses_a_lookup_table_not_the_in_place_remap():
    # VOC classes [2, 1] (bicycle, aeroplane): channel 1 -> id 2, channel 2 -> id 1.
    # The released loop, writing id 1 into channel 2's pixels first and then id 2 into
    # every pixel equal to 1, would turn both classes into 2 (spec 6.7).
    space = eval_space(INFOS["voc"], "reference")
    assert space.pred_labels(np.array([0, 1, 2]), [2, 1]).tolist() == [0, 2, 1]


def test_unlabeled_prediction_is_background_or_no_class():
    assert eval_space(INFOS["voc"], "standard").pred_labels(np.array([0, 1]), [15]).tolist() == [0, 15]
    ade = eval_space(INFOS["ade20k"], "standard")
    assert ade.pred_labels(np.array([0, 1]), [3]).tolist() == [150, 2]  # 150 = "no class" column
    assert eval_space(INFOS["ade20k"], "reference").pred_labels(np.array([0, 1]), [3]).tolist() == [0, 3]


def test_label_map_beyond_the_class_list_raises():
    with pytest.raises(ValueError, match="outside"):
        eval_space(INFOS["voc"], "reference").pred_labels(np.array([0, 2]), [15])


def test_prompt_names_are_one_word_for_reference_and_natural_for_standard():
    ref, std = prompt_names(INFOS["coco-stuff"], "reference"), prompt_names(INFOS["coco-stuff"], "standard")
    assert (ref[10], ref[96], ref[180]) == ("trafficlight", "buildingother", "windowblind")
    assert (std[10], std[96], std[180]) == ("traffic light", "building", "window blind")
    assert prompt_names(INFOS["ade20k"], "reference")[45] == "chestofdrawers"
    assert prompt_names(INFOS["voc"], "standard")[20] == "tv monitor"
    for protocol in ("reference", "standard"):
        for info in INFOS.values():
            names = list(prompt_names(info, protocol).values())
            shared = len(names) - len(set(names))
            assert shared == (1 if (protocol, info.key) == ("reference", "ade20k") else 0)
            if protocol == "reference":
                assert all(" " not in n and "-" not in n for n in names)


def test_reference_ade20k_uses_the_released_code_names():
    ref = prompt_names(INFOS["ade20k"], "reference")
    assert (ref[14], ref[57], ref[59], ref[131], ref[137], ref[139]) == (
        "ground", "billiardtable", "screen", "screen", "trafficlight", "trashcan")
    std = prompt_names(INFOS["ade20k"], "standard")
    assert (std[14], std[59], std[131]) == ("earth", "screen door", "screen")


def test_engine_settings_follow_spec_6_4_and_the_ade_loader():
    assert engine_overrides(INFOS["voc"], "reference") == {"background": "always"}
    assert engine_overrides(INFOS["coco-object"], "standard") == {"background": "always"}
    assert engine_overrides(INFOS["context"], "reference") == {"background": "auto"}
    assert engine_overrides(INFOS["coco-stuff"], "standard") == {"background": "never"}
    assert engine_overrides(INFOS["ade20k"], "reference") == {
        "background": "auto", "resample": "bilinear", "mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0)}
    assert engine_overrides(INFOS["ade20k"], "standard") == {"background": "never"}


def test_unknown_protocol_is_refused():
    with pytest.raises(ValueError, match="protocol"):
        eval_space(INFOS["voc"], "mmseg")
