"""Signals and a killed parent: ``label`` stops on SIGTERM / SIGHUP as on Ctrl-C, and no
helper process (fork server, post-processing workers, resource tracker) outlives it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from annotator.core.commands import label as label_command

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")


def _group(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group *pgid*."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            found.append(int(name))
    return found


def _wait_until(condition, limit_s: float) -> bool:
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_label_stopped_by_a_signal_leaves_no_process_and_whole_files(tmp_path, tiny_model_dir, sig):
    root = tmp_path / "photos"
    root.mkdir()
    rng = np.random.default_rng(0)
    for i in range(24):
        Image.fromarray((rng.random((48, 64, 3)) * 255).astype(np.uint8)).save(root / f"img{i:02d}.png")
    log = open(tmp_path / "log.txt", "wb")  # a file, not a pipe: a leftover helper would hold a pipe open
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    run = subprocess.Popen([sys.executable, "-m", "annotator", "label", str(root), "--classes", "sky, road",
                            "--model", str(tiny_model_dir), "--device", "cpu", "--postprocess-workers", "2"],
                           env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    images = root / ".pnp-annotator" / "images"
    try:
        started = _wait_until(lambda: run.poll() is not None or (
            len(_group(run.pid)) >= 4 and images.is_dir() and len(list(images.glob("*.json"))) >= 1), 200)
        assert started and run.poll() is None, (tmp_path / "log.txt").read_text()
        os.kill(run.pid, sig)
        code = run.wait(60)
        # every helper of the run is gone within a bounded wait, however the run ended
        assert _wait_until(lambda: not _group(run.pid), 30), _group(run.pid)
    finally:
        for pid in _group(run.pid):
            os.kill(pid, signal.SIGKILL)
        run.kill()
        run.wait()
        log.close()
    output = (tmp_path / "log.txt").read_text()
    if sig == signal.SIGTERM:
        assert code == 130 and "Stopping" in output, output
        assert not (root / ".pnp-annotator" / "lock").exists()
    else:
        assert code == -signal.SIGKILL
    for path in images.glob("*.json"):
        assert json.loads(path.read_text())["schema"] == "pnp-annotator/image"  # whole, never half-written


def test_sighup_and_sigterm_stop_a_run_as_ctrl_c_does():
    cancel = threading.Event()
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP)}
    for sig in (signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    try:
        with label_command._ctrl_c_sets(cancel):
            os.kill(os.getpid(), signal.SIGHUP)
            assert _wait_until(cancel.is_set, 5)  # the first: finish what is running, then stop
            with pytest.raises(KeyboardInterrupt):  # the second: stop now
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)
        assert all(signal.getsignal(sig) is signal.SIG_DFL for sig in before)
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def test_a_helper_ends_when_its_parent_is_killed(tmp_path):
    # parent -> helper calling die_with_parent(); kill -9 the parent: the helper goes too
    helper = tmp_path / "helper.py"
    helper.write_text("import time\nfrom engine.procs import die_with_parent\n"
                      "die_with_parent()\nprint('up', flush=True)\ntime.sleep(300)\n")
    parent_code = ("import subprocess, sys, time\n"
                   f"child = subprocess.Popen([sys.executable, {str(helper)!r}], stdout=subprocess.PIPE)\n"
                   "child.stdout.readline()\nprint(child.pid, flush=True)\ntime.sleep(300)\n")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    parent = subprocess.Popen([sys.executable, "-c", parent_code], stdout=subprocess.PIPE, text=True, env=env)
    child = int(parent.stdout.readline())
    assert Path(f"/proc/{child}").exists()
    parent.kill()
    parent.wait()

    def gone() -> bool:
        try:
            return Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
        except OSError:
            return True

    assert _wait_until(gone, 30)
