"""The evaluation loop on every layout, with a fake segmenter whose label maps are fixed,
checked against confusion matrices counted by hand (see synthetic.PATTERN)."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import numpy as np
import pytest

from annotator.core.evaluation import (
    DatasetError, EvalError, class_source, eval_space, evaluate, open_dataset, prompt_names, scores,
)

from .synthetic import PAIRS, PATTERN_PRED, pattern_mask, write_voc


class FakeSegmenter:
    """Returns PATTERN_PRED for every image and the classes it was asked for."""

    def __init__(self, label_map=PATTERN_PRED, keep=None, error=None):
        self.label_map, self.keep, self.error = label_map, keep, error
        self.calls = []

    def segment_batch(self, images, classes_per_image, batch_size=8):
        self.calls.append([list(c) for c in classes_per_image])
        if self.error:
            raise self.error
        return [SimpleNamespace(classes=self.keep(c) if self.keep else list(c), label_map=self.label_map.copy())
                for c in classes_per_image]


# Class indices of the pattern's (a, b) in each protocol's scored classes.
INDEX = {
    ("reference", "voc"): (8, 15), ("reference", "context"): (29, 47), ("reference", "ade20k"): (3, 13),
    ("reference", "coco-object"): (3, 18), ("reference", "coco-stuff"): (18, 157),
    ("standard", "voc"): (8, 15), ("standard", "coco-object"): (3, 17),
    ("standard", "context"): (28, 46), ("standard", "ade20k"): (2, 12), ("standard", "coco-stuff"): (16, 145),
}


def run(key, root, protocol, segmenter, **kw):
    ds = open_dataset(key, root)
    space = eval_space(ds.info, protocol)
    out = evaluate(segmenter, ds, ds.samples, space, class_source("gt", ds.info),
                   prompt_names(ds.info, protocol), **kw)
    return space, out


@pytest.mark.parametrize("protocol", ["reference", "standard"])
def test_matrix_and_miou_equal_the_hand_count(pattern_dataset, protocol):
    key, root = pattern_dataset
    fake = FakeSegmenter()
    space, out = run(key, root, protocol, fake)
    a, b = INDEX[protocol, key]
    names = prompt_names(open_dataset(key, root).info, protocol)
    assert fake.calls == [[[names[PAIRS[key][0]], names[PAIRS[key][1]]]] * 2]  # gt lists, id order

    # Per image (8 px per region): A -> a 6, A -> unlabeled 2; B -> b 5, B -> a 1, B -> unlabeled 2;
    # Z (background) -> unlabeled 6, Z -> a 2. Two identical images double every count.
    expected = np.zeros((space.n, space.n + 1), np.int64)
    scores_background = protocol == "reference" or key in ("voc", "coco-object")
    if scores_background:  # unlabeled predicts background (index 0); Z is scored
        expected[0, 0], expected[0, a] = 12, 4
        expected[a, a], expected[a, 0] = 12, 4
        expected[b, b], expected[b, a], expected[b, 0] = 10, 2, 4
        miou = (6 / 12 + 6 / 11 + 5 / 8) / 3
        pixel_acc = 34 / 48
    else:  # Z ignored; unlabeled is the "no class" column n
        none = space.n
        expected[a, a], expected[a, none] = 12, 4
        expected[b, b], expected[b, a], expected[b, none] = 10, 2, 4
        miou = (6 / 9 + 5 / 8) / 2
        pixel_acc = 22 / 32
    np.testing.assert_array_equal(out.hist, expected)
    sc = scores(out.hist, space.mean_over)
    assert sc.miou == pytest.approx(miou)
    assert sc.pixel_accuracy == pytest.approx(pixel_acc)
    assert out.images == 2 and out.prompted_per_image == 2 and out.kept_per_image == 2


def test_voc_void_counts_as_background_in_reference_and_is_ignored_in_standard(tmp_path):
    m = pattern_mask(8, 15)
    m[2, 2] = m[3, 5] = 255  # two background pixels become void (object boundaries)
    root = write_voc(tmp_path, {"2007_000033": m})
    _, ref = run("voc", root, "reference", FakeSegmenter())
    _, std = run("voc", root, "standard", FakeSegmenter())
    # PATTERN_PRED[2, 2] = 0 and PATTERN_PRED[3, 5] = 0: both background hits in reference.
    assert ref.hist[0, 0] == 6 and ref.hist.sum() == 24
    assert std.hist[0, 0] == 4 and std.hist.sum() == 22


def test_presence_filtered_classes_map_back_by_name(tmp_path):
    root = write_voc(tmp_path, {"2007_000033": pattern_mask(8, 15)})
    only_b = FakeSegmenter(label_map=(PATTERN_PRED > 0).astype(np.int32), keep=lambda c: c[1:])
    _, out = run("voc", root, "reference", only_b)
    assert out.hist[15, 15] == 6 and out.hist[8, 15] == 6  # every labelled pixel went to person
    assert out.kept_per_image == 1


def test_two_ids_sharing_a_released_name_map_to_the_first_listed(tmp_path):
    from .synthetic import write_ade20k

    root = write_ade20k(tmp_path, {"ADE_val_00000001": pattern_mask(59, 131)})
    (tmp_path / "gpt.json").write_text('{"ADE_val_00000001": "[131: \'screen\', 59: \'screen\'], [90, 90]"}')
    ds = open_dataset("ade20k", root)
    space = eval_space(ds.info, "reference")
    dedup = FakeSegmenter(label_map=(PATTERN_PRED > 0).astype(np.int32), keep=lambda c: list(dict.fromkeys(c)))
    out = evaluate(dedup, ds, ds.samples, space, class_source(str(tmp_path / "gpt.json"), ds.info),
                   prompt_names(ds.info, "reference"))
    assert dedup.calls == [[["screen", "screen"]]]
    assert out.hist[:, 131].sum() == 14 and out.hist[:, 59].sum() == 0  # GPT listed 131 first


def test_batches_do_not_change_the_matrix(pattern_dataset):
    key, root = pattern_dataset
    one, two = FakeSegmenter(), FakeSegmenter()
    _, a = run(key, root, "reference", one, batch_size=1)
    _, b = run(key, root, "reference", two, batch_size=8)
    assert [len(c) for c in one.calls] == [1, 1] and [len(c) for c in two.calls] == [2]
    np.testing.assert_array_equal(a.hist, b.hist)


def test_progress_reports_images_done(pattern_dataset):
    key, root = pattern_dataset
    seen = []
    run(key, root, "reference", FakeSegmenter(), batch_size=1, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(1, 2), (2, 2)]


def test_engine_refusal_and_unknown_returned_names_become_eval_errors(tmp_path):
    root = write_voc(tmp_path, {"2007_000033": pattern_mask(8, 15)})
    with pytest.raises(EvalError, match="2007_000033.*too long"):
        run("voc", root, "reference", FakeSegmenter(error=ValueError("caption too long")))
    with pytest.raises(EvalError, match="'kitten'"):
        run("voc", root, "reference", FakeSegmenter(keep=lambda c: ["kitten"]))


def test_a_failing_batch_stops_the_decoding_thread(tmp_path):
    root = write_voc(tmp_path, {f"2007_{i:06d}": pattern_mask(8, 15) for i in range(8)})
    with pytest.raises(EvalError):  # depth 2: the thread is still waiting to hand over images
        run("voc", root, "reference", FakeSegmenter(error=ValueError("no")), batch_size=1)
    assert not [t for t in threading.enumerate() if t.name == "eval-prefetch"]


def test_ground_truth_of_another_size_is_named_with_both_files(tmp_path):
    root = write_voc(tmp_path, {"2007_000033": pattern_mask(8, 15)})
    from PIL import Image

    Image.new("RGB", (7, 4)).save(root / "JPEGImages/2007_000033.jpg")
    with pytest.raises(DatasetError, match=r"2007_000033\.png is 6x4 but .*2007_000033\.jpg is 7x4"):
        run("voc", root, "reference", FakeSegmenter())
