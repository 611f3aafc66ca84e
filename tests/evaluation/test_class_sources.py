"""Per-image class lists: ground truth, presence, name-list files and raw GPT-4o answers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from annotator.core.evaluation.class_sources import ClassListError, class_source, parse_gpt_answer
from annotator.core.evaluation.datasets import INFOS

VOC, PC, COCO_OBJ, STUFF = INFOS["voc"], INFOS["context"], INFOS["coco-object"], INFOS["coco-stuff"]


@pytest.mark.parametrize("text, expected", [
    ("[55: 'tvmonitor', 58: 'window'], [90, 70]", [55]),  # 70 is not > 70
    ("[55: 'tvmonitor', 58: 'window'], [90%, 71%]", [55, 58]),
    ("[58: 'window', 55: 'tvmonitor']\n,\n[95, 80]", [58, 55]),  # GPT order kept
    ("[3: 'bed']\n[90]", [3]),
    ("[55: 'tvmonitor', 58: 'window']", [55, 58]),  # no confidences: all kept (COCO script)
    ("[55: 'tvmonitor', 58: 'window'], [90]", [55]),  # classes beyond the confidences skipped
    ("[tv: 'tvmonitor', 58: 'window'], [90, 90]", [58]),  # non-numeric id skipped (COCO-Stuff script)
    ("[55: 'tvmonitor', 55: 'tvmonitor'], [90, 90]", [55]),
    ("[3: 'bed'], [55: 90%]", [3]),  # confidence after the last ':'
    ("[1: 'aeroplane'], [40]", []),
    ("", []),
    ("[60: 'nothing'], [99]", []),  # not a PC59 id
])
def test_gpt_answers_parse_like_the_released_code(text, expected):
    assert parse_gpt_answer(text, PC) == expected


def test_gpt_answer_for_coco_uses_category_ids_and_drops_foreign_ids():
    assert parse_gpt_answer("[1: 'person', 12: 'none', 157: 'sky'], [99, 99, 99]", COCO_OBJ) == [1]
    assert parse_gpt_answer("[1: 'person', 12: 'none', 157: 'sky'], [99, 99, 99]", STUFF) == [1, 157]


@pytest.mark.parametrize("text", ["[1: 'a'], [ninety]", "[1: 'a'], [90.5.1%]"])
def test_unparsable_gpt_answers_return_none(text):
    assert parse_gpt_answer(text, VOC) is None


def write(tmp_path, data):
    path = tmp_path / "classes.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_file_with_gpt_answers_and_name_lists(tmp_path):
    src = class_source(write(tmp_path, {
        "2007_000033": "[1: 'aeroplane', 15: 'person'], [95%, 80%]",
        "2007_000042": ["Potted plant", "tvmonitor", "TV  Monitor", "table"],
        "2007_000061": "[1: 'aeroplane'], [50]",
    }), VOC)
    assert src.kind == "file" and not src.oracle
    blank = np.zeros((2, 2), np.uint8)
    assert src.class_ids(VOC, "2007_000033", blank) == [1, 15]
    assert src.class_ids(VOC, "2007_000042", blank) == [16, 20, 11]
    assert src.class_ids(VOC, "2007_000061", blank) == [1]  # fallback to the first class
    assert src.fallbacks == {"2007_000061"}
    src.check_covers(["2007_000033"])
    with pytest.raises(ClassListError, match=r"no class list for 1 .*'2008_000001'"):
        src.check_covers(["2007_000033", "2008_000001"])


def test_file_errors_name_the_file_and_image(tmp_path):
    with pytest.raises(ClassListError, match="'2007_000033'.*'unicorn' is not a class"):
        class_source(write(tmp_path, {"2007_000033": ["cat", "unicorn"]}), VOC)
    with pytest.raises(ClassListError, match="cannot parse GPT-4o answer"):
        class_source(write(tmp_path, {"2007_000033": "[8: 'cat'], [very sure]"}), VOC)
    with pytest.raises(ClassListError, match="expected a list of class names"):
        class_source(write(tmp_path, {"2007_000033": 3}), VOC)
    with pytest.raises(ClassListError, match="JSON object"):
        class_source(write(tmp_path, ["cat"]), VOC)
    with pytest.raises(ClassListError, match="not found"):
        class_source(str(tmp_path / "missing.json"), VOC)
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ClassListError, match="bad.json is not readable JSON"):
        class_source(str(tmp_path / "bad.json"), VOC)


def test_gt_source_is_an_oracle_listing_present_classes_without_background():
    src = class_source("gt", VOC)
    assert src.oracle and src.describe() == "gt"
    assert src.class_ids(VOC, "x", np.array([[0, 15, 255], [8, 8, 0]], np.uint8)) == [8, 15]
    assert src.class_ids(VOC, "x", np.array([[0, 255]], np.uint8)) == [1]  # nothing to prompt: first class


def test_presence_source_prompts_every_class():
    src = class_source("presence", STUFF)
    assert not src.oracle
    assert src.class_ids(STUFF, "x", np.zeros((1, 1), np.uint8)) == list(STUFF.class_ids)
    assert len(src.class_ids(STUFF, "x", np.zeros((1, 1), np.uint8))) == 171


def test_name_lists_prefer_the_dataset_meaning_of_a_shared_released_name(tmp_path):
    ade = INFOS["ade20k"]
    src = class_source(write(tmp_path, {"ADE_val_00000001": ["screen", "screen door", "earth", "ground", "pillar"]}),
                       ade)
    assert src.class_ids(ade, "ADE_val_00000001", np.zeros((1, 1), np.uint8)) == [131, 59, 14, 43]
