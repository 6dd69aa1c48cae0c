"""The machinery of ``bench/recovery.py``: a redis-server that can be flushed, stopped and
started again on its port, real ``dsar worker`` and ``dsar scheduler`` processes that can be
killed and replaced (and whose running jobs are read from Redis), the demo organisation with
its two APIs, and a TCP proxy in front of the CRM that can hold each request a while (so a
search is surely in flight when the fault strikes).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

from bench.gather_harness import free_port, wait_for_port

#: A job id of dsar's (dsar/pipeline/job_ids.py): ``case-<id>-gather-<source>[-r<n>]``,
#: ``case-<id>-collect-r<n>``, ``case-<id>-package[-<digest>]``.
JOB_ID = re.compile(r"^case-(?P<case>\d+)-(?P<kind>gather|collect|package)"
                    r"(?:-(?P<rest>.*))?$")


def parse_job_id(job_id: str) -> tuple[int, str, str] | None:
    """(case id, kind, the rest) of one of dsar's case job ids, None for any other id."""
    match = JOB_ID.match(job_id)
    if match is None:
        return None
    return int(match["case"]), match["kind"], match["rest"] or ""


def gather_source_of(rest: str) -> str:
    """The source of a gather job id's tail (``crm``, ``crm-r2``)."""
    return re.sub(r"-r\d+$", "", rest)


class RedisServer:
    """A private redis-server without persistence (a restart loses everything, as a restart
    of a Redis without RDB or AOF does), on a port that stays the same across restarts."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = open(self.workdir / "redis.log", "ab")  # noqa: SIM115 -- closed with the process
        self.process = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(self.port),
             "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)], stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_for_port(self.port, self.process)

    def stop(self) -> None:
        """SIGTERM (nothing is saved: no RDB, no AOF) and wait for the port to be free."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def client(self) -> Redis:
        return Redis.from_url(self.url, socket_connect_timeout=2, socket_timeout=5)


@dataclass
class Proc:
    role: str  # "worker" or "scheduler"
    process: subprocess.Popen
    log: Path
    killed: bool = False
    stopped: bool = False

    @property
    def pid(self) -> int:
        return self.process.pid


@dataclass
class Fleet:
    """The dsar processes of one trial: workers (on every queue, as ``dsar demo`` runs one)
    and the scheduler, each logging to a file of ``logdir``."""

    env: dict[str, str]
    logdir: Path
    redis: RedisServer
    procs: list[Proc] = field(default_factory=list)
    #: RQ worker name -> pid, learnt from ``rq:worker:<name>`` while Redis has it.
    names: dict[str, int] = field(default_factory=dict)

    def _spawn(self, role: str, *args: str) -> Proc:
        self.logdir.mkdir(parents=True, exist_ok=True)
        index = sum(p.role == role for p in self.procs) + 1
        log = self.logdir / f"{role}-{index}.log"
        with open(log, "ab") as out:
            # Each in a process group of its own: a worker's RQ scheduler runs in a child
            # process, which a kill takes along (as a crash of the worker's container or
            # service would), never left behind.
            process = subprocess.Popen([sys.executable, "-m", "dsar", role, *args], env=self.env,
                                       stdout=out, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        proc = Proc(role, process, log)
        self.procs.append(proc)
        return proc

    def start_worker(self) -> Proc:
        return self._spawn("worker")

    def start_scheduler(self) -> Proc:
        return self._spawn("scheduler")

    def workers(self) -> list[Proc]:
        return [p for p in self.procs if p.role == "worker" and p.process.poll() is None]

    def learn_names(self) -> None:
        """Match RQ's registered workers (``rq:workers``, ``rq:worker:<name>`` and its pid)
        and dsar's liveness keys (``dsar:worker:<name>``) to the processes started here."""
        client = self.redis.client()
        try:
            keys = {k.decode() for k in client.smembers("rq:workers")}
            keys |= {"rq:worker:" + k.decode().removeprefix("dsar:worker:")
                     for k in client.scan_iter("dsar:worker:*", count=1000)}
            for key in keys:
                name = key.removeprefix("rq:worker:")
                if name in self.names or ":" in name:
                    continue
                pid = client.hget(key, "pid") or client.hget(f"dsar:worker:{name}", "pid")
                if pid:
                    self.names[name] = int(pid)
        except RedisError:
            pass
        finally:
            client.close()

    def wait_registered(self, procs: list[Proc], timeout: float = 60) -> None:
        """Until each of ``procs`` has registered with RQ (it is taking jobs); meanwhile
        every process started so far must stay up."""
        deadline = time.monotonic() + timeout
        wanted = {p.pid for p in procs}
        while time.monotonic() < deadline:
            self.learn_names()
            if wanted <= set(self.names.values()):
                return
            for proc in self.procs:
                if proc.process.poll() is not None:
                    raise RuntimeError(f"{proc.role} {proc.pid} stopped at start "
                                       f"(exit {proc.process.returncode}); see {proc.log}")
            time.sleep(0.1)
        raise RuntimeError(f"workers {sorted(wanted - set(self.names.values()))} did not "
                           f"register within {timeout:.0f} s")

    def running_jobs(self) -> dict[int, set[str]]:
        """pid -> ids of the jobs that worker runs now: RQ's own index of the worker's
        executions (``rq:worker:<name>:executions``) and, when the core writes it, the
        ``current_job`` of dsar's liveness key ``dsar:worker:<name>``."""
        alive = {p.pid for p in self.workers()}
        if not alive <= set(self.names.values()):
            self.learn_names()  # a replacement worker
        running: dict[int, set[str]] = {}
        client = self.redis.client()
        try:
            with client.pipeline(transaction=False) as pipe:
                names = [n for n, pid in self.names.items() if pid in alive]
                for name in names:
                    pipe.smembers(f"rq:worker:{name}:executions")
                    pipe.hget(f"dsar:worker:{name}", "current_job")
                replies = pipe.execute(raise_on_error=False)
            for i, name in enumerate(names):
                executions, current = replies[2 * i], replies[2 * i + 1]
                jobs = running.setdefault(self.names[name], set())
                if isinstance(executions, set):
                    jobs |= {m.decode().rpartition(":")[0] for m in executions}
                if isinstance(current, bytes) and current:
                    jobs.add(current.decode())
        except RedisError:
            pass
        finally:
            client.close()
        return running

    def kill(self, pid: int) -> None:
        """SIGKILL one worker and its process group (no warm shutdown, no cleanup: a
        crash, an OOM kill)."""
        for proc in self.procs:
            if proc.pid == pid:
                proc.killed = True
                os.killpg(pid, signal.SIGKILL)
                proc.process.wait()
                return
        raise ValueError(f"no process {pid}")

    def unexpected_exits(self) -> list[str]:
        """The processes that ended although nobody stopped them."""
        return [f"{p.role} {p.pid} exited with status {p.process.returncode} (log {p.log})"
                for p in self.procs
                if not p.killed and not p.stopped and p.process.poll() is not None]

    def stop(self, timeout: float = 15) -> list[str]:
        """SIGTERM every process still running (warm shutdown), then wait for each; one still
        running ``timeout`` seconds later is killed. Returns what did not stop."""
        running = [p for p in self.procs if p.process.poll() is None]
        for proc in running:
            proc.stopped = True
            proc.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        stuck = []
        for proc in running:
            try:
                proc.process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                stuck.append(f"{proc.role} {proc.pid} still running {timeout:.0f} s after "
                             f"SIGTERM: killed")
                proc.process.kill()
                proc.process.wait()
        for proc in self.procs:  # whatever a process left in its group (none, normally)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        return stuck


class DelayProxy:
    """A TCP proxy on 127.0.0.1 in front of ``upstream_port``: while ``delay`` is set, each
    chunk a client sends (an HTTP request) waits that many seconds before it goes on. Runs
    in threads of this process."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.delay = 0.0
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), 5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            threading.Thread(target=self._pump, args=(client, upstream, True),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False),
                             daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, delayed: bool) -> None:
        try:
            while data := source.recv(65536):
                if delayed and self.delay:
                    time.sleep(self.delay)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def close(self) -> None:
        self._closed = True
        self._server.close()


@dataclass
class DemoOrg:
    """The demo organisation generated once for the whole run, its two APIs running (the CRM
    behind :class:`DelayProxy`)."""

    target: Path
    tokens: dict[str, str]
    services: list[subprocess.Popen]
    crm: DelayProxy
    newsletter_url: str

    def install(self, instance: Path) -> None:
        """Give ``instance`` the organisation's data and its sources.toml / register.toml."""
        from dsar.demo.org import write_config

        instance.mkdir(parents=True, exist_ok=True)
        (instance / "demo-org").symlink_to(self.target)
        write_config(instance, crm_url=self.crm.url, newsletter_url=self.newsletter_url)

    def emails(self, count: int, skip: int = 0) -> list[str]:
        """``count`` account holders' addresses (by account id, after the first ``skip``)."""
        import sqlite3

        conn = sqlite3.connect(f"file:{self.target / 'platform.sqlite'}?mode=ro", uri=True)
        try:
            rows = conn.execute("SELECT email FROM accounts ORDER BY id LIMIT ? OFFSET ?",
                                (count, skip)).fetchall()
        finally:
            conn.close()
        if len(rows) < count:
            raise SystemExit(f"the demo organisation has too few accounts for {count} cases "
                             f"after {skip} (raise --people)")
        return [row[0] for row in rows]

    def close(self) -> None:
        self.crm.close()
        for process in self.services:
            process.terminate()
        for process in self.services:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def start_demo_org(root: Path, people: int) -> DemoOrg:
    """Generate the demo organisation into ``root/demo-org`` and start its CRM and newsletter
    APIs (fresh secrets, free ports), the CRM reached through a :class:`DelayProxy`."""
    from dsar.demo.org import generate
    from dsar.demo.org.config import CRM_TOKEN_ENV, NEWSLETTER_KEY_ENV

    target = root / "demo-org"
    generate(target, people)
    tokens = {CRM_TOKEN_ENV: secrets.token_urlsafe(16),
              NEWSLETTER_KEY_ENV: secrets.token_urlsafe(16)}
    env = {**os.environ, **tokens}
    services: list[subprocess.Popen] = []
    ports: dict[str, int] = {}
    try:
        for name in ("crm", "newsletter"):
            port = free_port()
            with open(root / f"{name}-api.log", "ab") as log:
                process = subprocess.Popen(
                    [sys.executable, "-m", "dsar.demo.services", name,
                     "--db", str(target / f"{name}.sqlite"), "--port", str(port)],
                    env=env, stdout=log, stderr=subprocess.STDOUT)
            services.append(process)
            wait_for_port(port, process)
            ports[name] = port
    except BaseException:
        for process in services:
            process.kill()
        raise
    return DemoOrg(target, tokens, services, DelayProxy(ports["crm"]),
                   f"http://127.0.0.1:{ports['newsletter']}")
