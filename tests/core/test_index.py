"""The status index: right after saves, outside edits, damage and deletion, without parsing twice."""

import json
import os

import pytest
from helpers import square, write_image

from annotator.core.annotations import ImageAnnotations
from annotator.core.index import INDEX_FILE, JOURNAL_FILE, StatusIndex
from annotator.core.project import IMAGE_EXTENSIONS, Project
from annotator.core.shapes import Shape


@pytest.fixture
def project(tmp_path):
    for i in range(3):
        write_image(tmp_path / f"img{i}.png", 40, 30)
    (tmp_path / "sub").mkdir()
    write_image(tmp_path / "sub" / "deep.jpg", 40, 30)
    return Project.open(tmp_path)


def _fresh_index(project):
    return StatusIndex(project.state_dir, IMAGE_EXTENSIONS)  # what another process would read


def test_saves_are_noted_and_refresh_folds_them_into_index_json(project):
    project.save(ImageAnnotations("img0.png", 40, 30, [Shape("sky", square(0, 0, 9, 9))]))
    proposal = Shape("car", square(0, 0, 5, 5), source="model", accepted=False)
    project.save(ImageAnnotations("sub/deep.jpg", 40, 30, [proposal], model_run={"classes": ["car"]}))
    assert (project.state_dir / JOURNAL_FILE).exists()
    entries = _fresh_index(project).refresh()
    assert {rel: e.status for rel, e in entries.items()} == {"img0.png": "reviewed", "sub/deep.jpg": "proposed"}
    assert entries["sub/deep.jpg"].pending == 1 and entries["sub/deep.jpg"].annotated
    assert (project.state_dir / INDEX_FILE).exists() and not (project.state_dir / JOURNAL_FILE).exists()


def test_trusted_entries_are_not_parsed_again(project, monkeypatch):
    project.save(ImageAnnotations("img0.png", 40, 30, [Shape("sky", square(0, 0, 9, 9))]))
    _fresh_index(project).refresh()
    parsed = []
    real = StatusIndex._parse
    monkeypatch.setattr(StatusIndex, "_parse", lambda self, *a: parsed.append(a[0]) or real(self, *a))
    index = _fresh_index(project)
    assert index.refresh()["img0.png"].status == "reviewed" and parsed == []
    assert index.lookup("img0.png").status == "reviewed" and parsed == []


def test_an_outside_edit_is_seen_through_the_files_stat(project):
    project.save(ImageAnnotations("img0.png", 40, 30, [Shape("sky", square(0, 0, 9, 9))]))
    _fresh_index(project).refresh()
    path = project.annotation_path("img0.png")
    data = json.loads(path.read_text())
    data["shapes"] = []
    path.write_text(json.dumps(data))  # another tool, a restored backup...
    os.utime(path, ns=(1, 1))  # even an old mtime: it differs from the indexed one
    assert _fresh_index(project).lookup("img0.png").status == "none"
    assert _fresh_index(project).refresh()["img0.png"].status == "none"


def test_a_damaged_or_missing_index_is_rebuilt(project):
    project.save(ImageAnnotations("img1.png", 40, 30, [Shape("sky", square(0, 0, 9, 9))]))
    index = _fresh_index(project)
    index.refresh()
    (project.state_dir / INDEX_FILE).write_text('{"schema": "pnp-annotator/index", "version": 1, "images": {"x')
    damaged = _fresh_index(project)
    assert damaged.refresh()["img1.png"].status == "reviewed"
    assert json.loads((project.state_dir / INDEX_FILE).read_text())["images"]["img1.png"]["status"] == "reviewed"
    (project.state_dir / INDEX_FILE).unlink()
    assert _fresh_index(project).refresh()["img1.png"].status == "reviewed"


def test_a_damaged_annotation_file_is_indexed_as_damaged_and_deleted_ones_drop_out(project):
    project.save(ImageAnnotations("img0.png", 40, 30, [Shape("sky", square(0, 0, 9, 9))]))
    project.save(ImageAnnotations("img2.png", 40, 30, []))
    project.annotation_path("img0.png").write_text("{broken")
    project.annotation_path("img2.png").unlink()
    entries = _fresh_index(project).refresh()
    assert set(entries) == {"img0.png"} and entries["img0.png"].status == "damaged"
    assert "not valid JSON" in entries["img0.png"].reason


def test_a_torn_log_line_is_ignored(project):
    project.save(ImageAnnotations("img0.png", 40, 30, [Shape("sky", square(0, 0, 9, 9))]))
    with open(project.state_dir / JOURNAL_FILE, "a") as f:
        f.write('{"image": "img1.png", "status": "rev')  # a crash in the middle of a line
    entries = _fresh_index(project).refresh()
    assert set(entries) == {"img0.png"}
