"""A real Label Studio on 127.0.0.1 for the end-to-end test and the benchmark.

label-studio 1.23.2 lives in its own virtual environment (it pins its own Django and
numpy), made once at ``<repo>/.venv-labelstudio`` (git-ignored; ~80 s from the package
index). Each start gets a fresh SQLite data folder, a known user and API token, local
files served from a document root, and the two switches that let it call a backend on
127.0.0.1. Nothing leaves the machine: version checks, analytics and Sentry are off.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VENV = REPO / ".venv-labelstudio"
VERSION = "1.23.2"
READY = VENV / f".installed-{VERSION}"


def ensure_venv(timeout: float = 900) -> Path:
    """The label-studio executable, installing it into its own venv when missing."""
    exe = VENV / "bin" / "label-studio"
    if READY.exists() and exe.exists():
        return exe
    if VENV.exists():
        shutil.rmtree(VENV)  # a half-made one (an interrupted install)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, timeout=120)
    log = VENV / "install.log"
    with open(log, "w") as out:
        done = subprocess.run([str(VENV / "bin" / "pip"), "install", "--quiet", f"label-studio=={VERSION}"],
                              stdout=out, stderr=subprocess.STDOUT, timeout=timeout)
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"pip install label-studio=={VERSION} into {VENV} failed:\n{tail}")
    READY.touch()
    return exe


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabelStudio:
    """A started Label Studio and a tiny client of its API (token auth)."""

    def __init__(self, data_dir: Path, files_root: Path, port: int | None = None, env: dict | None = None) -> None:
        self.data_dir, self.files_root = Path(data_dir), Path(files_root)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = secrets.token_hex(20)
        self.process: subprocess.Popen | None = None
        self.extra_env = dict(env or {})
        self.log_path = self.data_dir / "label-studio.log"
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def start(self, timeout: float = 600) -> "LabelStudio":
        exe = ensure_venv()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        env.update({
            "LABEL_STUDIO_USERNAME": "test@example.com", "LABEL_STUDIO_PASSWORD": secrets.token_hex(8),
            "LABEL_STUDIO_USER_TOKEN": self.token, "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
            "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
            "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(self.files_root),
            "LABEL_STUDIO_HOST": self.url,  # the address /setup hands to backends
            "ML_BLOCK_LOCAL_IP": "false", "SSRF_PROTECTION_ENABLED": "false",
            "LATEST_VERSION_CHECK": "false", "COLLECT_ANALYTICS": "false", "SENTRY_DSN": "",
            "FRONTEND_SENTRY_DSN": "", "NO_PROXY": "127.0.0.1,localhost", "PYTHONUNBUFFERED": "1",
        })
        env.update(self.extra_env)
        env.pop("PYTHONPATH", None)  # its own packages only
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                [str(exe), "start", "--no-browser", "--data-dir", str(self.data_dir), "--host", "127.0.0.1",
                 "--port", str(self.port), "--internal-host", "127.0.0.1"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.data_dir)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.process.poll() is not None:
                raise RuntimeError(f"label-studio exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if self.request("GET", "/health", auth=False)[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(1)
        self.stop()
        raise RuntimeError(f"label-studio did not answer /health within {timeout:g} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def request(self, method: str, path: str, body=None, auth: bool = True, timeout: float = 300):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if auth:
            req.add_header("Authorization", f"Token {self.token}")
        try:
            with self._opener.open(req, timeout=timeout) as resp:
                raw = resp.read()
                return resp.status, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                return exc.code, json.loads(raw)
            except ValueError:
                return exc.code, raw.decode(errors="replace")[:2000]

    def ok(self, method: str, path: str, body=None, timeout: float = 300):
        status, answer = self.request(method, path, body, timeout=timeout)
        if status >= 300:
            raise AssertionError(f"{method} {path} -> {status}: {answer}\n--- label-studio log ---\n{self.log_tail()}")
        return answer

    # --- the steps of the test ------------------------------------------------------------------
    def create_project(self, label_config: str, title: str = "pnp-annotator") -> int:
        return self.ok("POST", "/api/projects", {"title": title, "label_config": label_config})["id"]

    def import_tasks(self, project: int, rel_paths: list[str]) -> list[int]:
        self.ok("POST", f"/api/projects/{project}/import",
                [{"image": f"/data/local-files/?d={rel}"} for rel in rel_paths])
        tasks = self.ok("GET", f"/api/tasks?project={project}&page_size=1000")
        tasks = tasks["tasks"] if isinstance(tasks, dict) else tasks
        return [t["id"] for t in sorted(tasks, key=lambda t: t["id"])]

    def add_backend(self, project: int, url: str, interactive: bool = True) -> int:
        return self.ok("POST", "/api/ml", {"project": project, "url": url, "title": "pnp-annotator",
                                           "is_interactive": interactive})["id"]

    def add_local_storage(self, project: int, folder: Path) -> None:
        """Lets Label Studio serve /data/local-files/ under *folder* for this project."""
        self.ok("POST", "/api/storages/localfiles", {"project": project, "path": str(folder), "title": "images",
                                                     "use_blob_urls": True})

    def retrieve_predictions(self, project: int) -> dict:
        return self.ok("POST", f"/api/dm/actions?id=retrieve_tasks_predictions&project={project}",
                       {"selectedItems": {"all": True, "excluded": []}})

    def predictions(self, project: int) -> list[dict]:
        return self.ok("GET", f"/api/predictions?project={project}")

    def interactive(self, backend_id: int, task: int, context: dict) -> dict:
        return self.ok("POST", f"/api/ml/{backend_id}/interactive-annotating", {"task": task, "context": context})
