"""`pnp-annotator` end to end: dispatch, export/import, and `label` with the tiny random model."""

import json
import shutil
import sys
import types

import numpy as np
import pytest
from helpers import square, two_hole_shape, write_image
from pycocotools.coco import COCO

from annotator import cli
from annotator.core.annotations import ImageAnnotations
from annotator.core.project import Project
from annotator.core.shapes import Shape


def test_version_and_help(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("pnp-annotator ")
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("label", "export", "import", "eval", "PATH"))


def test_no_command_opens_the_window_on_the_optional_path(monkeypatch, tmp_path):
    opened = []
    fake = types.ModuleType("annotator.gui.app")
    fake.run_app = lambda path: opened.append(path) or 0
    monkeypatch.setitem(sys.modules, "annotator.gui.app", fake)
    assert cli.main([]) == 0 and cli.main([str(tmp_path)]) == 0
    assert opened == [None, str(tmp_path)]


def test_a_mistyped_command_is_not_opened_as_a_path(monkeypatch, capsys, tmp_path):
    opened = []
    fake = types.ModuleType("annotator.gui.app")
    fake.run_app = lambda path: opened.append(path) or 0
    monkeypatch.setitem(sys.modules, "annotator.gui.app", fake)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["lable", "photos"]) == 2
    assert ("'lable' is neither a command nor a file or folder; did you mean 'label'?"
            in capsys.readouterr().err)
    assert cli.main(["exprot"]) == 2 and "did you mean 'export'?" in capsys.readouterr().err
    assert cli.main(["no-such-folder"]) == 2
    err = capsys.readouterr().err
    assert "'no-such-folder' is neither a command nor a file or folder" in err and "label" in err
    # the suggestion follows whatever commands are registered
    monkeypatch.setitem(cli.COMMANDS, "frobnicate", "annotator.core.commands.label")
    assert cli.main(["frobnicat"]) == 2 and "did you mean 'frobnicate'?" in capsys.readouterr().err
    (tmp_path / "lable").mkdir()  # a folder that happens to be called so is opened
    assert cli.main(["lable"]) == 0
    assert opened == ["lable"]


def test_usage_errors_exit_2(capsys):
    assert cli.main(["a", "b"]) == 2
    assert cli.main(["export", "dir"]) == 2  # --out missing
    assert "--out" in capsys.readouterr().err


def test_a_missing_command_module_is_reported_clearly(monkeypatch, capsys):
    monkeypatch.setitem(cli.COMMANDS, "eval", "annotator.core.not_written_yet")
    assert cli.main(["eval", "--help"]) == 2
    assert "'eval' command is not available" in capsys.readouterr().err
    assert cli.main(["--help"]) == 0 and "eval" in capsys.readouterr().out


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "imgs"
    write_image(root / "a.png", 80, 60)
    write_image(root / "b.png", 50, 40)
    p = Project.open(root)
    p.labels.add("wall")
    p.labels.add("sky")
    p.save_settings()
    p.save(ImageAnnotations("a.png", 80, 60, [two_hole_shape(), Shape("sky", square(0, 0, 80, 5), source="model",
                                                                     accepted=False, score=0.4)]))
    return p


def test_export_then_import_commands(project, tmp_path, capsys):
    out = tmp_path / "coco.json"
    assert cli.main(["export", str(project.root), "--out", str(out), "--accepted-only",
                     "--segmentation", "polygon"]) == 0
    assert "2 images, 1 annotations" in capsys.readouterr().out
    data = json.loads(out.read_text())
    assert isinstance(data["annotations"][0]["segmentation"], list)  # polygon mode, holes cut into pieces

    copy = tmp_path / "copy"
    shutil.copytree(project.root, copy, ignore=shutil.ignore_patterns(".pnp-annotator"))
    assert cli.main(["import", str(out), "--images", str(copy)]) == 0
    (back,) = Project.open(copy).load("a.png").shapes
    assert len(back.holes) == 2 and back.area == two_hole_shape().area

    data["images"].append({"id": 99, "file_name": "gone.png", "width": 5, "height": 5})
    out.write_text(json.dumps(data))
    assert cli.main(["import", str(out), "--images", str(copy)]) == 1
    assert "unmatched image: gone.png" in capsys.readouterr().out

    out.write_text("{")
    assert cli.main(["import", str(out), "--images", str(copy)]) == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_label_without_classes_or_model_exits_2_with_a_useful_message(project, tmp_path, capsys):
    assert cli.main(["label", str(project.root)]) == 2
    assert "--classes" in capsys.readouterr().err
    assert cli.main(["label", str(project.root), "--classes", "sky", "--model", str(tmp_path / "no-model"),
                     "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "no-model" in err


@pytest.fixture
def samples(tmp_path, samples_dir):
    root = tmp_path / "samples"
    shutil.copytree(samples_dir, root, ignore=shutil.ignore_patterns(".*"))
    return root


def _label(root, model_dir, *extra):
    return cli.main(["label", str(root), "--classes", "cat, sky, road", "--model", str(model_dir),
                     "--device", "cpu", *extra])


def test_label_samples_interrupted_then_resumed_then_exported(samples, tiny_model_dir, monkeypatch, tmp_path,
                                                              capsys):
    # One scenario, so the suite segments each sample only once: a broken image among
    # the samples, Ctrl-C during the second model call, a resumed run, a COCO export.
    from engine import Segmenter

    (samples / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    real = Segmenter.segment_batch
    calls = []

    def interrupt_on_second_batch(self, images, classes, **kw):
        calls.append(len(images))
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C while the model runs
        return real(self, images, classes, **kw)

    monkeypatch.setattr(Segmenter, "segment_batch", interrupt_on_second_batch)
    assert _label(samples, tiny_model_dir, "--batch-size", "1") == 130
    out = capsys.readouterr().out
    assert "Interrupted" in out and "broken.jpg: Cannot read image" in out
    project = Project.open(samples)
    assert [r for r in project.images() if project.has_annotations(r)] == ["astronaut.png"]
    first = project.annotation_path("astronaut.png").read_bytes()

    monkeypatch.setattr(Segmenter, "segment_batch", real)
    coco_path = tmp_path / "coco.json"
    assert _label(samples, tiny_model_dir, "--skip-annotated", "--out", str(coco_path)) == 1  # broken.jpg failed
    out = capsys.readouterr().out
    assert "Labelled 3 of 5 images" in out and "skipped 1" in out and "failed 1" in out
    assert project.annotation_path("astronaut.png").read_bytes() == first  # not redone
    project = Project.open(samples)
    assert project.labels.names[:3] == ["cat", "sky", "road"] and project.settings.classes == "cat, sky, road"
    good = [r for r in project.images() if r != "broken.jpg"]
    assert all(project.load(r).model_run for r in good)

    coco = COCO(str(coco_path))
    assert sorted(im["file_name"] for im in coco.dataset["images"]) == good
    assert [c["id"] for c in coco.dataset["categories"]] == [1, 2, 3]
    assert len(coco.dataset["annotations"]) == sum(len(project.load(r).shapes) for r in good) > 0
    for ann in coco.dataset["annotations"]:
        assert ann["attributes"]["source"] == "model" and ann["attributes"]["accepted"] is False
        assert 0 <= ann["score"] <= 1 and ann["area"] > 0
        im = coco.imgs[ann["image_id"]]
        assert coco.annToMask(ann).shape == (im["height"], im["width"])


def test_first_ctrl_c_asks_to_stop_and_the_second_stops_at_once(capsys):
    import os
    import signal
    import threading

    from annotator.core.commands.label import _ctrl_c_sets

    # Whatever the handler was before is put back (a shell that starts pytest in the
    # background hands it SIGINT ignored, not Python's default handler).
    before = signal.getsignal(signal.SIGINT)
    cancel = threading.Event()
    with _ctrl_c_sets(cancel):
        assert signal.getsignal(signal.SIGINT) is not before
        os.kill(os.getpid(), signal.SIGINT)
        assert cancel.is_set() and "Stopping" in capsys.readouterr().err
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before


def test_label_with_sam3_gives_instances_and_remembers_the_mode(samples, tiny_sam3_dir, tiny_model_dir, capsys):
    for extra in sorted(samples.iterdir())[1:]:
        extra.unlink()  # one image is enough here
    assert _label(samples, tiny_sam3_dir) == 0
    project = Project.open(samples)
    rel = project.images()[0]
    shapes = project.load(rel).shapes
    assert shapes and all(s.source == "model" and s.score is not None for s in shapes)
    assert project.settings.model == str(tiny_sam3_dir) and project.settings.proposals == "auto"
    assert _label(samples, tiny_sam3_dir, "--proposals", "regions") == 0
    assert Project.open(samples).settings.proposals == "regions"
    capsys.readouterr()
    # PnP-OVSS detects no instances: refused before any work, settings untouched.
    assert _label(samples, tiny_model_dir, "--proposals", "instances") == 2
    assert "needs an engine that detects objects" in capsys.readouterr().err
    assert Project.open(samples).settings.model == str(tiny_sam3_dir)
