"""Each release layout decodes to the id masks it was written from."""

from __future__ import annotations

import json

import numpy as np
import pytest

from annotator.core.evaluation.classnames import ADE20K, COCO_STUFF, COCO_THINGS, PASCAL_CONTEXT59, VOC
from annotator.core.evaluation.datasets import DatasetError, open_dataset

from .synthetic import PAIRS, STEMS, coco_ann, pattern_mask, write_coco_stuff, write_instances, write_voc


def test_class_lists_have_the_release_counts_and_ids():
    assert [len(VOC), len(PASCAL_CONTEXT59), len(COCO_THINGS), len(COCO_STUFF), len(ADE20K)] == [20, 59, 80, 171, 150]
    assert [i for i, _ in COCO_THINGS if i not in range(1, 91)] == []
    missing_thing_ids = sorted(set(range(1, 91)) - {i for i, _ in COCO_THINGS})
    assert missing_thing_ids == [12, 26, 29, 30, 45, 66, 68, 69, 71, 83]
    assert [i for i, _ in COCO_STUFF][80:] == list(range(92, 183))
    # Spot checks against the released GPT-4o example and the spec's name forms.
    assert dict(PASCAL_CONTEXT59)[55] == "tvmonitor" and dict(PASCAL_CONTEXT59)[58] == "window"
    assert dict(ADE20K)[45] == "chest of drawers" and dict(ADE20K)[150] == "flag"
    assert dict(COCO_STUFF)[96] == "building-other" and dict(COCO_STUFF)[182] == "wood"


def test_every_layout_reads_sorted_samples_and_its_masks(pattern_dataset):
    key, root = pattern_dataset
    ds = open_dataset(key, root)
    assert [s.image_id for s in ds.samples] == sorted(STEMS[key])
    expected = pattern_mask(*PAIRS[key])
    for s in ds.samples:
        assert s.image.is_file()
        got = ds.load_gt(s)
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, expected)


def test_voc_palette_png_gives_indices_and_keeps_void(tmp_path):
    m = pattern_mask(8, 15)
    m[0, 0] = 255
    ds = open_dataset("voc", write_voc(tmp_path, {"2007_000033": m}))
    np.testing.assert_array_equal(ds.load_gt(ds.samples[0]), m)


def test_coco_stuff_raw_png_is_id_minus_one_and_255_unlabeled(tmp_path):
    write_coco_stuff(tmp_path, {"000000000139": pattern_mask(18, 157)})
    raw = np.array(__import__("PIL.Image").Image.open(tmp_path / "annotations/val2017/000000000139.png"))
    assert sorted(np.unique(raw).tolist()) == [17, 156, 255]  # the release's encoding
    ds = open_dataset("coco-stuff", tmp_path)
    assert sorted(np.unique(ds.load_gt(ds.samples[0])).tolist()) == [0, 18, 157]


def test_coco_stuff_train_ids_map_back_to_category_ids(tmp_path):
    m = np.array([[1, 90, 92, 182, 0, 18]], dtype=np.uint8)
    write_coco_stuff(tmp_path, {"000000000139": m}, train_ids=True)
    raw = np.array(__import__("PIL.Image").Image.open(tmp_path / "annotations/val2017/000000000139_labelTrainIds.png"))
    assert raw.tolist() == [[0, 79, 80, 170, 255, 16]]  # mmseg's contiguous 171-class ids
    ds = open_dataset("coco-stuff", tmp_path)
    np.testing.assert_array_equal(ds.load_gt(ds.samples[0]), m)


def test_coco_object_paints_in_annotation_order_first_writer_wins(tmp_path):
    from pycocotools import mask as mask_utils

    def rle(mask):
        r = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        return {"size": r["size"], "counts": r["counts"].decode()}

    left = np.zeros((4, 6), bool)
    left[:3, :4] = True
    right = np.zeros((4, 6), bool)
    right[:3, 2:] = True
    # dog (18) first, then cat (17) overlapping columns 2-3 of rows 0-2; then a polygon
    # person (1) over columns 0-2 and an uncompressed-RLE crowd bird (16) over the whole
    # image: each may only take pixels nobody painted before.
    polygon = [[0.0, 0.0, 3.0, 0.0, 3.0, 4.0, 0.0, 4.0]]
    crowd = {"size": [4, 6], "counts": [0, 24]}  # every pixel, column-major
    anns = [coco_ann(1, 1, 18, rle(left)), coco_ann(2, 1, 17, rle(right)),
            coco_ann(3, 1, 1, polygon), coco_ann(4, 1, 16, crowd)]
    images = [{"id": 1, "file_name": "000000000139.jpg", "height": 4, "width": 6}]
    write_instances(tmp_path, images, anns)
    (tmp_path / "images/val2017").mkdir(parents=True)
    (tmp_path / "images/val2017/000000000139.jpg").write_bytes(b"")
    ds = open_dataset("coco-object", tmp_path)
    got = ds.load_gt(ds.samples[0])
    assert got[:3, :4].tolist() == [[18] * 4] * 3
    assert got[:3, 4:].tolist() == [[17] * 2] * 3
    assert got[3].tolist() == [1, 1, 1, 16, 16, 16]


def test_missing_root_folder_and_files_are_named(tmp_path):
    with pytest.raises(DatasetError, match="is not a folder"):
        open_dataset("voc", tmp_path / "nowhere")
    with pytest.raises(DatasetError, match=r"JPEGImages not found"):
        open_dataset("voc", tmp_path)
    root = write_voc(tmp_path / "voc", {"2007_000033": pattern_mask(8, 15)})
    (root / "SegmentationClass/2007_000033.png").unlink()
    with pytest.raises(DatasetError, match=r"2007_000033\.png not found"):
        open_dataset("voc", root)
    (root / "ImageSets/Segmentation/val.txt").unlink()
    with pytest.raises(DatasetError, match=r"val\.txt not found"):
        open_dataset("voc", root)
    with pytest.raises(DatasetError, match="instances_val2017.json not found"):
        (tmp_path / "coco/images/val2017").mkdir(parents=True)
        open_dataset("coco-object", tmp_path / "coco")
    with pytest.raises(DatasetError, match="unknown dataset"):
        open_dataset("cityscapes", tmp_path)


def test_rgb_label_png_is_refused_with_the_file_name(tmp_path):
    root = write_voc(tmp_path, {"2007_000033": pattern_mask(8, 15)})
    png = root / "SegmentationClass/2007_000033.png"
    __import__("PIL.Image").Image.new("RGB", (6, 4)).save(png)
    ds = open_dataset("voc", root)
    with pytest.raises(DatasetError, match=r"2007_000033\.png.*mode RGB"):
        ds.load_gt(ds.samples[0])


def test_broken_coco_json_is_named(tmp_path):
    (tmp_path / "images/val2017").mkdir(parents=True)
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations/instances_val2017.json").write_text(json.dumps({"images": []}))
    with pytest.raises(DatasetError, match="not a COCO instances file"):
        open_dataset("coco-object", tmp_path)
