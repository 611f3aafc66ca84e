"""`label --refine`: proposals sharpened by the tiny SAM 2, loaded like users' weights."""

from __future__ import annotations

import shutil

import numpy as np

from annotator import cli
from annotator.core.project import Project

IMAGE = "chelsea.png"


def _folder(tmp_path, samples_dir, name):
    folder = tmp_path / name
    folder.mkdir()
    shutil.copy(samples_dir / IMAGE, folder / IMAGE)
    return folder


def _label(folder, model_dir, *extra):
    return cli.main(["label", str(folder), "--classes", "cat, sky, table", "--model", str(model_dir),
                     "--device", "cpu", "--tolerance", "0", *extra])


def _masks(project):
    ann = project.load(IMAGE)
    return ann, np.stack([s.mask(ann.height, ann.width) for s in ann.shapes])


def test_label_refine_sharpens_and_keeps_a_partition(tmp_path, samples_dir, tiny_model_dir, tiny_sam2_dir, capsys):
    plain = _folder(tmp_path, samples_dir, "plain")
    sharp = _folder(tmp_path, samples_dir, "sharp")
    assert _label(plain, tiny_model_dir) == 0
    assert _label(sharp, tiny_model_dir, "--refine", "--interactive-model", str(tiny_sam2_dir)) == 0
    project = Project.open(sharp)
    assert project.settings.refine is True and project.settings.interactive_model == str(tiny_sam2_dir)
    ann, masks = _masks(project)
    _, before = _masks(Project.open(plain))
    assert masks.sum(axis=0).max() == 1, "sharpened regions never overlap"
    assert all(s.source == "model" and not s.accepted for s in ann.shapes)
    assert not np.array_equal(masks.any(axis=0), before.any(axis=0)) or len(masks) != len(before), \
        "the interactive model changed the outlines"


def test_label_refine_with_missing_interactive_model_fails_early(tmp_path, samples_dir, tiny_model_dir, capsys):
    folder = _folder(tmp_path, samples_dir, "missing")
    code = _label(folder, tiny_model_dir, "--refine", "--interactive-model", str(tmp_path / "nope"))
    err = capsys.readouterr().err
    assert code == 2 and "--refine" in err and "does not exist" in err and "hf download" in err
    assert not Project.open(folder).has_annotations(IMAGE), "nothing labelled with a half-configured run"
