"""Real TLS servers on 127.0.0.1 for the transport tests: an SMTP server (aiosmtpd) with
STARTTLS or implicit TLS that keeps what it accepts in a Maildir, and a redis-server with TLS
and a password. Certificates come from ``tests.support.pki.make_pki`` (a throwaway CA)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aiosmtpd.controller import Controller
from redis import Redis

from dsar.demo.mailcatcher import MaildirHandler
from tests.support.mailbox import Mailbox
from tests.support.pki import Pki
from tests.support.ports import free_port
from tests.support.redis_server import redis_server


def server_context(pki: Pki) -> ssl.SSLContext:
    """A server-side TLS context presenting ``pki``'s certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.cert_file, pki.key_file)
    return context


@contextmanager
def tls_smtp_server(pki: Pki, directory: Path, *, implicit: bool) -> Iterator[Mailbox]:
    """An SMTP server on 127.0.0.1 presenting ``pki``'s certificate: implicit TLS from the
    first byte (``implicit``), or STARTTLS required before any mail is accepted."""
    port = free_port()
    handler = MaildirHandler(directory)
    if implicit:
        controller = Controller(handler, hostname="127.0.0.1", port=port,
                                ssl_context=server_context(pki))
    else:
        controller = Controller(handler, hostname="127.0.0.1", port=port,
                                tls_context=server_context(pki), require_starttls=True)
    controller.start()
    try:
        yield Mailbox(directory, port)
    finally:
        controller.stop()


@contextmanager
def tls_redis_server(pki: Pki, workdir: Path, password: str) -> Iterator[int]:
    """A redis-server listening only with TLS (``pki``'s certificate) and a password; yields
    its port."""
    port = free_port()
    settings = (f"port 0\ntls-port {port}\nbind 127.0.0.1\ntls-cert-file {pki.cert_file}\n"
                f"tls-key-file {pki.key_file}\ntls-ca-cert-file {pki.ca_file}\n"
                f"tls-auth-clients no\nrequirepass \"{password}\"\n")
    client = Redis(host="localhost", port=port, password=password, ssl=True,
                   ssl_ca_certs=str(pki.ca_file))
    with redis_server(workdir, settings, client):
        yield port
