"""Data safety at scale: the folder lock, file modes, deleted and replaced images,
read-only and full-disk starts, a full disk in the middle of a run."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys

import pytest
from helpers import square, write_image

from annotator import cli
from annotator.core.annotations import ImageAnnotations
from annotator.core.atomic import atomic_write_json
from annotator.core.coco import export_coco
from annotator.core.lock import LOCK_FILE, ProjectLockedError, project_lock
from annotator.core.pipeline import PipelineOptions, run_pipeline
from annotator.core.project import Project
from annotator.core.shapes import Shape


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "images"
    for i in range(3):
        write_image(root / f"img{i}.png", 40, 30)
    return Project.open(root)


def _label(root, *extra):
    # The lock and the disk are checked before the model loads: no model is needed.
    return cli.main(["label", str(root), "--classes", "sky", "--model", str(root / "no-model"), "--device", "cpu",
                     *extra])


def test_a_second_label_run_stops_naming_the_holder(project, capsys):
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock = project.state_dir / LOCK_FILE
        project.state_dir.mkdir()
        lock.write_text(json.dumps({"pid": holder.pid, "host": socket.gethostname(), "command": "pnp-annotator label",
                                    "since": "2026-01-01T00:00:00+00:00"}))
        assert _label(project.root) == 2
        err = capsys.readouterr().err
        assert f"pid {holder.pid}" in err and socket.gethostname() in err and str(lock) in err
        with pytest.raises(ProjectLockedError):  # the window's batch runs the same pipeline
            run_pipeline(project, object(), project.images(), PipelineOptions(["sky"]))
        assert not any(project.has_annotations(r) for r in project.images())
    finally:
        holder.kill()
        holder.wait()
    # The holder is gone: its lock is stale and the next run takes it over (then fails on the model).
    assert _label(project.root) == 2
    err = capsys.readouterr().err
    assert "no-model" in err and "labelled by another run" not in err
    assert not (project.state_dir / LOCK_FILE).exists(), "released after the run"


def test_the_lock_is_reentrant_in_one_process_and_another_hosts_lock_is_honoured(project):
    with project_lock(project, "a"):
        with project_lock(project, "b"):
            assert (project.state_dir / LOCK_FILE).exists()
        assert (project.state_dir / LOCK_FILE).exists()
    assert not (project.state_dir / LOCK_FILE).exists()
    (project.state_dir / LOCK_FILE).write_text(json.dumps({"pid": 1, "host": "elsewhere", "command": "x"}))
    with pytest.raises(ProjectLockedError, match="elsewhere"):
        with project_lock(project, "label"):
            pass


def test_files_honour_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_write_json(tmp_path / "new.json", {"a": 1})
        assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o640
        os.umask(0o002)
        atomic_write_json(tmp_path / "other.json", {"a": 1})
        assert stat.S_IMODE((tmp_path / "other.json").stat().st_mode) == 0o664
        os.chmod(tmp_path / "new.json", 0o600)  # a mode the user chose is kept on rewrite
        atomic_write_json(tmp_path / "new.json", {"a": 2})
        assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o600
    finally:
        os.umask(old)


def test_deleted_and_replaced_images_are_reported_at_export_and_never_out_of_bounds(project, tmp_path):
    cat = Shape("cat", square(20, 10, 39, 29))
    for rel in ("img0.png", "img1.png", "img2.png"):
        project.save(ImageAnnotations(rel, 40, 30, [cat.copy()]))
    (project.root / "img1.png").unlink()  # deleted
    write_image(project.root / "img2.png", 20, 15)  # replaced by a smaller one
    report = export_coco(Project.open(project.root), tmp_path / "out.json")
    problems = "\n".join(report.problems)
    assert "img1.png: the image file is gone" in problems and "1 shape(s)" in problems
    assert "img2.png: the image was replaced: it is now 20x15" in problems
    data = json.loads((tmp_path / "out.json").read_text())
    sizes = {im["file_name"]: (im["width"], im["height"]) for im in data["images"]}
    assert sizes == {"img0.png": (40, 30), "img2.png": (20, 15)}
    by_image = {im["id"]: im["file_name"] for im in data["images"]}
    assert [by_image[a["image_id"]] for a in data["annotations"]] == ["img0.png"]
    assert project.load("img2.png").shapes == [cat], "the shapes are kept"


def test_a_replaced_image_is_not_relabelled_over_its_shapes(project):
    from test_pipeline import FakeSegmenter

    human = Shape("car", square(1, 1, 9, 9))
    project.save(ImageAnnotations("img0.png", 80, 60, [human]))  # drawn on an 80x60 image; now 40x30
    summary = run_pipeline(project, FakeSegmenter(), ["img0.png", "img1.png"], PipelineOptions(["sky"]))
    assert summary.labelled == ["img1.png"]
    (rel, reason), = summary.failed
    assert rel == "img0.png" and "replaced" in reason and "40x30" in reason
    ann = project.load("img0.png")
    assert ann.shapes == [human] and (ann.width, ann.height) == (80, 60)


@pytest.fixture
def mount_point(tmp_path):
    """A tmpfs mounted for the test (root only); skipped where mounting is not allowed."""
    point = tmp_path / "mnt"
    point.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    mounted = []

    def mount(*options: str) -> None:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(point)],
                              capture_output=True, text=True)
        if done.returncode:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode})")
        mounted.append(True)

    def remount(*options: str) -> None:
        subprocess.run(["mount", "-o", ",".join(("remount", *options)), str(point)], check=True)

    yield point, mount, remount
    if mounted:
        subprocess.run(["umount", "-l", str(point)], check=False)


def test_a_read_only_folder_at_start_is_one_clear_message(mount_point, capsys):
    point, mount, remount = mount_point
    mount("size=4m")
    for i in range(2):
        write_image(point / f"img{i}.png", 40, 30)
    remount("ro")
    assert _label(point) == 2
    err = capsys.readouterr().err
    assert "read-only" in err and "Nothing was changed" in err and "Traceback" not in err
    assert err.count("error:") == 1


def test_a_full_disk_at_start_is_one_clear_message(mount_point, capsys):
    point, mount, _ = mount_point
    mount("size=256k")
    write_image(point / "img0.png", 40, 30)
    fd = os.open(point / "filler", os.O_CREAT | os.O_WRONLY)
    try:  # fill the disk to the last byte
        while True:
            os.write(fd, b"\0" * 512)
    except OSError:
        pass
    finally:
        os.close(fd)
    assert _label(point) == 2
    err = capsys.readouterr().err
    assert "disk is full" in err and "Nothing was changed" in err and "Traceback" not in err


def test_export_and_import_never_import_torch(project, tmp_path):
    """Commands that run no model stay light: engine imports are deferred (a subprocess, so
    that this test session's own torch import does not count)."""
    project.labels.add("cat")
    project.save_settings()
    project.save(ImageAnnotations("img0.png", 40, 30, [Shape("cat", square(1, 1, 20, 20))]))
    out = tmp_path / "out.json"
    fresh = tmp_path / "fresh"
    shutil.copytree(project.root, fresh, ignore=shutil.ignore_patterns(".pnp-annotator"))
    code = ("import sys; from annotator.cli import main; "
            f"a = main(['export', {str(project.root)!r}, '--out', {str(out)!r}]); "
            f"b = main(['import', {str(out)!r}, '--images', {str(fresh)!r}]); "
            "print(a, b, 'torch' in sys.modules, 'engine.segmenter' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    assert done.stdout.split()[-4:] == ["0", "0", "False", "False"], done.stdout + done.stderr
    assert Project.open(fresh).load("img0.png").shapes[0].label == "cat"
