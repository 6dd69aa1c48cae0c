"""A CRM over HTTP whose first search hangs until released: the worker that sent it is then
mid-search, for the tests that kill it there (``tests/data/gathering/crm.toml`` reads it)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from tests.support.gathering import EMAIL

#: The person, and a namesake whose address contains the person's: the CRM matches loosely,
#: the connector keeps the exact address only.
CONTACTS = [{"id": 7, "email": EMAIL, "name": "Camille Martin"},
            {"id": 8, "email": "camille.martin@autre.example", "name": "Camille Martin"}]


class BlockingCrm:
    """The CRM at :attr:`url`. Its first search sets :attr:`arrived`, then waits until
    :attr:`release` is set; :attr:`hits` counts the searches."""

    def __init__(self):
        self.arrived, self.release, self.hits = threading.Event(), threading.Event(), 0
        crm = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                crm.hits += 1
                if crm.hits == 1:
                    crm.arrived.set()
                    crm.release.wait(120)
                wanted = parse_qs(urlparse(self.path).query).get("email", [""])[0].lower()
                body = json.dumps({"data": [c for c in CONTACTS
                                            if wanted in c["email"].lower()]}).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # a killed worker's connection

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)
