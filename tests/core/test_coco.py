import json

import numpy as np
import pytest
from helpers import iou, square, two_hole_shape, write_image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from annotator.core.annotations import ImageAnnotations
from annotator.core.coco import CocoFormatError, build_coco, export_coco, import_coco
from annotator.core.project import Project
from annotator.core.proposals import shapes_from_label_map
from annotator.core.shapes import Shape


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "imgs"
    write_image(root / "a.png", 80, 60)
    write_image(root / "sub" / "b.png", 50, 40)
    write_image(root / "empty.png", 20, 10)
    p = Project.open(root)
    for name in ("sky", "wall", "car"):
        p.labels.add(name)
    p.save_settings()
    lm = np.zeros((60, 80), np.int32)
    for x in (5, 30, 55):
        lm[5:20, x:x + 15] = 3  # three cars
    p.save(ImageAnnotations("a.png", 80, 60, [
        two_hole_shape(score=0.9, source="model", accepted=True),
        Shape("sky", [[0, 40], [30, 42.5], [12.25, 59.5]]),
        *shapes_from_label_map(lm, ["sky", "wall", "car"], tolerance=0, min_area_fraction=0),
    ]))
    p.save(ImageAnnotations("sub/b.png", 50, 40, [
        Shape("sky", square(0, 0, 50, 10), source="model", score=0.3, accepted=False)]))
    return p


def write_coco(tmp_path, data, name="in.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("mode", ["auto", "polygon", "rle"])
def test_export_loads_in_pycocotools_and_every_mask_matches_ours(project, tmp_path, mode):
    report = export_coco(project, tmp_path / "coco.json", segmentation=mode)
    coco = COCO(str(tmp_path / "coco.json"))
    assert report.images == 3 and report.annotations == 6 and report.problems == []
    by_file = {im["file_name"]: im for im in coco.dataset["images"]}
    for rel in ("a.png", "sub/b.png"):
        im = by_file[rel]
        ours = project.load(rel).shapes
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[im["id"]]))
        assert len(anns) == len(ours)
        for shape, ann in zip(ours, anns):
            mine = shape.mask(im["height"], im["width"])
            assert iou(coco.annToMask(ann).astype(bool), mine) >= 0.99
            assert ann["area"] == mine.sum()
            assert ann["bbox"] == list(mask_utils.toBbox(mask_utils.encode(np.asfortranarray(mine.astype(np.uint8)))))
            assert ann["iscrowd"] == 0
            assert ann["attributes"] == {"source": shape.source, "accepted": shape.accepted, "shape_id": shape.id}
            assert ann.get("score") == shape.score
            expect_rle = mode == "rle" or (mode == "auto" and shape.has_holes)
            assert isinstance(ann["segmentation"], dict) == expect_rle


def test_categories_are_1_to_n_in_label_order_and_every_image_is_listed(project):
    data, _ = build_coco(project)
    assert [(c["id"], c["name"]) for c in data["categories"]] == [(1, "sky"), (2, "wall"), (3, "car")]
    assert [(i["id"], i["file_name"], i["width"], i["height"]) for i in data["images"]] == [
        (1, "a.png", 80, 60), (2, "empty.png", 20, 10), (3, "sub/b.png", 50, 40)]
    assert [a["id"] for a in data["annotations"]] == list(range(1, 7))
    assert sorted(a["category_id"] for a in data["annotations"]) == [1, 1, 2, 3, 3, 3]


def test_accepted_only_leaves_out_unreviewed_proposals(project):
    data, report = build_coco(project, accepted_only=True)
    assert len(data["annotations"]) == 2 and report.per_category["sky"] == 1


def test_shape_outside_the_image_is_reported_not_exported(project):
    ann = project.load("sub/b.png")
    ann.shapes.append(Shape("car", square(100, 100, 120, 120)))
    ann.shapes.append(Shape("boat", square(1, 1, 5, 5)))
    project.save(ann)
    data, report = build_coco(project)
    assert any("covers no pixel" in p for p in report.problems)
    assert any("'boat' is not in the project's label set" in p for p in report.problems)
    assert [(c["id"], c["name"]) for c in data["categories"]][-1] == (4, "boat")
    assert project.labels.get("boat") is None  # exporting never edits the project


@pytest.mark.parametrize("mode", ["auto", "polygon", "rle"])
def test_round_trip_ours_coco_ours(project, tmp_path, mode):
    export_coco(project, tmp_path / "coco.json", segmentation=mode)
    originals = {rel: project.load(rel).shapes for rel in ("a.png", "sub/b.png")}
    # Import into a fresh project holding the same images.
    import shutil
    fresh_root = tmp_path / "fresh"
    shutil.copytree(project.root, fresh_root, ignore=shutil.ignore_patterns(".pnp-annotator"))
    fresh = Project.open(fresh_root)
    report = import_coco(fresh, tmp_path / "coco.json")
    assert report.complete and report.images_matched == 3 and report.shapes == 6
    assert fresh.labels.names == ["sky", "wall", "car"] and fresh.labels.get("car").id == 3
    assert not fresh.has_annotations("empty.png")
    for rel, shapes in originals.items():
        back = fresh.load(rel).shapes
        assert [s.id for s in back] == [s.id for s in shapes]
        for a, b in zip(shapes, back):
            assert (a.label, a.source, a.accepted, a.score) == (b.label, b.source, b.accepted, b.score)
            assert len(b.holes) == len(a.holes)
            assert iou(a.mask(60, 80), b.mask(60, 80)) >= (0.99 if mode != "rle" else 1.0)


def test_reimport_replaces_by_shape_id_instead_of_duplicating(project, tmp_path):
    export_coco(project, tmp_path / "coco.json")
    before = len(project.load("a.png").shapes)
    import_coco(project, tmp_path / "coco.json")
    assert len(project.load("a.png").shapes) == before


def _minimal(annotations, categories=None, images=None):
    return {
        "images": images or [{"id": 7, "file_name": "a.png", "width": 80, "height": 60}],
        "categories": categories or [{"id": 5, "name": "cat"}],
        "annotations": annotations,
    }


def test_imports_uncompressed_and_compressed_rle_with_holes_and_bbox_only(project, tmp_path):
    m = np.zeros((60, 80), np.uint8)
    m[10:50, 10:70] = 1
    m[20:30, 20:30] = 0
    m[35:45, 40:60] = 0
    compressed = mask_utils.encode(np.asfortranarray(m))
    # Uncompressed RLE: column-major run lengths, starting with zeros.
    flat = m.ravel(order="F")
    changes = np.flatnonzero(np.diff(flat)) + 1
    runs = np.diff(np.concatenate([[0], changes, [flat.size]])).tolist()
    data = _minimal([
        {"id": 1, "image_id": 7, "category_id": 5, "segmentation": {"size": [60, 80], "counts": runs}},
        {"id": 2, "image_id": 7, "category_id": 5,
         "segmentation": {"size": [60, 80], "counts": compressed["counts"].decode()}},
        {"id": 3, "image_id": 7, "category_id": 5, "segmentation": [], "bbox": [1, 2, 10, 5]},
        {"id": 4, "image_id": 7, "category_id": 5, "bbox": [3, 4, 2, 2]},
    ])
    report = import_coco(project, write_coco(tmp_path, data), replace=True)
    assert report.complete and report.shapes == 4
    rle_a, rle_b, box, box2 = project.load("a.png").shapes
    for s in (rle_a, rle_b):
        assert len(s.holes) == 2 and (s.mask(60, 80) == m.astype(bool)).all()
        assert s.source == "human" and s.accepted and s.label == "cat"
    assert box.area == 50 and box.bbox == (1.0, 2.0, 10.0, 5.0) and box2.area == 4


def test_unmatched_images_and_unknown_categories_are_reported(project, tmp_path):
    data = _minimal(
        images=[{"id": 1, "file_name": "elsewhere/b.png", "width": 50, "height": 40},  # basename match
                {"id": 2, "file_name": "missing.png", "width": 5, "height": 5},
                {"id": 3, "file_name": "a.png", "width": 81, "height": 60}],  # wrong size
        annotations=[{"id": 10, "image_id": 1, "category_id": 5, "bbox": [0, 0, 4, 4]},
                     {"id": 11, "image_id": 1, "category_id": 99, "bbox": [0, 0, 4, 4]}])
    report = import_coco(project, write_coco(tmp_path, data))
    assert report.images_matched == 1 and report.shapes == 1 and not report.complete
    assert any("missing.png: no such image" in u for u in report.unmatched_images)
    assert any("a.png: the image is 80x60 here but 81x60" in u for u in report.unmatched_images)
    assert report.unknown_categories == [
        "annotations[1] (id 11): category_id 99 is not in 'categories'; annotation not imported"]
    assert project.load("sub/b.png").shapes[-1].label == "cat"


def test_zero_area_annotations_are_reported_and_duplicate_shape_ids_made_unique(project, tmp_path):
    flat = {"id": 1, "image_id": 7, "category_id": 5, "segmentation": [[0, 0, 5, 5, 10, 10]]}
    twin = {"id": 2, "image_id": 7, "category_id": 5, "bbox": [0, 0, 4, 4], "attributes": {"shape_id": "same"}}
    report = import_coco(project, write_coco(tmp_path, _minimal([flat, twin, dict(twin, id=3)])), replace=True)
    assert report.problems[0] == "annotations[0] (id 1) on a.png: covers no pixel of the image; not imported"
    assert "shape_id same is used by an earlier annotation" in report.problems[1]
    a, b = project.load("a.png").shapes
    assert a.id == "same" and b.id != "same"


def test_ambiguous_basename_is_reported(project, tmp_path):
    write_image(project.root / "other" / "b.png", 50, 40)
    data = _minimal([], images=[{"id": 1, "file_name": "b.png", "width": 50, "height": 40}])
    report = import_coco(project, write_coco(tmp_path, data))
    assert "matches 2 images" in report.unmatched_images[0]


TOO_LONG_RLE = mask_utils.encode(np.ones((100, 100), np.uint8, order="F"))["counts"].decode()  # 10000 > 4800 px
GOOD_ANN = {"id": 1, "image_id": 7, "category_id": 5, "segmentation": [[0, 0, 10, 0, 10, 10]]}


@pytest.mark.parametrize("data, message", [
    ("{oops", "not valid JSON"),
    ([], "results list is empty"),
    ("7", "top level must be a JSON object"),
    ({"categories": []}, "missing top-level list 'images'"),
    (_minimal([], images=[{"id": 1, "file_name": "a.png", "width": 0, "height": 60}]), r"images\[0\].width"),
    (_minimal([], images=[{"id": 1, "file_name": "a.png", "width": 80, "height": 60}] * 2), r"images\[1\].id 1"),
    (_minimal([], categories=[{"id": 1}]), r"categories\[0\].name"),
    (_minimal([GOOD_ANN, dict(GOOD_ANN, image_id=8)]), r"annotations\[1\].image_id 8 does not match"),
    (_minimal([dict(GOOD_ANN, segmentation=[[0, 0, 10, 0, 10]])]), r"segmentation\[0\] has 5 numbers"),
    (_minimal([dict(GOOD_ANN, segmentation=[[0, 0, 10, 0, 10, "x"]])]), r"segmentation\[0\] must be a flat list"),
    (_minimal([dict(GOOD_ANN, segmentation={"size": [60, 80], "counts": [1, 2]})]), "sums to 3 pixels"),
    (_minimal([dict(GOOD_ANN, segmentation={"size": [10, 80], "counts": "abc"})]), "size is"),
    (_minimal([dict(GOOD_ANN, segmentation={"size": [60, 80], "counts": TOO_LONG_RLE})]), "not a valid compressed"),
    (_minimal([GOOD_ANN, dict(GOOD_ANN, id=2, segmentation=None)]), r"annotations\[1\] has no segmentation, so it needs 'bbox'.*annotation id 2"),
    (_minimal([dict(GOOD_ANN, attributes={"source": "robot"})]), "attributes.source"),
    (_minimal([dict(GOOD_ANN, category_id="3")]), "category_id must be an integer"),
])
def test_malformed_coco_names_the_first_problem_and_writes_nothing(project, tmp_path, data, message):
    path = tmp_path / "bad.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    state = {p: p.read_bytes() for p in project.state_dir.rglob("*") if p.is_file()}
    with pytest.raises(CocoFormatError, match=message) as info:
        import_coco(project, path)
    assert str(path) in str(info.value)
    assert {p: p.read_bytes() for p in project.state_dir.rglob("*") if p.is_file()} == state


def test_damaged_annotation_file_still_lists_the_image_and_reports_it(project):
    project.annotation_path("sub/b.png").write_text("{")
    data, report = build_coco(project)
    assert [i["file_name"] for i in data["images"]] == ["a.png", "empty.png", "sub/b.png"]
    assert len(report.problems) == 1 and report.problems[0].startswith("sub/b.png: listed without annotations")
    (project.root / "empty.png").write_bytes(b"junk")
    data, report = build_coco(project)
    assert [i["file_name"] for i in data["images"]] == ["a.png", "sub/b.png"]
    assert "empty.png: left out" in report.problems[0]
