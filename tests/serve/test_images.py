"""Task image URLs: the document root, Label Studio with its token, plain http(s); limits."""

from __future__ import annotations

import contextlib
import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

from annotator.serve.images import ImageError, ImageFetcher


def png(h=12, w=16) -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.full((h, w, 3), 90, np.uint8)).save(out, "PNG")
    return out.getvalue()


@contextlib.contextmanager
def http_server(routes: dict, seen: list):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            seen.append((self.path, self.headers.get("Authorization")))
            status, headers, body = routes.get(self.path, (404, {}, b""))
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_uploads_come_from_label_studio_with_the_token_and_other_hosts_get_none():
    seen_ls, seen_other = [], []
    with http_server({"/img.png": (200, {}, png())}, seen_other) as other:
        routes = {"/data/upload/1/a.png": (200, {}, png(20, 30)),
                  "/away": (302, {"Location": other + "/img.png"}, b"")}
        with http_server(routes, seen_ls) as ls:
            fetcher = ImageFetcher(None, timeout=5)
            with pytest.raises(ImageError, match="/setup"):
                fetcher.read("/data/upload/1/a.png")
            fetcher.configure(ls, "tok")
            assert fetcher.read("/data/upload/1/a.png").shape == (20, 30, 3)
            fetcher.clear()
            assert fetcher.read(ls + "/data/upload/1/a.png").shape == (20, 30, 3)  # Label Studio's own address
            assert fetcher.read(other + "/img.png").shape == (12, 16, 3)
            assert fetcher.read(ls + "/away").shape == (12, 16, 3)  # redirected to another host
    assert seen_ls[:2] == [("/data/upload/1/a.png", "Token tok")] * 2
    assert all(auth is None for _, auth in seen_other)  # neither directly nor after the redirect


def test_fetch_errors_and_limits():
    routes = {"/big.png": (200, {}, png(400, 400)), "/denied": (403, {}, b""), "/junk": (200, {}, b"<html>")}
    with http_server(routes, []) as ls:
        fetcher = ImageFetcher(None, label_studio_url=ls, max_bytes=1000, timeout=5)
        with pytest.raises(ImageError, match="limit") as big:
            fetcher.read("/big.png")
        assert big.value.status == 413
        with pytest.raises(ImageError, match="403.*token"):
            fetcher.read("/denied")
        with pytest.raises(ImageError, match="cannot be decoded|Cannot"):
            fetcher.read("/junk")
    with pytest.raises(ImageError, match="unsupported"):
        fetcher.read("s3://bucket/a.png")


def test_local_files_stay_under_the_root(tmp_path):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.png").write_bytes(png())
    (tmp_path / "secret.png").write_bytes(png())
    (root / "link.png").symlink_to(tmp_path / "secret.png")
    fetcher = ImageFetcher(root)
    assert fetcher.read("/data/local-files/?d=sub/a.png").shape == (12, 16, 3)
    assert fetcher.read("http://ls:8080/data/local-files/?d=sub%2Fa.png").shape == (12, 16, 3)
    for escape in ("../secret.png", "link.png", "/etc/passwd", "sub/../../secret.png"):
        with pytest.raises(ImageError, match="leaves the document root") as refused:
            fetcher.read(f"/data/local-files/?d={escape}")
        assert refused.value.status == 403
