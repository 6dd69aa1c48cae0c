"""A real redis-server that demands a password (``requirepass``), for the tests of
``/readyz`` and ``dsar doctor``: a deployment's Redis as docs/deploy.md sets it up. The password
is in its configuration file, never on its command line; :meth:`PasswordRedis.stop` ends it
early, as an outage would."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from redis import Redis

from tests.support.ports import free_port
from tests.support.redis_server import redis_server


@dataclass
class PasswordRedis:
    """A running redis-server on 127.0.0.1 that answers only with ``password``."""

    port: int
    password: str
    _running: ExitStack = field(repr=False, default_factory=ExitStack)

    @property
    def url(self) -> str:
        """Its URL with the password, as ``REDIS_URL`` carries it."""
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    @property
    def url_without_password(self) -> str:
        """Its URL without the password: every command is refused (NOAUTH)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> Redis:
        """A client that gives the password (the caller closes it)."""
        return Redis(port=self.port, password=self.password)

    def stop(self) -> None:
        """Stop the server now (the outage a test wants to see reported)."""
        self._running.close()


@contextmanager
def redis_with_password(workdir: Path) -> Iterator[PasswordRedis]:
    """A redis-server demanding a new random password, until the block ends."""
    password = secrets.token_urlsafe(18)
    port = free_port()
    server = PasswordRedis(port, password)
    with server._running:
        server._running.enter_context(redis_server(
            workdir, f"port {port}\nbind 127.0.0.1\nrequirepass \"{password}\"\n",
            Redis(port=port, password=password)))
        yield server
