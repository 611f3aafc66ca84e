"""The state folder's layout (core/layout.py): per-image files apart from the project's own,
layout-1 projects moved on open (core/migration.py, a crash at any step leaves a readable
project), no link followed inside the state folder, a state folder that is not a folder."""

from __future__ import annotations

import errno
import json
import os
import time

import pytest
from helpers import square, write_image

from annotator import cli
from annotator.core import heatcache, migration
from annotator.core.annotations import ImageAnnotations
from annotator.core.index import StatusIndex
from annotator.core.layout import IMAGE_EXTENSIONS, STAGING_DIR, STATE_DIR, StateFolderError, StateLayout
from annotator.core.lock import project_lock
from annotator.core.project import Project
from annotator.core.shapes import Shape
from annotator.core.trash import trash_annotations

# image paths that layout 1 confused with the project's own files
TRICKY = ["a.png", "trash/a.png", "lock/b.png", "index.json/c.png", "images/d.png", "project.json/e.png"]


def _ann(rel: str, label: str) -> ImageAnnotations:
    return ImageAnnotations(rel, 40, 30, [Shape(label, square(1, 1, 9, 9))])


@pytest.fixture
def tricky(tmp_path):
    root = tmp_path / "photos"
    for rel in TRICKY:
        write_image(root / rel, 40, 30)
    return root


def test_image_folders_named_like_state_files_never_meet_them(tricky):
    project = Project.open(tricky)
    assert project.images() == sorted(TRICKY)
    with project_lock(project, "label"):  # the lock is taken while lock/b.png gets its file
        for rel in TRICKY:
            project.save(_ann(rel, rel.replace("/", "-")))
    project.save_settings()
    project.index.refresh()
    reopened = Project.open(tricky)
    assert {rel: reopened.load(rel).shapes[0].label for rel in TRICKY} == {r: r.replace("/", "-") for r in TRICKY}
    assert set(StatusIndex(reopened.state_dir, IMAGE_EXTENSIONS).refresh()) == set(TRICKY)
    # the trash of a deleted a.png is not trash/a.png's annotation file, and the reverse
    (tricky / "a.png").unlink()
    moved = trash_annotations(reopened, "a.png")
    assert moved == [reopened.state_dir / "trash" / "a.png.json"]
    assert reopened.load("trash/a.png").shapes[0].label == "trash-a.png"
    assert set(reopened.index.refresh()) == set(TRICKY) - {"a.png"}
    # and a second lock after the run: lock/b.png's file is no lock
    with project_lock(reopened, "label"):
        pass


MOVED = ["a.png", "sub/b.png", "images/c.png", "lock/d.png"]


def _layout1(root) -> dict[str, bytes]:
    """A layout-1 state folder written by hand as older versions wrote it; {relative path: bytes}."""
    state = root / STATE_DIR
    files = {}
    for rel in ["a.png", "sub/b.png", "images/c.png", "lock/d.png"]:
        write_image(root / rel, 40, 30)
        text = json.dumps(_ann(rel, "old").to_dict()) + "\n"
        files[rel + ".json"] = text.encode()
    files["sub/b.png.heat.npz"] = b"heat of b"
    files["trash/gone.png.json"] = json.dumps(_ann("gone.png", "gone").to_dict()).encode()
    files["project.json"] = json.dumps({"schema": "pnp-annotator/project", "version": 1,
                                        "labels": {"categories": [{"id": 1, "name": "old", "color": [255, 0, 0]}]},
                                        "settings": {"classes": "old"}}).encode()
    for rel, data in files.items():
        (state / rel).parent.mkdir(parents=True, exist_ok=True)
        (state / rel).write_bytes(data)
    index = StatusIndex(state, IMAGE_EXTENSIONS, layout=StateLayout(state, version=1))
    assert set(index.refresh()) == set(MOVED)  # layout 1 reads as before
    return files


def _check_moved(root, files):
    project = Project.open(root)
    state = project.state_dir
    assert project.layout.version == 2 and project.layout.images_dir == state / "images"
    assert json.loads((state / "layout.json").read_text())["version"] == 2
    for rel in MOVED:
        assert project.annotation_path(rel).read_bytes() == files[rel + ".json"]
        assert project.load(rel).shapes[0].label == "old"
    assert (state / "images" / "sub" / "b.png.heat.npz").read_bytes() == b"heat of b"
    assert (state / "trash" / "gone.png.json").read_bytes() == files["trash/gone.png.json"]
    assert project.labels.names == ["old"] and project.settings.classes == "old"
    assert not (state / "sub").exists() and not (state / "a.png.json").exists()
    assert not (state / STAGING_DIR).exists()
    assert sorted(os.listdir(state)) == ["images", "index.json", "layout.json", "project.json", "trash"]
    assert set(project.index.refresh()) == set(MOVED)
    return project


def test_a_layout_1_project_moves_on_open_keeping_every_file(tmp_path):
    root = tmp_path / "photos"
    files = _layout1(root)
    _check_moved(root, files)
    assert cli.main(["export", str(root), "--out", str(tmp_path / "out.json")]) == 0
    assert len(json.loads((tmp_path / "out.json").read_text())["annotations"]) == len(MOVED)


def _crash_at(monkeypatch, name):
    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # the process dies here
    monkeypatch.setattr(migration, name, crash)


@pytest.mark.parametrize("step", ["os.sync", "_write_marker", "_remove_if_moved", "os.rename"])
def test_a_crash_at_any_step_of_the_move_leaves_a_readable_project_that_the_next_open_finishes(
        tmp_path, monkeypatch, step):
    root = tmp_path / "photos"
    files = _layout1(root)
    if step == "os.sync":
        monkeypatch.setattr(migration.os, "sync", lambda: (_ for _ in ()).throw(KeyboardInterrupt()))
    elif step == "os.rename":
        monkeypatch.setattr(migration.os, "rename", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    else:
        _crash_at(monkeypatch, step)
    with pytest.raises(KeyboardInterrupt):
        Project.open(root)
    monkeypatch.undo()
    # what a reader that cannot write (a read-only mount) sees now: every annotation
    state = root / STATE_DIR
    layout = StateLayout.detect(state)
    for rel in MOVED:
        assert layout.annotation(rel).read_bytes() == files[rel + ".json"], (step, layout.images_dir)
    assert set(StatusIndex(state, IMAGE_EXTENSIONS).refresh()) == set(MOVED)
    _check_moved(root, files)


def test_a_folder_that_cannot_be_written_is_read_in_its_old_layout(tmp_path, monkeypatch):
    root = tmp_path / "photos"
    files = _layout1(root)

    def read_only(state_dir):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(migration, "migrate", read_only)
    project = Project.open(root)
    assert project.layout.version == 1 and not project.problems
    assert project.load("images/c.png").shapes[0].label == "old"
    assert set(project.index.refresh()) == set(MOVED)
    assert project.annotation_path("sub/b.png").read_bytes() == files["sub/b.png.json"]


def test_a_new_project_is_marked_with_its_first_file_and_never_taken_for_layout_1(tmp_path):
    root = tmp_path / "photos"
    write_image(root / "images" / "x.png", 40, 30)
    project = Project.open(root)
    assert not (root / STATE_DIR).exists()
    project.save(_ann("images/x.png", "new"))
    assert (root / STATE_DIR / "layout.json").is_file()
    again = Project.open(root)
    assert again.annotation_path("images/x.png") == root / STATE_DIR / "images" / "images" / "x.png.json"
    assert again.load("images/x.png").shapes[0].label == "new"


@pytest.mark.parametrize("kind", ["file", "link"])
def test_a_state_folder_that_is_a_file_or_a_link_is_refused_with_a_message(tmp_path, capsys, kind):
    root = tmp_path / "photos"
    write_image(root / "a.png", 40, 30)
    if kind == "file":
        (root / STATE_DIR).write_text("not a folder")
    else:
        (tmp_path / "elsewhere").mkdir()
        (root / STATE_DIR).symlink_to(tmp_path / "elsewhere")
    with pytest.raises(StateFolderError, match=STATE_DIR):
        Project.open(root)
    for argv in (["export", str(root), "--out", str(tmp_path / "o.json")],
                 ["label", str(root), "--classes", "sky", "--model", str(root / "none")]):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert STATE_DIR in err and "Traceback" not in err
    assert not list((tmp_path / "elsewhere").iterdir()) if kind == "link" else True
    assert not (tmp_path / "o.json").exists()


def test_the_index_log_is_never_appended_through_a_link_and_names_are_escaped(tmp_path):
    root = tmp_path / "photos"
    rel = "evil\nname; echo hi.png"
    write_image(root / rel, 40, 30)
    write_image(root / "b.png", 40, 30)
    project = Project.open(root)
    project.save(_ann("b.png", "x"))
    project.index.refresh()  # folds the log into index.json: no log now
    victim = tmp_path / "bashrc"
    victim.write_text("original\n")
    (project.state_dir / "index.log").symlink_to(victim)
    project.save(_ann(rel, "x"))
    assert victim.read_text() == "original\n"
    assert Project.open(root).load(rel).shapes[0].label == "x"
    (project.state_dir / "index.log").unlink()
    project.save(_ann(rel, "y"))
    lines = (project.state_dir / "index.log").read_bytes().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["image"] == rel and lines[0].isascii()
    # the log of an older version (non-ASCII names unescaped) still reads
    (project.state_dir / "index.log").write_text(json.dumps({"image": rel, **json.loads(lines[0])},
                                                            ensure_ascii=False) + "\n")
    assert rel in StatusIndex(project.state_dir, IMAGE_EXTENSIONS).entries()


def test_files_and_folders_in_the_state_folder_that_are_links_are_refused(tmp_path):
    root = tmp_path / "photos"
    write_image(root / "sub" / "a.png", 40, 30)
    write_image(root / "b.png", 40, 30)
    project = Project.open(root)
    project.save(_ann("b.png", "x"))
    outside = tmp_path / "outside"
    outside.mkdir()
    (project.state_dir / "images" / "sub").symlink_to(outside)
    with pytest.raises(StateFolderError, match="symbolic link"):
        project.save(_ann("sub/a.png", "x"))
    with pytest.raises(StateFolderError):
        heatcache.heat_path(project, "sub/a.png")
    assert not list(outside.iterdir())
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps(_ann("b.png", "secret").to_dict()))
    project.annotation_path("b.png").unlink()
    project.annotation_path("b.png").symlink_to(secret)
    with pytest.raises(Exception, match="symbolic link"):
        project.load("b.png")
    assert project.entry("b.png").status == "damaged"


def test_a_refused_class_list_leaves_project_json_as_it_was(tmp_path, tiny_model_dir, capsys):
    root = tmp_path / "photos"
    write_image(root / "a.png", 40, 30)
    project = Project.open(root)
    project.labels.add("wall")
    project.settings.classes = "wall"
    project.save_settings()
    before = project.layout.project_file.read_bytes()
    too_many = ", ".join(f"class{i}" for i in range(300))
    assert cli.main(["label", str(root), "--classes", too_many, "--model", str(tiny_model_dir),
                     "--device", "cpu"]) == 2
    assert "too long" in capsys.readouterr().err
    assert project.layout.project_file.read_bytes() == before
    assert Project.open(root).labels.names == ["wall"]


def test_export_and_label_never_write_over_an_image_a_state_file_or_a_file_not_ours(tmp_path, capsys):
    root = tmp_path / "photos"
    write_image(root / "a.png", 40, 30)
    project = Project.open(root)
    project.labels.add("x")
    project.save(_ann("a.png", "x"))
    project.save_settings()
    image = (root / "a.png").read_bytes()
    theirs = tmp_path / "ground-truth.json"
    theirs.write_text('{"images": [], "annotations": [], "categories": []}')
    state = root / STATE_DIR
    for out, why in [(root / "a.png", "inside the image folder"), (root / "new.json", "inside the image folder"),
                     (state / "project.json", "state folder"), (state / "images" / "a.png.json", "state folder"),
                     (theirs, "not a COCO export of pnp-annotator"), (tmp_path, "is a folder")]:
        before = {p: p.read_bytes() for p in [root / "a.png", theirs, *state.rglob("*.json")]}
        for argv in (["export", str(root), "--out", str(out)],
                     ["label", str(root), "--classes", "sky", "--model", str(tmp_path / "none"), "--out", str(out)]):
            assert cli.main(argv) == 2, (argv, out)
            err = capsys.readouterr().err
            assert why in err and "Traceback" not in err
            assert {p: p.read_bytes() for p in before} == before
    assert (root / "a.png").read_bytes() == image and not (root / "new.json").exists()
    # our own export is replaced without asking; --force writes over another file, never into the state folder
    ours = tmp_path / "coco.json"
    assert cli.main(["export", str(root), "--out", str(ours)]) == 0
    assert next(iter(json.loads(ours.read_text()))) == "pnp-annotator"
    assert cli.main(["export", str(root), "--out", str(ours)]) == 0
    assert cli.main(["export", str(root), "--out", str(theirs), "--force"]) == 0
    assert len(json.loads(theirs.read_text())["annotations"]) == 1
    assert cli.main(["export", str(root), "--out", str(root / "in-folder.json"), "--force"]) == 0
    assert cli.main(["export", str(root), "--out", str(state / "x.json"), "--force"]) == 2
    capsys.readouterr()


def _png_with_trailing_exif(path, width, height, orientation):
    """A PNG whose eXIf chunk (EXIF orientation) comes after the image data."""
    import struct
    import zlib

    from PIL import Image

    Image.new("RGB", (width, height), (10, 200, 30)).save(path)
    exif = Image.Exif()
    exif[0x0112] = orientation
    raw = exif.tobytes()
    raw = raw[6:] if raw.startswith(b"Exif\x00\x00") else raw
    data = path.read_bytes()
    end = data.rindex(b"IEND") - 4
    chunk = struct.pack(">I", len(raw)) + b"eXIf" + raw + struct.pack(">I", zlib.crc32(b"eXIf" + raw))
    path.write_bytes(data[:end] + chunk + data[end:])


def test_a_png_whose_exif_comes_after_the_pixels_has_one_size_everywhere(tmp_path):
    from annotator.core.coco import export_coco
    from annotator.core.imageinfo import image_size
    from engine.images import load_rgb

    root = tmp_path / "photos"
    root.mkdir()
    _png_with_trailing_exif(root / "turned.png", 40, 30, 6)
    rgb = load_rgb(root / "turned.png")
    assert rgb.shape[:2] == (40, 30)  # the pixel loader applies the orientation
    assert image_size(root / "turned.png") == (30, 40)  # and the header read agrees
    project = Project.open(root)
    project.labels.add("x")
    project.save(ImageAnnotations("turned.png", 30, 40, [Shape("x", square(1, 1, 9, 9))]))
    report = export_coco(project, tmp_path / "out.json")
    assert report.problems == [] and report.annotations == 1
    image = json.loads((tmp_path / "out.json").read_text())["images"][0]
    assert (image["width"], image["height"]) == (30, 40)


@pytest.mark.skipif(os.name != "posix" or os.uname().sysname == "Darwin", reason="a file name of any bytes")
def test_a_file_name_that_is_not_utf8_is_labelled_exported_and_imported_as_it_was(tmp_path, tiny_model_dir, capsys):
    root = tmp_path / "photos"
    root.mkdir()
    raw = os.fsencode(root) + b"/caf\xe9.png"
    write_image(__import__("pathlib").Path(os.fsdecode(raw)), 48, 40)
    write_image(root / "ok.png", 48, 40)
    name = os.fsdecode(b"caf\xe9.png")
    assert cli.main(["label", str(root), "--classes", "sky", "--model", str(tiny_model_dir), "--device", "cpu"]) == 0
    project = Project.open(root)
    assert project.images() == sorted([name, "ok.png"])
    assert os.fsencode(project.annotation_path(name)).endswith(b"/images/caf\xe9.png.json")
    assert project.load(name).image == name and project.entry(name).status == "proposed"
    assert set(StatusIndex(project.state_dir, IMAGE_EXTENSIONS).refresh()) == {name, "ok.png"}
    out = tmp_path / "coco.json"
    assert cli.main(["export", str(root), "--out", str(out)]) == 0
    names = [image["file_name"] for image in json.loads(out.read_text())["images"]]
    assert sorted(names) == sorted([name, "ok.png"]) and out.read_bytes().isascii()
    copy = tmp_path / "copy"
    copy.mkdir()
    os.link(raw, os.fsencode(copy) + b"/caf\xe9.png")
    assert cli.main(["import", str(out), "--images", str(copy)]) == 1  # ok.png is not in the copy
    assert [s.label for s in Project.open(copy).load(name).shapes] == [s.label for s in project.load(name).shapes]
    capsys.readouterr()
    os.unlink(raw)  # the image is gone: the message names it, its bytes shown as an escape
    assert cli.main(["export", str(root), "--out", str(out)]) == 1
    assert "caf\\xe9.png: the image file is gone" in capsys.readouterr().out


def _open_at(root, start, results):
    build = migration._build_staging

    def slow_build(state_dir):  # widen the window in which another opener could interfere
        build(state_dir)
        time.sleep(0.3)

    migration._build_staging = slow_build  # in this forked child only
    start.wait()
    try:
        project = Project.open(root)
        results.put(sorted(project.index.refresh()))
    except BaseException as exc:  # noqa: BLE001 - reported to the test
        results.put(repr(exc))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork start method")
def test_runs_opening_a_layout_1_folder_at_the_same_instant_move_it_once(tmp_path):
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    for round_ in range(4):
        root = tmp_path / f"r{round_}"
        files = _layout1(root)
        start, results = ctx.Barrier(3), ctx.Queue()
        procs = [ctx.Process(target=_open_at, args=(root, start, results)) for _ in range(3)]
        for p in procs:
            p.start()
        seen = [results.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(60)
        assert seen == [sorted(MOVED)] * 3, seen
        _check_moved(root, files)
