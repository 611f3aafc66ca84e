"""Project-wide class edits, the identical-proposal rule, kept heatmaps and the class palette."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from helpers import square, write_image

from annotator.core import heatcache
from annotator.core.annotations import ImageAnnotations
from annotator.core.classes import ClassEdit, class_usage, edit_files, edit_labels, edit_shapes
from annotator.core.labels import LabelSet, palette_color
from annotator.core.project import Project
from annotator.core.shapes import Shape


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "imgs"
    write_image(root / "a.png", 80, 60)
    write_image(root / "b.png", 80, 60)
    p = Project.open(root)
    for name in ("cat", "Dog", "sky"):
        p.labels.add(name)
    p.save(ImageAnnotations("a.png", 80, 60, [Shape("cat", square(1, 1, 9, 9)), Shape("sky", square(20, 1, 40, 9))]))
    p.save(ImageAnnotations("b.png", 80, 60, [Shape("cat", square(1, 1, 9, 9), source="model", accepted=False)]))
    return p


def test_rename_merge_delete_and_recolour_the_label_set(project):
    labels = project.labels
    ids = {c.name: c.id for c in labels}
    assert [(c.id, c.name) for c in edit_labels(labels, ClassEdit(renames={"cat": "kitten"}))] == [
        (ids["cat"], "kitten"), (ids["Dog"], "Dog"), (ids["sky"], "sky")]
    merged = edit_labels(labels, ClassEdit(renames={"cat": "dog"}))
    assert [c.name for c in merged] == ["Dog", "sky"], "a rename onto an existing name merges"
    assert [c.name for c in edit_labels(labels, ClassEdit(deletes=frozenset({"SKY"})))] == ["cat", "Dog"]
    assert edit_labels(labels, ClassEdit(colors={"sky": (1, 2, 3)}))[2].color == (1, 2, 3)
    with pytest.raises(ValueError, match="empty"):
        edit_labels(labels, ClassEdit(renames={"cat": "  "}))


def test_shapes_and_files_follow_keeping_review_state(project):
    shapes = project.load("b.png").shapes
    out = edit_shapes(shapes, ClassEdit(renames={"cat": "dog"}), project.labels)
    assert out[0].label == "Dog" and out[0].id == shapes[0].id and not out[0].accepted
    assert edit_shapes(shapes, ClassEdit(renames={"sky": "air"})) is None, "nothing to change"
    written = edit_files(project, ClassEdit(deletes=frozenset({"cat"})), skip=["b.png"])
    assert written == ["a.png"]
    assert [s.label for s in project.load("a.png").shapes] == ["sky"]
    assert [s.label for s in project.load("b.png").shapes] == ["cat"], "skipped (open in the window)"
    assert class_usage(project) == {"sky": 1, "cat": 1}


def test_a_proposal_identical_to_a_kept_shape_is_not_added():
    kept = Shape("cat", square(1, 1, 9, 9))
    ann = ImageAnnotations("a.png", 80, 60, [kept])
    twin = Shape("cat", square(1, 1, 9, 9), source="model", accepted=False)
    other = Shape("cat", square(1, 1, 9, 10), source="model", accepted=False)
    ann.apply_proposals([twin, other], skip_kept=True)
    assert [s.id for s in ann.shapes] == [kept.id, other.id]
    ann.apply_proposals([twin])  # an imported results file keeps what it lists
    assert [s.id for s in ann.shapes] == [kept.id, twin.id]


def test_heatmaps_are_kept_compactly_and_a_damaged_file_reads_as_none(project):
    heat = np.random.default_rng(0).random((3, 24, 24)).astype(np.float32)
    saved = heatcache.SavedResult(["cat", "Dog", "sky"], heat, (60, 80), (60, 80), None, 2.5, "auto")
    heatcache.save_result(project, "a.png", saved)
    path = heatcache.heat_path(project, "a.png")
    assert path.name == "a.png.heat.npz" and path.parent == project.state_dir / "images"
    assert path.stat().st_size < 8000
    back = heatcache.load_result(project, "a.png")
    assert back.classes == saved.classes and back.threshold is None and back.tolerance == 2.5
    assert np.allclose(back.heatmaps, heat, atol=1e-3)
    path.write_bytes(b"not a zip")
    assert heatcache.load_result(project, "a.png") is None
    assert heatcache.load_result(project, "b.png") is None


def test_palette_keeps_48_classes_apart():
    rgb = np.array([palette_color(i) for i in range(48)], np.float32)[None] / 255
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)[0]
    distance = np.linalg.norm(lab[:, None] - lab[None], axis=-1) + np.eye(48) * 1e9
    assert distance.min() > 15, "every two of the first 48 class colours are told apart at a glance"
    assert len(LabelSet([]).color("anything")) == 3
