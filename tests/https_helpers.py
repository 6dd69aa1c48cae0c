"""A real HTTPS receiver for the transmission tests: a throwaway CA and server certificate
made with ``cryptography``, and a threaded ``http.server`` behind TLS on 127.0.0.1 that
records what it is sent (headers, size and SHA-256 of the body, the TLS server name)."""

from __future__ import annotations

import hashlib
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Pki:
    """A CA certificate (the file a client trusts) and a server certificate and key it signed."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_pki(directory: Path, names: tuple[str, ...] = ("localhost", "receiver.test"),
             ips: tuple[str, ...] = ("127.0.0.1", "::1")) -> Pki:
    """A new CA and a server certificate for ``names`` and ``ips``, written to ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder().subject_name(_name("dsar test CA")).issuer_name(_name(
            "dsar test CA")).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    alt_names = [x509.DNSName(n) for n in names] + [
        x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    cert = (
        x509.CertificateBuilder().subject_name(_name(names[0])).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256()))
    pki = Pki(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    pki.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    pki.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pki.key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    return pki


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
