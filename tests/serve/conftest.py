"""A backend on 127.0.0.1 with the tiny random models, images in a local-files root."""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

POLYGONS = """<View>
  <Image name="image" value="$image"/>
  <PolygonLabels name="poly" toName="image">
    <Label value="Sky" prompt="blue sky"/>
    <Label value="Road"/>
  </PolygonLabels>
</View>"""

BRUSHES = """<View>
  <Image name="image" value="$image"/>
  <BrushLabels name="tag" toName="image">
    <Label value="sky"/>
    <Label value="road"/>
  </BrushLabels>
  <KeyPointLabels name="kp" toName="image" smart="true">
    <Label value="sky"/>
    <Label value="road"/>
  </KeyPointLabels>
  <RectangleLabels name="box" toName="image" smart="true">
    <Label value="road"/>
  </RectangleLabels>
</View>"""


def make_image(path: Path, seed: int = 0, size=(72, 96)) -> Path:
    rng = np.random.default_rng(seed)
    h, w = size
    img = (rng.random((h, w, 3)) * 60).astype(np.uint8)
    img[: h // 2] += np.array([20, 60, 150], np.uint8)
    yy, xx = np.mgrid[:h, :w]
    img[(yy - h * 0.7) ** 2 + (xx - w / 2) ** 2 < (h / 5) ** 2] = (200, 40, 40)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path)
    return path


@pytest.fixture(scope="session")
def files_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ls-files")
    for i in range(5):
        make_image(root / "imgs" / f"img{i}.png", seed=i, size=(72 + 8 * i, 96))
    (root / "imgs" / "broken.png").write_bytes(b"not an image at all")
    return root


def local_url(rel: str) -> str:
    return f"/data/local-files/?d={rel}"


def task(rel: str, task_id: int = 1) -> dict:
    return {"id": task_id, "data": {"image": local_url(rel)}}


class Client:
    def __init__(self, url: str, auth: tuple[str, str] | None = None):
        self.url, self.auth = url, auth

    def request(self, method: str, path: str, body=None, raw: bytes | None = None, headers=None):
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers or {})
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.auth:
            token = base64.b64encode(":".join(self.auth).encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(req, timeout=120) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def get(self, path: str):
        return self.request("GET", path)

    def post(self, path: str, body=None, **kw):
        return self.request("POST", path, body, **kw)


@contextlib.contextmanager
def running(backend, auth=None):
    from annotator.serve.http import BackendServer

    server = BackendServer(("127.0.0.1", 0), backend, auth)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Client(server.url, auth)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def make_backend(model_dir, files_root, interactive_dir=None, **kw):
    from annotator.core.project import ProjectSettings
    from annotator.serve.backend import Backend
    from annotator.serve.images import ImageFetcher

    settings = ProjectSettings(model=str(model_dir), device="cpu",
                               interactive_model=str(interactive_dir) if interactive_dir else "",
                               proposals=kw.pop("proposals", "auto"))
    fetcher = ImageFetcher(files_root, max_bytes=kw.pop("max_bytes", 10_000_000), timeout=5)
    return Backend(settings, fetcher, **kw)


@pytest.fixture(scope="module")
def backend(tiny_model_dir, tiny_sam2_dir, files_root):
    b = make_backend(tiny_model_dir, files_root, tiny_sam2_dir, batch_size=2)
    yield b
    b.close()


@pytest.fixture(scope="module")
def client(backend):
    with running(backend) as c:
        yield c
