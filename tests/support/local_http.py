"""What the tests' small HTTP services share: a handler that answers JSON and keeps quiet, and
a server on a free port of 127.0.0.1, in a thread, until :meth:`LocalServer.close`."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class JsonHandler(BaseHTTPRequestHandler):
    """A request handler whose :meth:`answer` sends a JSON body; no access log on stderr."""

    def answer(self, status: int, payload: object) -> None:
        body = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # a killed worker's connection

    def log_message(self, *args):
        pass


class LocalServer:
    """Serves ``handler`` at :attr:`url`. :attr:`release` is what a hanging handler waits
    for: :meth:`close` sets it first."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]):
        self.release = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)
