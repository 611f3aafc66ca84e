"""core.rollback: a multi-file write that fails part-way leaves every file as it was."""

import os

import pytest

from annotator.core.atomic import atomic_write_text
from annotator.core.rollback import Rollback


def tree(root) -> dict:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                out[rel] = ("link", os.readlink(path))
            elif os.path.isdir(path):
                out[rel] = ("dir",)
            else:
                out[rel] = ("file", open(path, "rb").read())
    return out


def test_every_kind_of_target_is_put_back(tmp_path):
    root = tmp_path / "state"
    root.mkdir()
    (root / "old.json").write_text("old")
    (root / "log").write_text("line 1\n")
    (root / "folder.json").mkdir()
    os.symlink("elsewhere", root / "link.json")
    before = tree(root)
    targets = [root / "old.json", root / "new" / "deep" / "a.json", root / "folder.json", root / "link.json"]
    with pytest.raises(OSError, match="disk full"):
        with Rollback(targets, appended=[root / "log", root / "new-log"]):
            atomic_write_text(root / "old.json", "new")
            atomic_write_text(root / "new" / "deep" / "a.json", "new")
            atomic_write_text(root / "link.json", "replaces the link itself")
            with open(root / "log", "a") as f:
                f.write("line 2\n")
            (root / "new-log").write_text("x")
            raise OSError("disk full")
    assert tree(root) == before


def test_success_keeps_the_writes_and_leaves_no_hidden_file(tmp_path):
    (tmp_path / "a.json").write_text("old")
    with Rollback([tmp_path / "a.json", tmp_path / "b.json"]):
        atomic_write_text(tmp_path / "a.json", "new")
        atomic_write_text(tmp_path / "b.json", "new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.json"]
    assert (tmp_path / "a.json").read_text() == "new"


def test_nothing_written_before_the_failure_is_fine(tmp_path):
    (tmp_path / "a.json").write_text("old")
    with pytest.raises(OSError):
        with Rollback([tmp_path / "a.json"]):
            raise OSError("read-only")
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"] and (tmp_path / "a.json").read_text() == "old"
