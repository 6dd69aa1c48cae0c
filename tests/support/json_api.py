"""A scriptable JSON API served on 127.0.0.1 by http.server in a thread, for the tests of
the ``http`` connector (the ``api`` fixture serves one)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Hit:
    """One request the API received."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    at: float


class Api:
    """A scriptable JSON API: raw path -> handler(hit, n-th hit on that path) returning
    (status, body, headers); a body that is bytes is sent as is, anything else as JSON."""

    def __init__(self) -> None:
        self.routes: dict[str, Callable[[Hit, int], tuple[int, Any, dict[str, str]]]] = {}
        self.hits: list[Hit] = []
        self.lock = threading.Lock()
        self.release = threading.Event()  # what hanging handlers wait for; set at teardown
        self.base_url = ""

    def route(self, path: str, handler: Callable[[Hit, int], Any]) -> None:
        self.routes[path] = handler


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 -- http.server's naming
        api: Api = self.server.api  # type: ignore[attr-defined]
        url = urlsplit(self.path)
        hit = Hit(url.path, dict(parse_qsl(url.query)), dict(self.headers), time.monotonic())
        with api.lock:
            api.hits.append(hit)
            count = sum(1 for h in api.hits if h.path == url.path)
        handler = api.routes.get(url.path)
        status, body, headers = (handler(hit, count) if handler
                                 else (404, {"error": "not found"}, {}))
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        headers = {"Content-Type": "application/json", "Content-Length": str(len(data)),
                   **headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins every request thread

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out and hung up before the answer


@contextmanager
def json_api() -> Iterator[Api]:
    """An :class:`Api` served on a free port of 127.0.0.1 until the block ends (hanging
    handlers are released first)."""
    api = Api()
    server = _Server(("127.0.0.1", 0), _Handler)
    server.api = api  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    api.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield api
    finally:
        api.release.set()
        server.shutdown()
        thread.join()
        server.server_close()
