import json
import os

import pytest
from helpers import square, two_hole_shape, write_image

from annotator.core import atomic
from annotator.core.annotations import ImageAnnotations
from annotator.core.labels import LabelSet
from annotator.core.project import AnnotationFileError, Project
from annotator.core.shapes import Shape


@pytest.fixture
def project(tmp_path):
    write_image(tmp_path / "b.png")
    write_image(tmp_path / "sub" / "a.JPG")
    write_image(tmp_path / "sub" / "deeper" / "c.webp", 30, 20)
    (tmp_path / "notes.txt").write_text("not an image")
    write_image(tmp_path / ".hidden" / "x.png")
    return Project.open(tmp_path)


def test_images_are_recursive_sorted_relative_and_skip_hidden_folders(project):
    assert project.images() == ["b.png", "sub/a.JPG", "sub/deeper/c.webp"]


def test_annotation_path_mirrors_the_image_path(project):
    assert project.annotation_path("sub/a.JPG") == project.root / ".pnp-annotator" / "images" / "sub" / "a.JPG.json"
    with pytest.raises(ValueError, match="relative"):
        project.annotation_path("../outside.png")


def test_load_without_file_gives_empty_annotations_sized_from_the_image(project):
    ann = project.load("sub/deeper/c.webp")
    assert (ann.width, ann.height, ann.shapes, ann.status) == (30, 20, [], "none")
    assert not project.has_annotations("sub/deeper/c.webp")


def test_save_then_load_round_trips_and_is_versioned_json(project):
    ann = ImageAnnotations("sub/a.JPG", 64, 48, [two_hole_shape(), Shape("sky", square(0, 0, 5, 5),
                                                                         source="model", score=0.5, accepted=False)],
                           model_run={"classes": ["sky"], "model": "m", "time": "t"})
    project.save(ann)
    raw = json.loads(project.annotation_path("sub/a.JPG").read_text())
    assert raw["schema"] == "pnp-annotator/image" and raw["version"] == 2
    back = project.load("sub/a.JPG")
    assert back.shapes == ann.shapes and back.model_run == ann.model_run
    assert back.status == "proposed" and project.has_annotations("sub/a.JPG")


def test_crash_during_write_leaves_the_old_file_intact(project, monkeypatch):
    project.save(ImageAnnotations("b.png", 64, 48, [two_hole_shape()]))
    path = project.annotation_path("b.png")
    before = path.read_bytes()

    def crash(*args):  # the process dies after writing the temp file, before the rename
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        project.save(ImageAnnotations("b.png", 64, 48, []))
    assert path.read_bytes() == before
    assert not project.stray_temp_files()  # no temp file left behind


def test_crash_mid_write_with_temp_left_behind_does_not_disturb_reading(project, monkeypatch):
    project.save(ImageAnnotations("b.png", 64, 48, [two_hole_shape()]))
    monkeypatch.setattr(atomic.os, "unlink", lambda p: None)  # as if killed before cleanup
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        project.save(ImageAnnotations("b.png", 64, 48, []))
    assert len(project.load("b.png").shapes) == 1
    assert len(project.stray_temp_files()) == 1
    assert project.images() == ["b.png", "sub/a.JPG", "sub/deeper/c.webp"]


def test_unserialisable_data_never_truncates_the_file(tmp_path):
    path = tmp_path / "x.json"
    atomic.atomic_write_json(path, {"a": 1})
    with pytest.raises(ValueError):
        atomic.atomic_write_json(path, {"a": float("nan")})
    assert json.loads(path.read_text()) == {"a": 1}


@pytest.mark.parametrize("content, reason", [
    ("{not json", "not valid JSON"),
    ('{"schema": "pnp-annotator/image", "version": 1, "image": "b.png", "width": 64, "height": 48, '
     '"shapes": [{"id": "1", "label": "a", "exterior": [[0, 0], [1, 1]]}]}', r"shapes\[0\]: exterior"),
    ('{"schema": "pnp-annotator/image", "version": 9, "image": "b.png", "width": 1, "height": 1, "shapes": []}',
     "newer pnp-annotator"),
    ('{"schema": "something-else"}', "not a pnp-annotator annotation file"),
    ('{"schema": "pnp-annotator/image", "version": 1, "image": "b.png", "width": 0, "height": 48, "shapes": []}',
     "'width'"),
])
def test_damaged_file_names_file_and_reason_and_other_images_still_load(project, content, reason):
    path = project.annotation_path("b.png")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    with pytest.raises(AnnotationFileError, match=reason) as info:
        project.load("b.png")
    assert info.value.path == path and str(path) in str(info.value)
    project.save(ImageAnnotations("sub/a.JPG", 64, 48, [two_hole_shape()]))
    assert len(project.load("sub/a.JPG").shapes) == 1


def test_labels_and_settings_persist_in_project_json(project):
    project.labels.add("sky")
    project.labels.add("road", (1, 2, 3))
    project.settings.classes = "sky, road"
    project.settings.simplify_tolerance = 0.5
    project.save_settings()
    again = Project.open(project.root)
    assert again.labels.to_dict() == project.labels.to_dict()
    assert again.settings == project.settings and again.problems == []


def test_damaged_project_json_is_reported_and_kept_aside_on_next_save(project):
    path = project.state_dir / "project.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"schema": "pnp-annotator/project", "version": 1, "settings": {"simplify_tolerance": "x"}}')
    opened = Project.open(project.root)
    assert len(opened.problems) == 1 and "settings.simplify_tolerance" in opened.problems[0]
    assert opened.images() and opened.settings.simplify_tolerance == 1.5
    opened.save_settings()
    assert (path.parent / "project.json.damaged").exists() and Project.open(project.root).problems == []


def test_opening_a_missing_folder_says_so(tmp_path):
    with pytest.raises(NotADirectoryError, match="not a folder"):
        Project.open(tmp_path / "nope")


def test_label_set_is_ordered_idempotent_and_case_insensitive():
    labels = LabelSet()
    sky = labels.add("Sky")
    assert labels.add(" sky ") is sky and labels.add("road").id == 2 and labels.names == ["Sky", "road"]
    assert labels.get("SKY") is sky and "ROAD" in labels and labels.color("sky") == sky.color
    assert labels.color("unknown") == labels.color("Unknown")
    assert sky.color != labels.get("road").color
    assert LabelSet.from_dict(labels.to_dict()).categories == labels.categories
    with pytest.raises(ValueError, match="already used"):
        LabelSet.from_dict({"categories": [{"id": 1, "name": "a"}, {"id": 1, "name": "b"}]})


def test_status_and_apply_proposals_never_touch_human_or_accepted_shapes():
    human = Shape("wall", square(0, 0, 5, 5))
    accepted = Shape("sky", square(5, 5, 9, 9), source="model", accepted=True)
    old = Shape("sky", square(1, 1, 3, 3), source="model", accepted=False)
    ann = ImageAnnotations("a.png", 10, 10, [human, accepted, old])
    assert ann.status == "proposed"
    new = Shape("road", square(2, 2, 4, 4), source="model", accepted=False)
    assert ann.apply_proposals([new]) == [old]
    assert ann.shapes == [human, accepted, new]
    ann.shapes[-1].accepted = True
    assert ann.status == "reviewed"
    assert ImageAnnotations("a.png", 10, 10).status == "none"


def test_image_size_from_header_follows_exif_rotation_like_load_rgb(tmp_path):
    from PIL import Image

    from annotator.core.imageinfo import image_size
    from engine.images import ImageReadError, load_rgb

    img = Image.new("RGB", (40, 20), (10, 20, 30))
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    img.save(tmp_path / "rot.jpg", exif=exif.tobytes())
    assert image_size(tmp_path / "rot.jpg") == (20, 40)
    assert load_rgb(tmp_path / "rot.jpg").shape[:2] == (40, 20)
    (tmp_path / "bad.png").write_bytes(b"junk")
    with pytest.raises(ImageReadError, match="bad.png"):
        image_size(tmp_path / "bad.png")


def test_version_1_file_is_read_migrated_and_written_as_version_2(project):
    from annotator.core.shapes import Part
    path = project.annotation_path("b.png")
    path.parent.mkdir(parents=True, exist_ok=True)
    v1 = {"schema": "pnp-annotator/image", "version": 1, "image": "b.png", "width": 64, "height": 48,
          "shapes": [{"id": "s1", "label": "wall", "source": "model", "accepted": False, "score": 0.5,
                      "exterior": square(10, 10, 40, 30).tolist(), "holes": [square(14, 14, 18, 18).tolist()]}],
          "model_run": {"classes": ["wall"], "model": "m", "time": "t"}}
    path.write_text(json.dumps(v1))
    ann = project.load("b.png")
    assert ann.migrated_from == 1 and ann.model_run == v1["model_run"]
    (s,) = ann.shapes
    assert (s.id, s.label, s.source, s.accepted, s.score, s.iscrowd) == ("s1", "wall", "model", False, 0.5, False)
    assert s.parts == [Part(square(10, 10, 40, 30), [square(14, 14, 18, 18)])]
    project.save(ann)
    raw = json.loads(path.read_text())
    assert raw["version"] == 2 and raw["shapes"][0]["parts"][0]["holes"] == v1["shapes"][0]["holes"]
    assert "exterior" not in raw["shapes"][0]
    again = project.load("b.png")
    assert again.migrated_from is None and again.shapes == ann.shapes


def test_multi_part_crowd_shape_with_extra_round_trips_through_storage(project):
    from annotator.core.shapes import Part
    s = Shape("person", parts=[Part(square(0, 0, 5, 5)), Part(square(10, 10, 20, 20), [square(12, 12, 14, 14)])],
              iscrowd=True, extra={"attributes": {"occluded": False}, "num_keypoints": 0})
    project.save(ImageAnnotations("b.png", 64, 48, [s]))
    assert project.load("b.png").shapes == [s]

