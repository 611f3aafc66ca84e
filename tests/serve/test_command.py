"""`pnp-annotator serve` as a user starts it: a process that serves until SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from .conftest import POLYGONS, Client, task
from .labelstudio import free_port


def _serve(*args, env=None):
    return subprocess.Popen([sys.executable, "-m", "annotator", "serve", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, **(env or {})})


def test_serve_answers_then_stops_on_sigterm(tiny_model_dir, files_root):
    port = free_port()
    proc = _serve("--model", str(tiny_model_dir), "--device", "cpu", "--port", str(port),
                  "--files-root", str(files_root), env={"BASIC_AUTH_USER": "ls", "BASIC_AUTH_PASS": "pw"})
    try:
        client = Client(f"http://127.0.0.1:{port}", ("ls", "pw"))
        end = time.monotonic() + 180
        while True:
            assert proc.poll() is None, proc.stdout.read()
            try:
                status, body = client.get("/health")
                break
            except OSError:
                assert time.monotonic() < end, "serve did not answer within 180 s"
                time.sleep(0.5)
        assert status == 200 and body["model_version"] == f"pnp-ovss:{tiny_model_dir.name}"
        assert Client(client.url).get("/health")[0] == 401
        status, body = client.post("/predict", {"tasks": [task("imgs/img0.png")], "label_config": POLYGONS})
        assert status == 200 and body["results"][0]["model_version"].startswith("pnp-ovss:")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "Serving pnp-ovss:" in out and "Traceback" not in out


def test_serve_usage_errors(tmp_path, tiny_model_dir):
    done = subprocess.run([sys.executable, "-m", "annotator", "serve", "--model", str(tmp_path / "nope"),
                           "--port", "0"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "nope" in done.stderr and "Traceback" not in done.stderr
    env = {**os.environ, "BASIC_AUTH_USER": "ls"}
    env.pop("BASIC_AUTH_PASS", None)
    done = subprocess.run([sys.executable, "-m", "annotator", "serve", "--model", str(tiny_model_dir)],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 2 and "BASIC_AUTH_PASS" in done.stderr
