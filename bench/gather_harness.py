"""The machinery of ``bench/gather.py``: a real redis-server, real ``dsar worker`` processes, a
dsar database on PostgreSQL, and the measurement of cases from "start processing" to "review".
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        if process.poll() is not None:
            raise SystemExit(f"{process.args[0]} stopped (exit {process.returncode})")
        time.sleep(0.05)
    raise SystemExit(f"nothing answered on port {port}")


def ensure_database(admin_url: str, name: str, *, fresh: bool = False) -> str:
    """Create database ``name`` on the server of ``admin_url`` (dropped first if ``fresh``);
    returns its URL."""
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if exists and fresh:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            exists = False
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return admin_url.rsplit("/", 1)[0] + "/" + name


@contextmanager
def redis_server(workdir: Path):
    port = free_port()
    process = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind",
         "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL)
    try:
        wait_for_port(port, process)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


def dsar_env(instance: Path, database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """The environment of every dsar process of a run."""
    return {**os.environ, "DSAR_INSTANCE_PATH": str(instance), "DSAR_DATABASE_URL": database_url,
            "DSAR_REDIS_URL": redis_url, "DSAR_LOG_LEVEL": "WARNING", **extra}


def dsar_init(env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "dsar", "init"], env=env, check=True,
                   stdout=subprocess.DEVNULL)


@contextmanager
def workers(env: dict[str, str], count: int):
    """``count`` real ``dsar worker`` processes on every queue, as in production (searches and
    package builds on their own queues, searches first); on exit, they are stopped (SIGTERM,
    warm shutdown) and waited for, so their peak memory shows in RUSAGE_CHILDREN."""
    processes = [subprocess.Popen([sys.executable, "-m", "dsar", "worker"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for _ in range(count)]
    try:
        yield processes
    finally:
        peaks = [vm_hwm_mb(p.pid) for p in processes]
        WORKER_PEAKS_MB.extend(x for x in peaks if x is not None)
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


#: The peak resident memory (VmHWM) of each worker process of the last run, in MB.
WORKER_PEAKS_MB: list[float] = []


def vm_hwm_mb(pid: int) -> float | None:
    """A running process's peak resident memory, from /proc (Linux)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def peak_child_rss_mb() -> float:
    """The largest resident set of any process this one waited for (the workers and the
    work-horses they forked and waited for), in MB."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[int(q) - 1]


def report(label: str, latencies: list[float], per_minute: float | None, goals: dict) -> bool:
    """Print one workload's figures against its goals; True if every goal is met."""
    p50, p95 = percentile(latencies, 50) * 1000, percentile(latencies, 95) * 1000
    ok = True
    print(f"\n== {label}")
    print(f"   cases measured: {len(latencies)}")
    for name, value, goal in (("p50", p50, goals.get("p50")), ("p95", p95, goals.get("p95"))):
        verdict = "" if goal is None else ("  PASS" if value < goal else "  FAIL")
        ok &= goal is None or value < goal
        print(f"   start -> review {name}: {value:7.1f} ms" + (f"  (goal < {goal} ms){verdict}"
                                                               if goal else ""))
    if per_minute is not None:
        goal = goals.get("per_minute")
        verdict = "" if goal is None else ("  PASS" if per_minute >= goal else "  FAIL")
        ok &= goal is None or per_minute >= goal
        print(f"   throughput: {per_minute:7.0f} cases per minute"
              + (f"  (goal >= {goal}){verdict}" if goal else ""))
    return ok
