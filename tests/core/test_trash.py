"""Annotations of a deleted image set aside in .pnp-annotator/trash/, never deleted."""

import pytest
from helpers import square, write_image

from annotator.core.annotations import ImageAnnotations
from annotator.core.heatcache import heat_path
from annotator.core.project import Project
from annotator.core.shapes import Shape
from annotator.core.trash import TRASH_DIR, trash_annotations


@pytest.fixture
def project(tmp_path):
    write_image(tmp_path / "kept.png", 40, 30)
    (tmp_path / "sub").mkdir()
    write_image(tmp_path / "sub" / "gone.png", 40, 30)
    project = Project.open(tmp_path)
    for rel in ("kept.png", "sub/gone.png"):
        project.save(ImageAnnotations(rel, 40, 30, [Shape("sky", square(0, 0, 9, 9))]))
    (tmp_path / "sub" / "gone.png").unlink()
    return project


def test_the_annotation_and_heatmap_files_move_to_the_trash_and_leave_the_index(project):
    text = project.annotation_path("sub/gone.png").read_text()
    heat_path(project, "sub/gone.png").write_bytes(b"heat")
    assert set(project.index.refresh()) == {"kept.png", "sub/gone.png"}
    moved = trash_annotations(project, "sub/gone.png")
    trash = project.state_dir / TRASH_DIR
    assert moved == [trash / "sub" / "gone.png.json", trash / "sub" / "gone.png.heat.npz"]
    assert moved[0].read_text() == text and moved[1].read_bytes() == b"heat"
    assert not project.annotation_path("sub/gone.png").exists() and not heat_path(project, "sub/gone.png").exists()
    assert project.entry("sub/gone.png") is None
    assert set(project.index.refresh()) == {"kept.png"}, "the trash folder is not indexed"


def test_an_earlier_trashed_copy_is_never_overwritten(project):
    first = trash_annotations(project, "sub/gone.png")[0]
    project.save(ImageAnnotations("sub/gone.png", 40, 30, []))
    second = trash_annotations(project, "sub/gone.png")[0]
    assert second == first.with_name("gone~2.png.json") and first.exists() and second.exists()


def test_an_image_without_annotation_file_is_refused(project):
    with pytest.raises(FileNotFoundError, match="no annotation file"):
        trash_annotations(project, "nothing.png")
