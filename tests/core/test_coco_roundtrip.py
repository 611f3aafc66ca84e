"""COCO round trips on files written by other tools (tests/data/coco, see its README for
sources and licences): import -> export loses nothing, our own export re-imports unchanged."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import write_image
from pycocotools import mask as mask_utils

from annotator.cli import main as cli_main
from annotator.core.coco import CocoFormatError, build_coco, export_coco, import_coco
from annotator.core.coco.convert import annotation_mask
from annotator.core.project import Project

DATA = Path(__file__).resolve().parents[1] / "data" / "coco"
LABELME = DATA / "labelme" / "annotations.json"
DATUMARO = DATA / "datumaro"


def project_for(coco_file: Path, root: Path) -> Project:
    """A folder with a blank image of the right size for every image the file lists."""
    data = json.loads(coco_file.read_text())
    for im in data["images"]:
        write_image(root / im["file_name"], im["width"], im["height"])
    return Project.open(root)


def pixel_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def assert_lossless(original: dict, exported: dict) -> None:
    """Same annotations per image (matched by the kept ids), same categories, same masks."""
    ims = {im["id"]: im for im in original["images"]}
    out_ims = {im["id"]: im for im in exported["images"]}
    for iid, im in ims.items():
        assert {k: v for k, v in out_ims[iid].items()} == im  # every image key, the id and file_name kept
    by_id = {a["id"]: a for a in exported["annotations"]}
    assert len(by_id) == len(original["annotations"])
    per_image = lambda anns: sorted((a["image_id"], a["id"]) for a in anns)  # noqa: E731
    assert per_image(exported["annotations"]) == per_image(original["annotations"])
    cats = {c["id"]: c["name"] for c in exported["categories"]}
    for a in original["annotations"]:
        b = by_id[a["id"]]
        assert b["category_id"] == a["category_id"] and cats[b["category_id"]] == next(
            c["name"] for c in original["categories"] if c["id"] == a["category_id"])
        assert b["iscrowd"] == a.get("iscrowd", 0)
        h, w = ims[a["image_id"]]["height"], ims[a["image_id"]]["width"]
        assert pixel_iou(annotation_mask(a, h, w), annotation_mask(b, h, w)) == 1.0
        for key, value in a.items():  # unknown keys come back; interpreted ones are recomputed
            if key not in ("segmentation", "area", "bbox", "attributes", "iscrowd"):
                assert b[key] == value, key
        assert {k: v for k, v in b["attributes"].items() if k not in ("source", "accepted", "shape_id")} == (
            a.get("attributes") or {})


# --- labelme's example dataset ------------------------------------------------------------
def test_labelme_dataset_round_trips_without_loss(tmp_path):
    project = project_for(LABELME, tmp_path / "imgs")
    report = import_coco(project, LABELME)
    assert report.complete, report
    assert report.shapes == 12 and report.images_matched == 3  # 12 annotations -> 12 shapes, none split
    assert any("_background_" in n and "skipped" in n for n in report.notes)
    assert project.labels.get("person").id == 15 and project.labels.get("_background_") is None
    assert [len(project.load(f"JPEGImages/{n}.jpg").shapes) for n in ("2011_000003", "2011_000025", "2011_000006")] \
        == [3, 3, 6]
    sofa = [s for s in project.load("JPEGImages/2011_000006.jpg").shapes if s.label == "sofa"]
    assert len(sofa) == 1 and len(sofa[0].parts) == 4  # a 4-polygon annotation stays one shape
    original = json.loads(LABELME.read_text())
    for mode in ("auto", "polygon", "rle"):
        exported, export_report = build_coco(project, segmentation=mode)
        assert export_report.problems == []
        assert exported["info"] == original["info"] and exported["licenses"] == original["licenses"]
        assert exported["type"] == "instances"
        assert_lossless(original, exported)
    # category ids with the gap left by the skipped background, as in the file
    assert [c["id"] for c in exported["categories"]] == list(range(1, 21))


def test_reimporting_a_foreign_file_replaces_instead_of_adding(tmp_path):
    project = project_for(LABELME, tmp_path / "imgs")
    import_coco(project, LABELME)
    again = import_coco(project, LABELME)
    assert again.replaced == 12
    assert sum(len(project.load(r).shapes) for r in project.images()) == 12


@pytest.mark.parametrize("mode", ["auto", "polygon", "rle"])
def test_our_export_reimports_unchanged_into_a_fresh_folder_and_the_same_one(tmp_path, mode):
    project = project_for(LABELME, tmp_path / "imgs")
    import_coco(project, LABELME)
    export_coco(project, tmp_path / "ours.json", segmentation=mode)
    fresh_root = tmp_path / "fresh"
    shutil.copytree(project.root, fresh_root, ignore=shutil.ignore_patterns(".pnp-annotator"))
    fresh = Project.open(fresh_root)
    report = import_coco(fresh, tmp_path / "ours.json")
    assert report.complete and report.shapes == 12
    for rel in project.images():
        a, b = project.load(rel), fresh.load(rel)
        assert [s.id for s in a.shapes] == [s.id for s in b.shapes]
        for x, y in zip(a.shapes, b.shapes):
            assert (x.label, x.iscrowd, x.source, x.accepted, x.score) == (y.label, y.iscrowd, y.source,
                                                                           y.accepted, y.score)
            assert np.array_equal(x.mask(a.height, a.width), y.mask(a.height, a.width))
    assert [(c.id, c.name) for c in fresh.labels] == [(c.id, c.name) for c in project.labels]
    # into the same folder: nothing added, every shape replaced by itself
    again = import_coco(project, tmp_path / "ours.json")
    assert again.replaced == 12 and sum(len(project.load(r).shapes) for r in project.images()) == 12
    assert json.loads((tmp_path / "ours.json").read_text())["annotations"] == build_coco(
        project, segmentation=mode)[0]["annotations"]


# --- datumaro's COCO test assets -------------------------------------------------------------
@pytest.mark.parametrize("name", ["instances_val.json", "person_keypoints_val.json", "stuff_val.json",
                                  "instances_train.json"])
def test_datumaro_instances_round_trip_without_loss(tmp_path, name):
    path = DATUMARO / name
    project = project_for(path, tmp_path / "imgs")
    report = import_coco(project, path)
    assert report.complete, report
    original = json.loads(path.read_text())
    exported, export_report = build_coco(project)
    assert export_report.problems == []
    assert exported["info"] == original["info"] and exported["licenses"] == original["licenses"]
    assert_lossless(original, exported)
    by_name = {c["name"]: c for c in exported["categories"]}
    for c in original["categories"]:
        assert {k: v for k, v in by_name[c["name"]].items() if k != "color"} == c  # keypoints, skeleton...


def test_crowd_rle_stays_crowd_and_is_written_as_rle(tmp_path):
    path = DATUMARO / "instances_val.json"
    project = project_for(path, tmp_path / "imgs")
    import_coco(project, path)
    crowd = [s for s in project.load("b.jpg").shapes if s.iscrowd]
    assert len(crowd) == 1 and crowd[0].label == "b" and crowd[0].area == 20
    exported, _ = build_coco(project, segmentation="polygon")  # crowd is RLE in every mode
    (ann,) = [a for a in exported["annotations"] if a["iscrowd"] == 1]
    assert isinstance(ann["segmentation"], dict) and ann["area"] == 20


@pytest.mark.parametrize("name, what", [
    ("panoptic_val.json", "COCO panoptic file"),
    ("labels_train.json", "image-level labels file"),
    ("captions_train.json", "captions file"),
])
def test_other_coco_flavours_are_named_with_what_is_supported(tmp_path, name, what):
    project = project_for(DATUMARO / "instances_val.json", tmp_path / "imgs")
    with pytest.raises(CocoFormatError, match=what) as info:
        import_coco(project, DATUMARO / name)
    assert "Supported: pnp-annotator imports COCO instances files" in str(info.value)
    assert not project.state_dir.exists()


def test_keypoints_only_file_is_named(tmp_path):
    data = json.loads((DATUMARO / "person_keypoints_val.json").read_text())
    for a in data["annotations"]:
        a.pop("segmentation")
    path = tmp_path / "kp.json"
    path.write_text(json.dumps(data))
    project = project_for(path, tmp_path / "imgs")
    with pytest.raises(CocoFormatError, match="keypoints-only file"):
        import_coco(project, path)


def test_image_info_file_imports_nothing_with_a_note(tmp_path):
    path = DATUMARO / "image_info_train.json"
    project = project_for(path, tmp_path / "imgs")
    report = import_coco(project, path)
    assert report.shapes == 0 and any("no annotations" in n for n in report.notes)


# --- poisoned and odd coordinates -------------------------------------------------------------
def _poisoned(tmp_path, value_text: str) -> Path:
    text = LABELME.read_text().replace("250.8142292490119", value_text, 1)
    assert text != LABELME.read_text()
    path = tmp_path / "poisoned.json"
    path.write_text(text)
    return path


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e308", "-2e7"])
def test_poisoned_coordinate_rejects_the_whole_file_naming_the_annotation(tmp_path, value, capsys):
    project = project_for(LABELME, tmp_path / "imgs")
    path = _poisoned(tmp_path, value)
    with pytest.raises(CocoFormatError, match=r"annotations\[0\]\.segmentation\[0\]\[0\].*annotation id 0"):
        import_coco(project, path)
    assert not project.state_dir.exists()  # nothing written
    assert cli_main(["import", str(path), "--images", str(project.root)]) == 2
    assert "nothing was imported" in capsys.readouterr().err
    assert not project.state_dir.exists()


def test_points_outside_the_image_are_clipped_and_counted(tmp_path):
    root = tmp_path / "imgs"
    write_image(root / "a.png", 20, 10)
    project = Project.open(root)
    data = {"images": [{"id": 1, "file_name": "a.png", "width": 20, "height": 10}],
            "categories": [{"id": 1, "name": "car"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1,
                             "segmentation": [[-5, -5, 10, -5, 10, 5, -5, 5]]}]}
    path = tmp_path / "c.json"
    path.write_text(json.dumps(data))
    report = import_coco(project, path)
    assert report.clipped_points == 3 and any("3 polygon point(s)" in n for n in report.notes)
    (s,) = project.load("a.png").shapes
    assert s.area == 50 and s.bbox == (0.0, 0.0, 10.0, 5.0)


def test_polygon_export_area_and_bbox_match_the_written_polygons(tmp_path):
    project = project_for(LABELME, tmp_path / "imgs")
    import_coco(project, LABELME)
    exported, _ = build_coco(project, segmentation="polygon")
    sizes = {im["id"]: (im["height"], im["width"]) for im in exported["images"]}
    for a in exported["annotations"]:
        rle = mask_utils.merge(mask_utils.frPyObjects(a["segmentation"], *sizes[a["image_id"]]))
        assert a["area"] == mask_utils.area(rle) and a["bbox"] == mask_utils.toBbox(rle).tolist()


# --- category ids -----------------------------------------------------------------------------
def _one_box_file(tmp_path, categories, category_id) -> Path:
    data = {"images": [{"id": 1, "file_name": "a.png", "width": 20, "height": 10}], "categories": categories,
            "annotations": [{"id": 1, "image_id": 1, "category_id": category_id, "bbox": [1, 1, 4, 4]}]}
    path = tmp_path / f"cats{len(list(tmp_path.glob('cats*')))}.json"
    path.write_text(json.dumps(data))
    return path


def test_category_id_rules_keep_ids_and_report_clashes(tmp_path):
    root = tmp_path / "imgs"
    write_image(root / "a.png", 20, 10)
    project = Project.open(root)
    project.labels.add("person", id=16)
    project.labels.add("dog", id=3)
    # the name exists with another id: the project's id wins, reported
    r = import_coco(project, _one_box_file(tmp_path, [{"id": 15, "name": "person"}], 15))
    assert not r.complete and "has id 15 in the file but 16 in this project" in r.problems[0]
    assert project.labels.get("person").id == 16 and project.labels.by_id(15) is None
    # a new name whose id another name holds: next free id, reported
    r = import_coco(project, _one_box_file(tmp_path, [{"id": 3, "name": "cat"}], 3))
    assert "gets id 17: id 3 is 'dog'" in r.problems[0] and project.labels.get("cat").id == 17
    # a new name with a free id keeps it, gaps and all
    r = import_coco(project, _one_box_file(tmp_path, [{"id": 90, "name": "toothbrush", "supercategory": "indoor"}],
                                           90))
    assert r.complete and project.labels.get("toothbrush").id == 90
    assert project.labels.get("toothbrush").supercategory == "indoor"
    # id 0 in use cannot be kept (0 = unlabeled): renumbered, reported
    r = import_coco(project, _one_box_file(tmp_path, [{"id": 0, "name": "thing"}], 0))
    assert "0 means unlabeled" in r.problems[0] and project.labels.get("thing").id == 91
    labels = Project.open(root).labels  # and it was all saved
    assert [(c.id, c.name) for c in labels] == [(16, "person"), (3, "dog"), (17, "cat"), (90, "toothbrush"),
                                                (91, "thing")]


# --- results lists ------------------------------------------------------------------------------
def test_results_list_imports_as_unaccepted_proposals_with_scores(tmp_path):
    project = project_for(LABELME, tmp_path / "imgs")
    import_coco(project, LABELME)
    exported, _ = build_coco(project)
    results = [{"image_id": a["image_id"], "category_id": a["category_id"], "segmentation": a["segmentation"],
                "score": 0.25 + 0.05 * k} for k, a in enumerate(exported["annotations"][:4])]
    results.append({"image_id": 0, "category_id": 15, "bbox": [10, 10, 20, 20], "score": 0.01})
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    report = import_coco(project, path, min_score=0.1)
    assert report.kind == "results" and report.shapes == 4 and report.complete
    assert any("below --min-score" in n for n in report.notes)
    proposals = [s for r in project.images() for s in project.load(r).shapes if not s.accepted]
    assert sorted(s.score for s in proposals) == [0.25, 0.3, 0.35, 0.4]
    assert all(s.source == "model" for s in proposals)
    assert sum(len(project.load(r).shapes) for r in project.images()) == 16  # human shapes untouched


# --- the command line ----------------------------------------------------------------------------
def test_cli_import_exit_codes_and_report(tmp_path, capsys):
    project = project_for(LABELME, tmp_path / "imgs")
    assert cli_main(["import", str(LABELME), "--images", str(project.root)]) == 0
    out = capsys.readouterr().out
    assert "Imported 12 shapes into 3 of 3 matched images" in out and "note: category '_background_'" in out
    assert cli_main(["import", str(LABELME), "--images", str(project.root)]) == 0
    assert "(12 replaced their earlier version)" in capsys.readouterr().out
    assert cli_main(["import", str(DATUMARO / "panoptic_val.json"), "--images", str(project.root)]) == 2
    assert "COCO panoptic file" in capsys.readouterr().err
    # a file whose category id clashes with the project's: imported, reported, exit 1
    data = json.loads(LABELME.read_text())
    for c in data["categories"]:
        if c["name"] == "person":
            c["id"] = 99
    for a in data["annotations"]:
        if a["category_id"] == 15:
            a["category_id"] = 99
    clash = tmp_path / "clash.json"
    clash.write_text(json.dumps(data))
    assert cli_main(["import", str(clash), "--images", str(project.root)]) == 1
    assert "has id 99 in the file but 15 in this project" in capsys.readouterr().out
    out_file = tmp_path / "out.json"
    assert cli_main(["export", str(project.root), "--out", str(out_file)]) == 0
    assert {a["category_id"] for a in json.loads(out_file.read_text())["annotations"]} == {5, 6, 7, 9, 15, 18}


def test_simplified_model_proposals_survive_export_and_reimport_without_islands_or_duplicates(tmp_path):
    """The issue's 42 -> 48 -> 54: proposals simplified at 1.5 px, exported `auto`, re-imported."""
    from annotator.core.annotations import ImageAnnotations
    from annotator.core.proposals import shapes_from_label_map

    rng = np.random.default_rng(3)
    lm = np.zeros((96, 128), np.int32)
    for _ in range(40):  # overlapping blobs of 4 classes, some with holes
        cy, cx, r = rng.integers(0, 96), rng.integers(0, 128), rng.integers(4, 18)
        yy, xx = np.ogrid[:96, :128]
        ring = (yy - cy) ** 2 + (xx - cx) ** 2
        lm[ring < r * r] = rng.integers(1, 5)
        lm[ring < (r // 3) ** 2] = 0
    write_image(tmp_path / "imgs" / "a.png", 128, 96)
    project = Project.open(tmp_path / "imgs")
    shapes = shapes_from_label_map(lm, ["sky", "road", "car", "tree"], tolerance=1.5, min_area_fraction=0.0005)
    assert len(shapes) > 10 and any(s.has_holes for s in shapes)
    for name in ("sky", "road", "car", "tree"):
        project.labels.add(name)
    project.save(ImageAnnotations("a.png", 128, 96, shapes))
    for mode in ("auto", "polygon", "rle"):
        out = tmp_path / f"{mode}.json"
        export_coco(project, out, segmentation=mode)
        for _ in range(2):  # into the same folder, twice
            import_coco(project, out)
            again = project.load("a.png").shapes
            assert len(again) == len(shapes)
            for a, b in zip(shapes, again):
                assert a.id == b.id and np.array_equal(a.mask(96, 128), b.mask(96, 128))


def test_nan_in_a_kept_field_rejects_the_file_before_anything_is_written(tmp_path):
    text = (DATUMARO / "person_keypoints_val.json").read_text()
    poisoned = text.replace('"keypoints":[\n          1,', '"keypoints":[\n          NaN,', 1)
    assert poisoned != text
    path = tmp_path / "kp.json"
    path.write_text(poisoned)
    project = project_for(path, tmp_path / "imgs")
    with pytest.raises(CocoFormatError, match=r"annotations\[0\] \(annotation id 1\) holds NaN"):
        import_coco(project, path)
    assert not project.state_dir.exists()
