"""``dsar serve`` for the tests: the real production server (gunicorn) in a process of its own
on a free port, with the configuration of a test app (or any environment), its access log and
its error log in files the test reads, stopped as systemd stops it (SIGTERM)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.ports import free_port

#: The settings a test app passes on to a process of its own (the same database, Redis,
#: key, blobs, sources, mail server and links).
PASSED_ON = ("DATABASE_URL", "MASTER_KEY_FILE", "REDIS_URL", "SMTP_PORT", "STORAGE_DIR",
             "STORAGE_URL", "SOURCES_FILE", "REGISTER_FILE", "BASE_URL", "ORGANISATION_NAME",
             "DPO_EMAIL", "MAIL_FROM")


def app_env(app, instance: Path, **settings: object) -> dict[str, str]:
    """The environment of a ``dsar`` process with ``app``'s configuration (and no DSAR_*
    setting from outside), its instance folder ``instance``; ``settings`` added (DSAR_ names
    without the prefix: ``PROXY_FIX_X_FOR=1``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSAR_")}
    env["DSAR_INSTANCE_PATH"] = str(instance)
    for key in PASSED_ON:
        if app.config.get(key) is not None:
            env[f"DSAR_{key}"] = str(app.config[key])
    env.update({f"DSAR_{key}": str(value) for key, value in settings.items()})
    return env


@dataclass
class Served:
    """A running ``dsar serve``: its base URL, its process (the gunicorn arbiter) and logs."""

    base_url: str
    process: subprocess.Popen
    access_log: Path
    error_log: Path

    def access_lines(self) -> list[str]:
        """The access log as written so far."""
        return self.access_log.read_text(errors="replace").splitlines()

    def wait_for_access_lines(self, count: int, timeout: float = 10) -> list[str]:
        """The access log once it holds ``count`` lines (a worker writes its line just after
        the response, so a client may see the answer first)."""
        deadline = time.monotonic() + timeout
        while len(lines := self.access_lines()) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return lines

    def worker_pids(self) -> set[int]:
        """The arbiter's worker processes, as the kernel lists its children."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return {int(pid) for pid in children.read_text().split()}
        except FileNotFoundError:  # the arbiter is gone
            return set()

    def worker_holding(self, client_port: int) -> int | None:
        """The worker that has accepted the connection from ``client_port`` (None while it
        waits in the listening socket's queue): the kernel's table of TCP sockets names the
        connection's inode, a worker's open files hold it once accepted."""
        server_port = int(self.base_url.rsplit(":", 1)[1])
        inodes = set()
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            local, remote = fields[1], fields[2]
            if (int(local.split(":")[1], 16) == server_port
                    and int(remote.split(":")[1], 16) == client_port):
                inodes.add(f"socket:[{fields[9]}]")
        for pid in self.worker_pids():
            try:
                fds = list(Path(f"/proc/{pid}/fd").iterdir())
            except FileNotFoundError:
                continue
            for fd in fds:
                try:
                    if os.readlink(fd) in inodes:
                        return pid
                except FileNotFoundError:
                    continue
        return None

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM to the arbiter (systemd's stop); its exit status once it is gone."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def log_tail(self, lines: int = 40) -> str:
        """The end of the error log, for a failure's message."""
        return "\n".join(self.error_log.read_text(errors="replace").splitlines()[-lines:])


def _wait_until_up(served: Served, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if served.process.poll() is not None:
            raise RuntimeError(f"dsar serve exited with {served.process.returncode}:\n"
                               f"{served.log_tail()}")
        try:
            httpx.get(served.base_url + "/request/access", timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"dsar serve did not answer within {timeout} s:\n{served.log_tail()}")


@contextmanager
def served(env: dict[str, str], logs: Path, *args: str, port: int | None = None,
           timeout: float = 60) -> Iterator[Served]:
    """``dsar serve`` with ``env`` on 127.0.0.1 (a free port unless ``port``) and the extra
    command-line ``args`` (``--workers 2``), its access log in ``logs/access.log`` and its
    error log in ``logs/serve.log``; yields once it answers, stopped (SIGTERM, then SIGKILL
    if it lingers) on exit."""
    logs.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    access_log, error_log = logs / "access.log", logs / "serve.log"
    access_log.touch()
    with open(error_log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "dsar", "serve", "--bind", f"127.0.0.1:{port}",
             "--access-log", str(access_log), *args],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    running = Served(f"http://127.0.0.1:{port}", process, access_log, error_log)
    try:
        _wait_until_up(running, timeout)
        yield running
    finally:
        try:
            running.stop(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
