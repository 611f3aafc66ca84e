"""``pnp-annotator eval`` end to end with the tiny random model on synthetic datasets."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from annotator.core.evaluation import command, scores

from .synthetic import PAIRS, STEMS, WRITERS, pattern_mask, write_ade20k, write_voc

SCALE = 8  # 4x6 pattern -> 32x48 images


def parse(argv):
    parser = argparse.ArgumentParser(prog="pnp-annotator")
    command.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["eval", *argv])


def evaluate(tmp_path, capsys, key, root, *extra):
    out = tmp_path / f"{key}.json"
    rc = command.run(parse(["--dataset", key, "--root", str(root), "--device", "cpu", "--out", str(out), *extra]))
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    return json.loads(out.read_text()), captured.out


@pytest.fixture
def tiny(tiny_model_dir):
    return ["--model", str(tiny_model_dir)]


@pytest.mark.parametrize("key, protocol", [
    ("voc", "reference"), ("context", "standard"), ("coco-object", "reference"),
    ("coco-stuff", "standard"), ("ade20k", "reference"),
])
def test_each_layout_runs_end_to_end_and_the_record_is_consistent(tmp_path, capsys, tiny, key, protocol):
    a, b = PAIRS[key]
    root = WRITERS[key](tmp_path / key, {s: pattern_mask(a, b, SCALE) for s in STEMS[key]})
    rec, stdout = evaluate(tmp_path, capsys, key, root, *tiny, "--protocol", protocol, "--classes-from", "gt",
                           "--limit", "1")

    assert rec["dataset"] == key and rec["protocol"] == protocol and rec["images"] == rec["limit"] == 1
    assert rec["oracle"] is True and "ORACLE" in stdout and "mIoU" in stdout
    assert rec["images_per_s"] > 0 and rec["prompted_classes_per_image"] == 2
    hist = np.array(rec["confusion_matrix"])
    n = len(rec["per_class"])
    assert hist.shape == (n, n + 1)
    # Every scored ground-truth pixel lands in the matrix once: 3 regions of 8 * 64 px
    # per image, or 2 where the protocol ignores background.
    counted_regions = 3 if protocol == "reference" or key in ("voc", "coco-object") else 2
    assert hist.sum() == counted_regions * 512
    sc = scores(hist, rec["metrics"]["mean_over"])
    assert rec["metrics"]["miou"] == pytest.approx(sc.miou)
    assert 0.0 <= sc.miou <= 1.0
    if protocol == "reference":
        assert hist[:, -1].sum() == 0  # the released evaluation never leaves a pixel without a class
    if key == "ade20k":  # the released ADE20K loader's preprocessing
        assert rec["config"]["resample"] == "bilinear" and rec["config"]["mean"] == [0.0, 0.0, 0.0]


def test_presence_threshold_one_keeps_no_class_so_everything_is_background(tmp_path, capsys, tiny):
    root = write_voc(tmp_path / "voc", {s: pattern_mask(8, 15, SCALE) for s in STEMS["voc"]})
    rec, _ = evaluate(tmp_path, capsys, "voc", root, *tiny, "--classes-from", "presence", "--presence-threshold", "1")
    hist = np.array(rec["confusion_matrix"])
    assert rec["oracle"] is False and rec["class_source"] == "presence" and rec["segmented_classes_per_image"] == 0
    assert rec["prompted_classes_per_image"] == 20
    assert hist[:, 0].sum() == hist.sum() == 2 * 3 * 512  # background column only
    assert rec["metrics"]["miou"] == pytest.approx((1024 / 3072) / 3)  # bg IoU 1024/3072; cat, person 0


def test_gpt_answer_file_drives_the_class_lists(tmp_path, capsys, tiny):
    root = write_ade20k(tmp_path / "ade", {s: pattern_mask(3, 13, SCALE) for s in STEMS["ade20k"]})
    lists = tmp_path / "ade20k_gpt.json"
    lists.write_text(json.dumps({"ADE_val_00000001": "[3: 'sky', 13: 'person'], [90%, 80%]",
                                 "ADE_val_00000002": "[5: 'tree'], [20%]"}))
    rec, _ = evaluate(tmp_path, capsys, "ade20k", root, *tiny, "--classes-from", str(lists))
    assert rec["oracle"] is False and rec["class_source"] == f"file:{lists}"
    assert rec["class_list_fallbacks"] == 1 and rec["prompted_classes_per_image"] == 1.5  # (2 + 1) / 2


def test_missing_model_and_bad_root_exit_2_with_a_message(tmp_path, capsys, tiny_model_dir):
    root = write_voc(tmp_path / "voc", {"2007_000033": pattern_mask(8, 15, SCALE)})
    rc = command.run(parse(["--dataset", "voc", "--root", str(root), "--model", str(tmp_path / "no-model")]))
    assert rc == 2 and "no-model" in capsys.readouterr().err
    rc = command.run(parse(["--dataset", "voc", "--root", str(tmp_path), "--model", str(tiny_model_dir)]))
    assert rc == 2 and "JPEGImages not found" in capsys.readouterr().err
    rc = command.run(parse(["--dataset", "voc", "--root", str(root), "--classes-from", str(tmp_path / "x.json")]))
    assert rc == 2 and "x.json not found" in capsys.readouterr().err


def test_limit_must_be_positive():
    with pytest.raises(SystemExit):
        parse(["--dataset", "voc", "--root", ".", "--limit", "0"])


def test_registered_in_the_cli(tmp_path, capsys, tiny_model_dir):
    from annotator.cli import main

    root = write_voc(tmp_path / "voc", {"2007_000033": pattern_mask(8, 15, SCALE)})
    rc = main(["eval", "--dataset", "voc", "--root", str(root), "--model", str(tiny_model_dir),
               "--device", "cpu", "--classes-from", "gt"])
    out = capsys.readouterr().out
    assert rc == 0 and "Pascal VOC 2012 | protocol reference | classes gt" in out
    assert "background" in out and "person" in out and "pottedplant" not in out  # empty rows hidden
    assert "(18 classes with no ground-truth or predicted pixels not shown)" in out
