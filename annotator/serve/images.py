"""Task image URLs -> RGB arrays, the way Label Studio's own ML backends find them.

* ``/data/local-files/?d=rel/path.jpg``: read from disk under the document root
  (``--files-root`` or ``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT``); a path that leaves
  the root is refused. Without a root, fetched from Label Studio like an upload.
* ``/data/upload/...`` and other relative URLs: fetched from Label Studio (the
  ``hostname`` and ``access_token`` that ``/setup`` gives, or ``--label-studio-url`` /
  ``LABEL_STUDIO_URL`` and ``LABEL_STUDIO_API_KEY``), with ``Authorization: Token ...``.
* plain ``http(s)://`` URLs: fetched as they are; the token goes only to Label Studio's
  own address.

Every read has a size limit and every fetch a timeout; no proxy from the environment is
used. Errors are ``ImageError`` with the HTTP status to answer (400, 413) and a message
naming the URL and the problem.
"""

from __future__ import annotations

import io
import os
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections import OrderedDict
from pathlib import Path

import numpy as np

LOCAL_FILES_PATH = "/data/local-files/"
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_TIMEOUT = 20.0


class ImageError(ValueError):
    """An image that cannot be had; ``status`` is the HTTP status of the answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class ImageFetcher:
    """Reads task images; thread-safe (a small LRU of decoded images, so clicks re-read none)."""

    def __init__(self, files_root: str | os.PathLike | None = None, *, label_studio_url: str = "",
                 token: str = "", max_bytes: int = DEFAULT_MAX_BYTES, timeout: float = DEFAULT_TIMEOUT,
                 cache_size: int = 8) -> None:
        self.files_root = Path(files_root).expanduser().resolve() if files_root else None
        self.label_studio_url = label_studio_url.rstrip("/")
        self.token = token
        self.max_bytes = int(max_bytes)
        self.timeout = float(timeout)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _SameHostAuthRedirects())

    def configure(self, label_studio_url: str | None = None, token: str | None = None) -> None:
        """What ``/setup`` tells: Label Studio's address and an access token (empty: keep the current)."""
        if label_studio_url:
            self.label_studio_url = label_studio_url.rstrip("/")
        if token:
            self.token = token

    def clear(self) -> None:
        """Forget the decoded images (the next read fetches again)."""
        with self._lock:
            self._cache.clear()

    # --- reading ------------------------------------------------------------------------
    def read(self, url: str) -> np.ndarray:
        """RGB uint8 [H, W, 3] of a task's image URL; ImageError names the URL and why."""
        if not isinstance(url, str) or not url.strip():
            raise ImageError(f"the task's image is {url!r}, not a URL")
        with self._lock:
            cached = self._cache.get(url)
            if cached is not None:
                self._cache.move_to_end(url)
                return cached
        rgb = decode(self.read_bytes(url), url)  # shared by the requests that ask again: never written to
        with self._lock:
            self._cache[url] = rgb
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return rgb

    def read_bytes(self, url: str) -> bytes:
        parts = urllib.parse.urlsplit(url.strip())
        if parts.path.endswith(LOCAL_FILES_PATH) and self.files_root is not None:
            return self._local_file(url, parts)
        if not parts.scheme and url.startswith("/"):
            if not self.label_studio_url:
                raise ImageError(f"image {url!r} is on Label Studio, whose address is not known yet: it comes with "
                                 "/setup (add the backend in Label Studio), or start serve with --label-studio-url")
            return self._fetch(self.label_studio_url + url, with_token=True)
        if parts.scheme in ("http", "https"):
            return self._fetch(url, with_token=self._is_label_studio(parts))
        raise ImageError(f"image {url!r}: unsupported URL (give /data/local-files/?d=..., a Label Studio upload "
                         "or an http(s) URL)")

    def _local_file(self, url: str, parts: urllib.parse.SplitResult) -> bytes:
        rel = urllib.parse.parse_qs(parts.query).get("d", [""])[0]
        if not rel:
            raise ImageError(f"image {url!r}: a local-files URL needs ?d=<path under the document root>")
        root = self.files_root
        path = Path(os.path.realpath(root / rel))
        if path != root and root not in path.parents:
            raise ImageError(f"image {url!r}: the path leaves the document root {root}; refused", status=403)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise ImageError(f"image {url!r}: no file {path} under the document root") from None
        except OSError as exc:
            raise ImageError(f"image {url!r}: cannot read {path}: {exc.strerror or exc}") from None
        if not path.is_file():
            raise ImageError(f"image {url!r}: {path} is not a file")
        self._check_size(url, size)
        try:
            return path.read_bytes()
        except OSError as exc:
            raise ImageError(f"image {url!r}: cannot read {path}: {exc.strerror or exc}") from None

    def _fetch(self, url: str, with_token: bool) -> bytes:
        request = urllib.request.Request(url, headers={"User-Agent": "pnp-annotator-serve"})
        if with_token and self.token:
            request.add_header("Authorization", f"Token {self.token}")
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                length = response.headers.get("Content-Length")
                if length and length.isdigit():
                    self._check_size(url, int(length))
                data = response.read(self.max_bytes + 1)
        except ImageError:
            raise
        except urllib.error.HTTPError as exc:
            hint = " (is the access token right?)" if exc.code in (401, 403) else ""
            raise ImageError(f"image {url!r}: the server answered {exc.code} {exc.reason}{hint}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ImageError(f"image {url!r}: cannot fetch it ({reason}; timeout {self.timeout:g} s)") from None
        self._check_size(url, len(data))
        return data

    def _check_size(self, url: str, size: int) -> None:
        if size > self.max_bytes:
            raise ImageError(f"image {url!r} is {_size(size)}, above the {_size(self.max_bytes)} limit "
                             "(--max-image-mb)", status=413)

    def _is_label_studio(self, parts: urllib.parse.SplitResult) -> bool:
        if not self.label_studio_url:
            return False
        own = urllib.parse.urlsplit(self.label_studio_url)
        return (parts.scheme, parts.netloc) == (own.scheme, own.netloc)


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n:,} bytes"


def decode(data: bytes, url: str) -> np.ndarray:
    """RGB of encoded image bytes (engine.images.load_rgb: EXIF, modes); ImageError naming the URL."""
    from PIL import Image

    from engine.images import ImageReadError, load_rgb

    try:
        with Image.open(io.BytesIO(data)) as img:
            return load_rgb(img)
    except ImageReadError as exc:
        raise ImageError(f"image {url!r}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - any decoder failure is this image's
        raise ImageError(f"image {url!r} cannot be decoded ({type(exc).__name__}: {exc})") from None


class _SameHostAuthRedirects(urllib.request.HTTPRedirectHandler):
    """Redirects stay on http(s), and the token never follows one to another host."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = urllib.parse.urlsplit(newurl)
        if new.scheme not in ("http", "https"):
            return None
        request = super().redirect_request(req, fp, code, msg, headers, newurl)
        if request is not None and new.netloc != urllib.parse.urlsplit(req.full_url).netloc:
            request.remove_header("Authorization")
        return request
