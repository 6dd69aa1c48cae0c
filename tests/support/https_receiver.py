"""A real HTTPS receiver for the transmission tests: a threaded ``http.server`` behind TLS on
127.0.0.1 (its certificate from ``tests.support.pki``) that records what it is sent (headers,
size and SHA-256 of the body, the TLS server name)."""

from __future__ import annotations

import hashlib
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.pki import Pki


@dataclass(frozen=True)
class Received:
    """One request the receiver got: the body only as its size and SHA-256."""

    method: str
    path: str
    headers: dict[str, str]
    size: int
    sha256: str
    server_name: str | None


@dataclass
class Receiver:
    """What a running :func:`https_receiver` saw, and how it answers (``status``,
    ``location``: set them before the request)."""

    port: int
    status: int = 200
    location: str | None = None
    requests: list[Received] = field(default_factory=list)
    #: TCP connections accepted (a refused transmission must open none).
    connections: int = 0
    #: TLS handshakes that failed (say, the client did not trust the certificate).
    failed_handshakes: int = 0

    def url(self, path: str = "/", host: str = "localhost") -> str:
        return f"https://{host}:{self.port}{path}"


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        receiver: Receiver = self.server.receiver
        left = int(self.headers.get("Content-Length") or 0)
        digest, size = hashlib.sha256(), 0
        while left > 0:  # hashed as it comes: an 8 MB body is not held in memory
            chunk = self.rfile.read(min(left, 64 * 1024))
            if not chunk:
                break
            digest.update(chunk)
            size += len(chunk)
            left -= len(chunk)
        receiver.requests.append(Received(
            "POST", self.path, {k.lower(): v for k, v in self.headers.items()}, size,
            digest.hexdigest(), getattr(self.request, "sni_name", None)))
        self.send_response(receiver.status)
        if receiver.location:
            self.send_header("Location", receiver.location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args) -> None:
        pass


class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, context: ssl.SSLContext, receiver: Receiver | None):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.context, self.receiver = context, receiver

    def get_request(self):
        sock, address = super().get_request()
        self.receiver.connections += 1
        # The handshake happens in the request's thread, not in the accepting loop.
        return self.context.wrap_socket(sock, server_side=True,
                                        do_handshake_on_connect=False), address

    def finish_request(self, request, client_address) -> None:
        request.settimeout(10)
        try:
            request.do_handshake()
        except (ssl.SSLError, OSError):
            self.receiver.failed_handshakes += 1
            return
        super().finish_request(request, client_address)


@contextmanager
def https_receiver(pki: Pki) -> Iterator[Receiver]:
    """``with https_receiver(pki) as receiver:`` a receiver on 127.0.0.1 until the block ends."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.cert_file, pki.key_file)

    def remember_name(sock, server_name, _context) -> None:
        sock.sni_name = server_name  # the name the client asked for (None for an IP)

    context.sni_callback = remember_name
    server = _TLSServer(context, None)
    server.receiver = Receiver(port=server.server_address[1])
    # A short poll: shutdown() waits for the loop's next look (0.5 s by default, per test).
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield server.receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
