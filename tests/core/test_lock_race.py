"""The folder lock under races: runs started at the same instant, a lock being written."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys

import pytest

from annotator.core.lock import ProjectLockedError, project_lock
from annotator.core.project import Project

ROUNDS = 25
RUNS = 3


def _contender(root, start, done, results):
    project = Project.open(root)
    start.wait()
    try:
        with project_lock(project, "label"):
            results.put("took")
            done.wait()  # hold it until every contender has tried
    except ProjectLockedError:
        results.put("refused")
        done.wait()


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
def test_runs_started_at_the_same_instant_never_both_take_the_lock(tmp_path):
    ctx = multiprocessing.get_context("fork")
    for round_ in range(ROUNDS):
        root = tmp_path / f"r{round_}"
        root.mkdir()
        if round_ % 2:  # every other round: a stale lock of a dead run is there to take over
            (root / ".pnp-annotator").mkdir()
            (root / ".pnp-annotator" / "lock").write_text("" if round_ % 4 == 1 else '{"pid": 999999999, "host": '
                                                          + f'"{__import__("socket").gethostname()}"' + "}")
        start, done, results = ctx.Barrier(RUNS), ctx.Barrier(RUNS), ctx.Queue()
        procs = [ctx.Process(target=_contender, args=(root, start, done, results)) for _ in range(RUNS)]
        for p in procs:
            p.start()
        outcomes = sorted(results.get(timeout=60) for _ in procs)
        for p in procs:
            p.join(60)
        assert outcomes == ["refused"] * (RUNS - 1) + ["took"], (round_, outcomes)
        assert not (root / ".pnp-annotator" / "lock").exists()


def test_an_empty_lock_whose_writer_is_alive_is_honoured(tmp_path):
    project = Project.open(tmp_path)
    project.state_dir.mkdir()
    lock = project.state_dir / "lock"
    # a run between taking the lock and writing its record: the file is empty, its flock held
    writer = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(lock)!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('held', flush=True)\n"
        "sys.stdin.read()\n")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "held"
        assert lock.read_bytes() == b""
        with pytest.raises(ProjectLockedError):
            with project_lock(project, "label"):
                pass
        assert lock.exists()
    finally:
        writer.stdin.close()
        writer.wait(30)
    with project_lock(project, "label"):  # its writer is gone: the empty file is no lock any more
        assert b'"command": "label"' in lock.read_bytes()
    assert not lock.exists()


def test_the_lock_is_never_a_link(tmp_path):
    project = Project.open(tmp_path)
    project.state_dir.mkdir()
    target = tmp_path / "target"
    target.write_text("mine\n")
    (project.state_dir / "lock").symlink_to(target)
    with pytest.raises(OSError, match="symbolic link"):
        with project_lock(project, "label"):
            pass
    assert target.read_text() == "mine\n"
