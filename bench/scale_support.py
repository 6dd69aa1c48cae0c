"""The machinery of ``bench/scale.py``: a redis-server whose process id is known, a listener
for packages built, the closed-loop driver that keeps a fixed number of cases in flight, and
the sampler that tells where the CPU goes (the workers, PostgreSQL's sessions of each
database, PostgreSQL's own background processes, Redis, the benchmark itself, everything
else on the machine) and what PostgreSQL's sessions are doing (``pg_stat_activity``).

The CPU figures come from ``/proc`` (Linux): each process's user + system time
(``/proc/<pid>/stat``; for a worker also the jobs' children it waited for), the machine's
busy, idle and I/O-wait time (``/proc/stat``). PostgreSQL's processes are told apart by
their process title (``postgres: 15/main: <user> <database> <client> <state>``).
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from bench.gather_measure import CHANNEL, plain_url, start

#: Process titles of PostgreSQL's own processes (first word after the cluster's name).
PG_BACKGROUND = {"checkpointer", "background", "walwriter", "autovacuum", "logical",
                 "archiver", "stats", "startup", "walsender", "walreceiver", "parallel"}
TICKS = os.sysconf("SC_CLK_TCK")




def wait_for_workers(redis_url: str, count: int, seconds: float = 60) -> None:
    """Until ``count`` workers beat (``dsar:worker:*``): each has imported its jobs and
    registered, so the first case does not pay for a worker's start."""
    from redis import Redis

    from dsar.pipeline.liveness import WORKER_KEY_PREFIX

    redis = Redis.from_url(redis_url)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            if len(redis.keys(f"{WORKER_KEY_PREFIX}*")) >= count:
                return
            time.sleep(0.1)
    finally:
        redis.close()
    raise SystemExit(f"fewer than {count} workers started within {seconds:.0f} s")


class Listener:
    """The notifications of ``bench/gather_measure.py``'s triggers, stamped on arrival
    (``time.perf_counter()``): ``review`` moments kept by case, ``package`` moments handed
    out in their order of arrival by :meth:`next_built`."""

    def __init__(self, database_url: str) -> None:
        self._conn = psycopg.connect(plain_url(database_url), autocommit=True)
        self._conn.execute(f"LISTEN {CHANNEL}")
        self.backend_pid = self._conn.info.backend_pid
        self.reviewed: dict[int, float] = {}
        self._built: queue.Queue[tuple[int, float]] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        while not self._stop.is_set():
            for note in self._conn.notifies(timeout=0.2):
                at = time.perf_counter()
                kind, _, case_id = note.payload.partition(":")
                if kind == "review":
                    self.reviewed.setdefault(int(case_id), at)
                elif kind == "package":
                    self._built.put((int(case_id), at))

    def next_built(self, timeout: float) -> tuple[int, float]:
        """The next case whose package was built, and when."""
        try:
            return self._built.get(timeout=timeout)
        except queue.Empty:
            raise SystemExit(f"no package built for {timeout:.0f} s") from None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._conn.close()


@dataclass
class Case:
    """One case's moments (``time.perf_counter()``): staff's start, review, package built."""

    began: float
    reviewed: float = 0.0
    built: float = 0.0


def drive(app, listener: Listener, case_ids: list[int], in_flight: int, staff_id: int,
          timeout: float = 120) -> dict[int, Case]:
    """A closed loop: start ``in_flight`` cases, then one more each time a package is built,
    until every case of ``case_ids`` has its package. The clock of a case starts before
    staff's "start processing" (its commit and the queuing of the searches)."""
    cases: dict[int, Case] = {}
    waiting = iter(case_ids)

    def start_next() -> None:
        case_id = next(waiting, None)
        if case_id is not None:
            cases[case_id] = Case(began=time.perf_counter())
            start(app, case_id, staff_id)

    for _ in range(in_flight):
        start_next()
    done = 0
    while done < len(case_ids):
        case_id, at = listener.next_built(timeout)
        if case_id not in cases or cases[case_id].built:
            continue
        cases[case_id].built = at
        done += 1
        start_next()
    for case_id, case in cases.items():
        case.reviewed = listener.reviewed.get(case_id, 0.0)
    return cases


def steady_window(cases: dict[int, Case], warmup: int, in_flight: int) -> tuple[float, float]:
    """The steady state: from the ``warmup``-th package built to the last one built while
    ``in_flight`` cases were still in flight (after it, no case is started any more)."""
    ends = sorted(c.built for c in cases.values())
    last = max(len(ends) - in_flight, warmup + 1)
    if last >= len(ends) or warmup < 1:
        raise SystemExit(f"too few cases ({len(ends)}) for a warm-up of {warmup} and "
                         f"{in_flight} in flight")
    return ends[warmup - 1], ends[last]


def _proc_stat(pid: int) -> tuple[int, int, int] | None:
    """(utime + stime, cutime + cstime, starttime) of ``pid``, in clock ticks."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14]), int(fields[19])


def _schedstat(pid: int) -> tuple[int, int] | None:
    """(ns on a CPU, ns runnable but waiting for a CPU) of ``pid``'s main thread: the
    thread that runs a worker's jobs."""
    try:
        run, wait, _ = Path(f"/proc/{pid}/schedstat").read_text().split()
    except (OSError, ValueError):
        return None
    return int(run), int(wait)


def _title(pid: int) -> str | None:
    """A process's command line (PostgreSQL's processes put their title there)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def _proc_parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _machine() -> tuple[int, int, int]:
    """The machine's (busy, idle, iowait) ticks, all cores, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = values[:8]
    return user + nice + system + irq + softirq + steal, idle, iowait


def postgres_group(title: str, databases: dict[str, str]) -> str | None:
    """The group of a PostgreSQL process by its title: a session of one of ``databases``
    (name -> group), PostgreSQL's background (the postmaster too, and a session forked but
    not yet titled, which shows the postmaster's command line), ``""`` for a session of
    another database (someone else's), None for a process that is not PostgreSQL's."""
    if not title.startswith("postgres: "):
        return "postgres: background" if "bin/postgres" in title.split(" ", 1)[0] else None
    parts = title.split(": ", 2)
    rest = parts[2] if len(parts) == 3 and "/" in parts[1] else title.split(": ", 1)[1]
    words = rest.split()
    if not words or words[0] in PG_BACKGROUND:
        return "postgres: background"
    return databases.get(words[1], "") if len(words) > 1 else ""


@dataclass
class Sample:
    """Cumulative figures at one moment: CPU seconds by group, the machine's ticks, and the
    PostgreSQL sessions seen active so far."""

    at: float
    cpu: dict[str, float]
    machine: tuple[int, int, int]
    activity: Counter = field(default_factory=Counter)
    activity_samples: int = 0
    #: The workers' main threads: seconds on a CPU, seconds waiting for one.
    sched: tuple[float, float] = (0.0, 0.0)


class Sampler:
    """A thread that samples, every ``interval`` seconds, the CPU time of each group of
    processes (cumulative since it started) and what the PostgreSQL sessions of
    ``databases`` are doing."""

    def __init__(self, fixed: dict[int, str], databases: dict[str, str], admin_url: str,
                 own_backends: set[int], interval: float = 0.25) -> None:
        self.fixed = fixed  # pid -> group (workers, redis, the benchmark)
        self.databases = databases
        self.interval = interval
        self._conn = psycopg.connect(plain_url(admin_url), autocommit=True)
        self._own = own_backends | {self._conn.info.backend_pid}
        with open("/proc/uptime") as uptime:
            self._since = float(uptime.read().split()[0]) * TICKS  # ticks since boot
        self._last: dict[int, int] = {}
        self._groups: dict[int, str | None] = {}
        self._totals: Counter = Counter()
        self._activity: Counter = Counter()
        self._activity_samples = 0
        self._sched_last: dict[int, tuple[int, int]] = {}
        self._sched = [0, 0]
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sample()
        self._conn.close()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _group(self, pid: int) -> str | None:
        if pid in self.fixed:
            return self.fixed[pid]
        if pid in self._own:
            return "bench"
        known = self._groups.get(pid)
        if known is not None:
            return known
        title = _title(pid)
        if title is None:
            return None
        group = postgres_group(title, self.databases)
        if group == "postgres: background" and not title.startswith("postgres: "):
            # The postmaster, or a session just forked that has not set its title yet (its
            # parent is the postmaster): the latter is looked at again next time.
            parent = _proc_parent(pid)
            if parent is not None and postgres_group(_title(parent) or "", {}) is not None:
                return None
        self._groups[pid] = group or ""
        return group

    def _sample(self) -> None:
        present = {int(name) for name in os.listdir("/proc") if name.isdigit()}
        for pid in set(self._groups) - present:  # gone: forget it (its pid may come back)
            del self._groups[pid]
            self._last.pop(pid, None)
        for pid in present:
            group = self._group(pid)
            if not group:
                continue
            stat = _proc_stat(pid)
            if stat is None:
                continue
            own, children, started = stat
            # Workers: the jobs' forked children they waited for count as theirs.
            used = own + children if self.fixed.get(pid) == "workers" else own
            if pid not in self._last:
                # A process born since the sampler started: its whole life is the run's.
                self._last[pid] = 0 if started >= self._since else used
            self._totals[group] += used - self._last[pid]
            self._last[pid] = used
        self._sample_activity()
        self._sample_workers()
        self.samples.append(Sample(time.perf_counter(),
                                   {g: t / TICKS for g, t in self._totals.items()},
                                   _machine(), Counter(self._activity),
                                   self._activity_samples,
                                   (self._sched[0] / 1e9, self._sched[1] / 1e9)))

    def _sample_workers(self) -> None:
        for pid in (p for p, g in self.fixed.items() if g == "workers"):
            now = _schedstat(pid)
            if now is None:
                continue
            last = self._sched_last.get(pid, now)
            self._sched[0] += now[0] - last[0]
            self._sched[1] += now[1] - last[1]
            self._sched_last[pid] = now

    def _sample_activity(self) -> None:
        rows = self._conn.execute(
            "SELECT datname, coalesce(wait_event_type || ':' || wait_event, 'on CPU') "
            "FROM pg_stat_activity WHERE datname = ANY(%s) AND state = 'active' "
            "AND backend_type = 'client backend' AND NOT pid = ANY(%s)",
            (list(self.databases), list(self._own))).fetchall()
        self._activity_samples += 1
        for datname, what in rows:
            self._activity[(self.databases[datname], what)] += 1

    def between(self, start: float, end: float) -> Window:
        """The figures of the window [start, end] (``time.perf_counter()``), from the
        samples nearest its ends."""
        first = min(self.samples, key=lambda s: abs(s.at - start))
        last = min(self.samples, key=lambda s: abs(s.at - end))
        busy, idle, iowait = (b - a for a, b in zip(first.machine, last.machine, strict=True))
        groups = {g: last.cpu.get(g, 0.0) - first.cpu.get(g, 0.0) for g in last.cpu}
        count = max(last.activity_samples - first.activity_samples, 1)
        activity = {key: (last.activity[key] - first.activity.get(key, 0)) / count
                    for key in last.activity}
        return Window(seconds=last.at - first.at, cpu=groups,
                      machine_busy=busy / TICKS, machine_idle=idle / TICKS,
                      machine_iowait=iowait / TICKS, activity=activity,
                      workers_running=last.sched[0] - first.sched[0],
                      workers_waiting=last.sched[1] - first.sched[1])


@dataclass
class Window:
    """CPU seconds by group, the machine's busy/idle/iowait CPU seconds (all cores), and the
    mean number of active PostgreSQL sessions by (group, what they wait on) over a window."""

    seconds: float
    cpu: dict[str, float]
    machine_busy: float
    machine_idle: float
    machine_iowait: float
    activity: dict[tuple[str, str], float]
    #: The workers' main threads, summed: seconds on a CPU, seconds runnable but waiting
    #: for a CPU (the rest of their time they were blocked: on the database, Redis, the
    #: disk, or waiting for a job).
    workers_running: float = 0.0
    workers_waiting: float = 0.0

    @property
    def capacity(self) -> float:
        """CPU seconds the machine had over the window (all cores)."""
        return self.machine_busy + self.machine_idle + self.machine_iowait

    def others(self) -> float:
        """CPU seconds of every process not in a group (other users of the machine)."""
        return max(self.machine_busy - sum(self.cpu.values()), 0.0)

    def active(self, group: str) -> float:
        """Mean number of active sessions of ``group``."""
        return sum(v for (g, _), v in self.activity.items() if g == group)
