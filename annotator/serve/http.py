"""The HTTP side: a stdlib threaded server answering Label Studio's ML backend API in JSON.

    GET  /health    {"status": "UP", "model_version": ...}
    POST /setup     {"model_version": ...}       (Label Studio's address and token kept)
    POST /predict   {"results": [prediction per task]}
    POST /webhook   200, no training

Every error is a JSON object {"error": "..."} with a 4xx status for a bad request
(malformed JSON, unknown control, unreadable image, ...) and 5xx for the server's side;
no traceback ever goes to the client (it goes to the server's log).
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from annotator.core.terminal import printable
from annotator.serve.backend import Backend, RequestError

log = logging.getLogger("pnp-annotator.serve")

MAX_BODY_BYTES = 32 * 1024 * 1024


class BackendServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], backend: Backend, auth: tuple[str, str] | None = None) -> None:
        super().__init__(address, Handler)
        self.backend = backend
        self.auth = auth

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class Handler(BaseHTTPRequestHandler):
    server: BackendServer
    protocol_version = "HTTP/1.1"
    server_version = "pnp-annotator-serve"
    timeout = 120  # seconds a connection may sit idle or send its body slowly before it is closed

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def _handle(self, method: str) -> None:
        start = time.perf_counter()
        status, body = 500, {"error": "internal error"}
        try:
            status, body = self._route(method)
        except RequestError as exc:
            status, body = exc.status, {"error": str(exc)}
        except Exception as exc:  # noqa: BLE001 - the server answers and lives on
            log.exception("%s %s failed", method, printable(self.path))
            status, body = 500, {"error": f"internal error ({type(exc).__name__}: {exc}); see the server's log"}
        self._send(status, body)
        log.info("%s %s -> %d in %.0f ms", method, printable(self.path), status,
                 1000 * (time.perf_counter() - start))

    def _route(self, method: str) -> tuple[int, dict]:
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        backend = self.server.backend
        if not self._authorised():
            raise RequestError(401, "HTTP basic auth required: set the backend's Basic Auth user and password "
                                    "in Label Studio as given to serve")
        if path in ("/health", "/"):
            if method != "GET":
                raise RequestError(405, f"{path} answers GET")
            return 200, backend.health()
        routes = {"/setup": backend.setup, "/predict": backend.predict, "/webhook": backend.webhook}
        if path not in routes:
            raise RequestError(404, f"no endpoint {path}: this backend has /health, /setup, /predict, /webhook")
        if method != "POST":
            raise RequestError(405, f"{path} answers POST")
        return 200, routes[path](self._json())

    def _authorised(self) -> bool:
        if self.server.auth is None:
            return True
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            given = base64.b64decode(header[6:], validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return False
        user, _, password = given.partition(":")
        want_user, want_password = self.server.auth
        return hmac.compare_digest(user.encode(), want_user.encode()) & hmac.compare_digest(
            password.encode(), want_password.encode())

    def _json(self):
        length = self.headers.get("Content-Length")
        if length is None:
            raise RequestError(411, "the request has no Content-Length: send the JSON body with its length")
        try:
            size = int(length)
        except ValueError:
            raise RequestError(400, f"Content-Length {length!r} is not a number") from None
        if size > MAX_BODY_BYTES:
            self.close_connection = True  # the unread body cannot be skipped safely
            raise RequestError(413, f"the request body is {size / 1e6:.1f} MB, above the "
                                    f"{MAX_BODY_BYTES / 1e6:.0f} MB limit")
        raw = self.rfile.read(size) if size > 0 else b""
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RequestError(400, f"malformed JSON body: {exc}") from None

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status == 401:
                self.send_header("WWW-Authenticate", 'Basic realm="pnp-annotator"')
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            log.info("the client left before the answer")

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - http.server's signature
        log.debug(format, *args)  # each request is logged once by _handle


def _json_send_error(self, code, message=None, explain=None):
    """http.server's own errors (a bad request line, headers too long) as JSON too."""
    self.close_connection = True
    self._send(code, {"error": message or explain or self.responses.get(code, ("error",))[0]})


Handler.send_error = _json_send_error
