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
def redis_process(workdir: Path):
    """A redis-server of the run's own, no persistence: yields (its URL, its process id)."""
    port = free_port()
    process = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind",
         "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL)
    try:
        wait_for_port(port, process)
        yield f"redis://127.0.0.1:{port}/0", process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def redis_server(workdir: Path):
    """A redis-server of the run's own, no persistence: yields its URL."""
    with redis_process(workdir) as (url, _pid):
        yield url


def dsar_env(instance: Path, database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """The environment of every dsar process of a run."""
    return {**os.environ, "DSAR_INSTANCE_PATH": str(instance), "DSAR_DATABASE_URL": database_url,
            "DSAR_REDIS_URL": redis_url, "DSAR_LOG_LEVEL": "WARNING", **extra}


def dsar_init(env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "dsar", "init"], env=env, check=True,
                   stdout=subprocess.DEVNULL)


@contextmanager
def workers(env: dict[str, str], count: int, profile_dir: Path | None = None):
    """``count`` real ``dsar worker`` processes on every queue, as in production (searches and
    package builds on their own queues, searches first); on exit, they are stopped (SIGTERM,
    warm shutdown) and waited for, so their peak memory shows in RUSAGE_CHILDREN. With
    ``profile_dir``, each runs under cProfile and writes ``worker-<n>.prof`` there."""
    def command(index: int) -> list[str]:
        if profile_dir is None:
            return [sys.executable, "-m", "dsar", "worker"]
        return [sys.executable, "-m", "cProfile", "-o", str(profile_dir / f"worker-{index}.prof"),
                "-m", "dsar", "worker"]

    processes = [subprocess.Popen(command(i), env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL) for i in range(count)]
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


def _verdict(value: float, goal: float | None, *, at_least: bool = False) -> str:
    if goal is None:
        return ""
    ok = value >= goal if at_least else value < goal
    wanted = f">= {goal:,}" if at_least else f"< {goal:,} ms"
    return f"  (goal {wanted}){'  PASS' if ok else '  FAIL'}"


def report(label: str, figures, goals: dict) -> bool:
    """Print one workload's figures against its goals (``goals[end][figure]``, ``end`` being
    ``review`` or ``package``); True if every goal is met."""
    ok = True
    print(f"\n== {label}")
    print(f"   one at a time: {len(figures.review)} cases; burst: {figures.burst} cases")
    for end, name in (("review", "start -> review"), ("package", "start -> package built")):
        latencies = getattr(figures, end)
        wanted = goals.get(end, {})
        for q in (50, 95):
            value = percentile(latencies, q) * 1000
            goal = wanted.get(f"p{q}")
            ok &= goal is None or value < goal
            print(f"   {name:24} p{q}: {value:7.1f} ms" + _verdict(value, goal))
        rate = getattr(figures, f"{end}_per_minute")
        goal = wanted.get("per_minute")
        ok &= goal is None or rate >= goal
        print(f"   {name:24} burst: {rate:5.0f} per minute"
              + _verdict(round(rate), goal, at_least=True))
    print(f"   workers' CPU per case: {figures.cpu_ms_per_case:.0f} ms one at a time, "
          f"{figures.burst_cpu_ms_per_case:.0f} ms in the burst; load average "
          f"{figures.load[0]:.1f} at the start, {figures.load[1]:.1f} at the end "
          f"({os.cpu_count()} CPUs)")
    if figures.steps:
        print("   one at a time, where the time goes (medians, from RQ's job records):")
        for name, ms in figures.steps.items():
            print(f"      {name:42} {ms:7.1f} ms")
    return ok
