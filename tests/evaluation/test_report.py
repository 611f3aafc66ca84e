"""The printed table and the JSON record."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from annotator.core.evaluation import INFOS, eval_space, open_dataset, scores
from annotator.core.evaluation.report import record, summary, table, write_json
from annotator.core.evaluation.runner import prefetch

from .synthetic import pattern_mask, write_voc


def voc_scores():
    space = eval_space(INFOS["voc"], "reference")
    hist = np.zeros((21, 22), np.int64)
    hist[0, 0], hist[15, 15], hist[15, 0], hist[3, 15] = 10, 6, 2, 2  # 3 = bird
    return space, hist, scores(hist, space.mean_over)


def test_table_lists_classes_with_pixels_and_marks_those_outside_the_mean():
    space, _, sc = voc_scores()
    lines = table(space, sc).splitlines()
    assert lines[1].split()[:3] == ["0", "background", "83.33"]  # 10 / (10 + 12 - 10)
    assert lines[2].split()[:3] == ["3", "bird", "0.00"] and "(not in mean)" not in lines[2]
    assert lines[3].split()[:3] == ["15", "person", "60.00"]  # 6 / (8 + 8 - 6)
    assert lines[-1] == "(18 classes with no ground-truth or predicted pixels not shown)"


def test_record_is_strict_json_with_nulls_for_undefined_scores(tmp_path):
    space, hist, sc = voc_scores()
    rec = record(space=space, sc=sc, hist=hist, dataset="voc", dataset_title="Pascal VOC 2012", protocol="reference",
                 class_source="gt", oracle=True, images=1, images_per_s=float("nan"), device="cpu", batch_size=8,
                 paper_miou=51.3)
    write_json(rec, tmp_path / "out" / "r.json")
    back = json.loads((tmp_path / "out" / "r.json").read_text())
    assert back["images_per_s"] is None
    assert back["per_class"][1]["iou"] is None and back["per_class"][1]["in_mean"] is False
    assert back["per_class"][15] == {"index": 15, "name": "person", "iou": pytest.approx(0.6), "accuracy": 0.75,
                                     "gt_pixels": 8, "pred_pixels": 8, "in_mean": True}
    assert back["metrics"]["miou"] == pytest.approx((10 / 12 + 0 + 0.6) / 3)
    assert np.array(back["confusion_matrix"]).tolist() == hist.tolist()
    text = summary(back)
    assert "ORACLE" in text and "51.3" in text and "- images/s" in text


def test_prefetch_thread_stops_when_the_consumer_does(tmp_path):
    masks = {f"2007_{i:06d}": pattern_mask(8, 15) for i in range(6)}
    ds = open_dataset("voc", write_voc(tmp_path, masks))
    items = prefetch(ds, ds.samples, depth=1)
    assert next(items).sample.image_id == "2007_000000"
    items.close()  # what a for loop does on break or error
    assert not [t for t in threading.enumerate() if t.name == "eval-prefetch"]
