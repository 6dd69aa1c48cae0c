"""Real redis-servers started by the tests: the suite's own, one that asks for a password, one
that speaks only TLS. Each reads its settings from a file, so a password is never on its
command line."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from redis import Redis


def wait_for_redis(client: Redis, process: subprocess.Popen) -> None:
    """Wait until the redis-server just started answers ``client`` (5 s at most)."""
    for _ in range(100):
        try:
            client.ping()
            return
        except Exception:
            if process.poll() is not None:
                pytest.fail("redis-server exited at start")
            time.sleep(0.05)
    process.kill()
    pytest.fail("redis-server did not start")


@contextmanager
def redis_server(workdir: Path, settings: str, client: Redis) -> Iterator[None]:
    """A redis-server configured with ``settings`` (lines of ``redis.conf``; nothing is saved
    to disk) until the block ends; the block starts once ``client`` gets an answer."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (scripts/test installs it)")
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "redis.conf"
    conf.write_text(f'save ""\nappendonly no\ndir {workdir}\n{settings}')
    process = subprocess.Popen([binary, str(conf)], stdout=subprocess.DEVNULL)
    try:
        wait_for_redis(client, process)
        client.close()
        yield
    finally:
        process.terminate()
        process.wait(timeout=10)
