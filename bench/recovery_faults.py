"""The faults of ``bench/recovery.py``, each struck at its moment: a worker SIGKILLed
mid-search or mid-build (and a replacement started at once, as a supervisor would),
``FLUSHALL`` and a Redis restart while searches run and more wait in the queues."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from redis.exceptions import RedisError

from bench.recovery_checks import package_rows, search_status, snapshot
from bench.recovery_harness import Fleet, RedisServer, gather_source_of, parse_job_id

FAULTS = ("kill-search", "kill-build", "flushall", "redis-restart")
#: The faults struck while a CRM search is held in flight by the proxy's delay.
DELAYED = frozenset({"kill-search", "flushall", "redis-restart"})


@dataclass
class Target:
    """What a fault strikes, and how long to wait for its moment."""

    fleet: Fleet
    redis: RedisServer
    engine: object
    case_ids: list[int]
    #: Give up waiting for the moment to strike after this many seconds.
    moment: float = 60.0
    #: Seconds between redis-server's stop and its start (``redis-restart``).
    down: float = 3.0

    def state(self) -> str:
        return snapshot(self.engine, self.case_ids).summary()


@dataclass
class Injected:
    """When the fault struck (``time.monotonic()``), and what it hit."""

    at: float
    what: str
    #: Whether it struck where it was meant to (mid-search, mid-build, work in flight).
    hit: bool
    #: Where the cases stood just before it.
    before: str = ""


class NoMoment(Exception):
    """The moment to strike never came."""


def _wait(find: Callable[[], object], timeout: float, what: str, every: float = 0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = find()
        if found:
            return found
        time.sleep(every)
    raise NoMoment(f"no {what} within {timeout:g} s")


def running_search(fleet: Fleet, engine) -> tuple[int, str, int, str] | None:
    """(worker pid, job id, case id, source) of a search a live worker runs now and whose
    row the database holds ``running`` (claimed: the worker is inside the search)."""
    for pid, jobs in fleet.running_jobs().items():
        for job_id in sorted(jobs):
            parsed = parse_job_id(job_id)
            if parsed and parsed[1] == "gather":
                source = gather_source_of(parsed[2])
                if search_status(engine, parsed[0], source) == "running":
                    return pid, job_id, parsed[0], source
    return None


def running_build(fleet: Fleet, engine) -> tuple[int, str, int] | None:
    """(worker pid, job id, case id) of a package build a live worker runs now, the case
    having no package row yet."""
    for pid, jobs in fleet.running_jobs().items():
        for job_id in sorted(jobs):
            parsed = parse_job_id(job_id)
            if parsed and parsed[1] == "package" and package_rows(engine, parsed[0]) == 0:
                return pid, job_id, parsed[0]
    return None


def _queued(redis: RedisServer) -> str:
    client = redis.client()
    try:
        lengths = {q: client.llen(f"rq:queue:{q}") for q in ("gather", "build")}
    except RedisError as exc:
        return f"queues unreadable ({type(exc).__name__})"
    finally:
        client.close()
    return ", ".join(f"{n} queued on {q}" for q, n in lengths.items())


def kill_search(t: Target) -> Injected:
    pid, job_id, case_id, source = _wait(lambda: running_search(t.fleet, t.engine), t.moment,
                                         "search in flight")
    before = t.state()
    t.fleet.kill(pid)
    at = time.monotonic()
    t.fleet.start_worker()  # the supervisor's restart
    after = search_status(t.engine, case_id, source)
    return Injected(at, f"SIGKILL worker {pid} in {job_id}; its row {after} after the kill",
                    after == "running", before)


def kill_build(t: Target) -> Injected:
    pid, job_id, case_id = _wait(lambda: running_build(t.fleet, t.engine), t.moment,
                                 "package build in flight")
    before = t.state()
    t.fleet.kill(pid)
    at = time.monotonic()
    t.fleet.start_worker()
    rows = package_rows(t.engine, case_id)
    return Injected(at, f"SIGKILL worker {pid} in {job_id}; {rows} package row(s) of case "
                        f"{case_id} after the kill", rows == 0, before)


def flushall(t: Target) -> Injected:
    pid, job_id, _, _ = _wait(lambda: running_search(t.fleet, t.engine), t.moment,
                              "search in flight")
    before, queued = t.state(), _queued(t.redis)
    client = t.redis.client()
    try:
        client.flushall()
    finally:
        client.close()
    at = time.monotonic()
    return Injected(at, f"FLUSHALL while worker {pid} ran {job_id} ({queued})", True, before)


def redis_restart(t: Target) -> Injected:
    pid, job_id, _, _ = _wait(lambda: running_search(t.fleet, t.engine), t.moment,
                              "search in flight")
    before, queued = t.state(), _queued(t.redis)
    at = time.monotonic()
    t.redis.stop()
    stopped = time.monotonic() - at
    time.sleep(t.down)
    t.redis.start()
    return Injected(at, f"redis-server stopped (SIGTERM, {stopped:.1f} s) while worker {pid} "
                        f"ran {job_id} ({queued}); started again {t.down:.0f} s later, empty",
                    True, before)


STRIKE = {"kill-search": kill_search, "kill-build": kill_build, "flushall": flushall,
          "redis-restart": redis_restart}
