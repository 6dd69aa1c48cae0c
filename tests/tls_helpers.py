"""Real TLS servers on 127.0.0.1 for the transport tests: an SMTP server (aiosmtpd) with
STARTTLS or implicit TLS that keeps what it accepts in a Maildir, and a redis-server with TLS
and a password. Certificates come from ``tests.https_helpers.make_pki`` (a throwaway CA)."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from redis import Redis

from dsar.demo.mailcatcher import MaildirHandler, read_messages
from tests.https_helpers import Pki


def server_context(pki: Pki) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.cert_file, pki.key_file)
    return context


class TLSMailbox:
    """What a running :func:`tls_smtp_server` accepted."""

    def __init__(self, directory: Path, port: int):
        self.directory, self.port = directory, port

    def messages(self):
        return read_messages(self.directory)


@contextmanager
def tls_smtp_server(pki: Pki, directory: Path, *, implicit: bool) -> Iterator[TLSMailbox]:
    """An SMTP server on 127.0.0.1 presenting ``pki``'s certificate: implicit TLS from the
    first byte (``implicit``), or STARTTLS required before any mail is accepted."""
    from tests.conftest import free_port

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
        yield TLSMailbox(directory, port)
    finally:
        controller.stop()


@contextmanager
def tls_redis_server(pki: Pki, workdir: Path, password: str) -> Iterator[int]:
    """A redis-server listening only with TLS (``pki``'s certificate) and a password; yields
    its port. Its configuration is a file, so the password is not in its command line."""
    from tests.conftest import free_port

    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "redis.conf"
    conf.write_text(
        f"port 0\ntls-port {port}\nbind 127.0.0.1\nsave \"\"\nappendonly no\n"
        f"dir {workdir}\ntls-cert-file {pki.cert_file}\ntls-key-file {pki.key_file}\n"
        f"tls-ca-cert-file {pki.ca_file}\ntls-auth-clients no\nrequirepass \"{password}\"\n")
    process = subprocess.Popen([shutil.which("redis-server") or "redis-server", str(conf)],
                               stdout=subprocess.DEVNULL)
    client = Redis(host="localhost", port=port, password=password, ssl=True,
                   ssl_ca_certs=str(pki.ca_file))
    try:
        for _ in range(100):
            try:
                client.ping()
                break
            except Exception:
                if process.poll() is not None:
                    pytest.fail("redis-server with TLS did not start")
                time.sleep(0.05)
        else:
            pytest.fail("redis-server with TLS did not answer")
        client.close()
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)
