"""What ``bench/gather.py`` times: from staff's "start processing" (its commit and the queuing
of the searches) to the case row in ``review``, and to its answer package row built, each
end read the moment its transaction commits.

The ends are told by PostgreSQL itself: two triggers, installed in the benchmark's own dsar
database only, ``pg_notify`` when a case row moves to ``review`` and when a ``ready`` package
row is inserted. A notification is delivered at the commit of the transaction that raised it,
to a listening connection in a thread of this process that stamps it on arrival. Nothing
polls the database (on two cores, polling every few milliseconds took CPU from the workers).
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path

import psycopg

CHANNEL = "dsar_bench_ends"

TRIGGERS = f"""
CREATE OR REPLACE FUNCTION dsar_bench_review() RETURNS trigger AS $$
BEGIN PERFORM pg_notify('{CHANNEL}', 'review:' || NEW.id); RETURN NEW; END $$
LANGUAGE plpgsql;
CREATE OR REPLACE FUNCTION dsar_bench_package() RETURNS trigger AS $$
BEGIN PERFORM pg_notify('{CHANNEL}', 'package:' || NEW.case_id); RETURN NEW; END $$
LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS dsar_bench_review ON cases;
CREATE TRIGGER dsar_bench_review AFTER UPDATE OF status ON cases FOR EACH ROW
    WHEN (NEW.status = 'review' AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION dsar_bench_review();
DROP TRIGGER IF EXISTS dsar_bench_package ON export_packages;
CREATE TRIGGER dsar_bench_package AFTER INSERT ON export_packages FOR EACH ROW
    WHEN (NEW.status = 'ready') EXECUTE FUNCTION dsar_bench_package();
"""


def plain_url(url: str) -> str:
    """A SQLAlchemy ``postgresql+psycopg://`` URL as libpq takes it."""
    return url.replace("postgresql+psycopg://", "postgresql://")


def install_triggers(database_url: str) -> None:
    """The two notifying triggers, in the benchmark's dsar database (after its migrations)."""
    with psycopg.connect(plain_url(database_url), autocommit=True) as conn:
        conn.execute(TRIGGERS)


class Ends:
    """A thread listening for the ends of cases: ``wait(kind, case_id)`` returns the
    ``time.perf_counter()`` at which the notification arrived."""

    def __init__(self, database_url: str) -> None:
        self._conn = psycopg.connect(plain_url(database_url), autocommit=True)
        self._conn.execute(f"LISTEN {CHANNEL}")
        self._seen: dict[tuple[str, int], float] = {}
        self._arrived = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        while not self._stop.is_set():
            for note in self._conn.notifies(timeout=0.2):
                at = time.perf_counter()
                kind, _, case_id = note.payload.partition(":")
                with self._arrived:
                    self._seen.setdefault((kind, int(case_id)), at)
                    self._arrived.notify_all()

    def wait(self, kind: str, case_id: int, timeout: float) -> float:
        """When ``kind`` (``review`` or ``package``) of ``case_id`` arrived (waiting for it)."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: (kind, case_id) in self._seen, timeout):
                raise SystemExit(f"case {case_id}: no {kind} after {timeout} s")
            return self._seen[(kind, case_id)]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._conn.close()


def make_cases(app, emails: list[str], kind: str = "access",
               details: dict | None = None) -> list[int]:
    """Verified cases of ``kind``, one per address, with the ``details`` the form collected
    (what staff have before "start")."""
    from dsar.cases.workflow import create_case, transition
    from dsar.extensions import db
    from dsar.models import ActorType, CaseKind, CaseStatus

    ids = []
    with app.app_context():
        for email in emails:
            case = create_case(kind=CaseKind(kind), requester_name="Bench", language="fr",
                               requester_email=email, details=details)
            for step in (CaseStatus.CONFIRMED, CaseStatus.VERIFIED):
                transition(case, step, actor_type=ActorType.SYSTEM)
            db.session.flush()
            ids.append(case.id)
        db.session.commit()
    return ids


def staff_user(app, role: str = "agent") -> int:
    """The bench's staff member of ``role`` (created once): the agent who starts the cases,
    or the DPO who also approves plans."""
    from sqlalchemy import select

    from dsar.extensions import db
    from dsar.models import StaffRole, StaffUser

    email = "bench@x.example" if role == "agent" else f"{role}@x.example"
    with app.app_context():
        user = db.session.scalar(select(StaffUser).where(StaffUser.email == email))
        if user is None:
            user = StaffUser(email=email, name=f"Bench {role}", role=StaffRole(role))
            user.set_password("bench-password-123")
            db.session.add(user)
            db.session.commit()
        return user.id


def start(app, case_id: int, staff_id: int) -> None:
    """Staff's "start processing", as the case page's button does it: load, act, commit,
    queue."""
    from dsar.cases import staff_actions
    from dsar.extensions import db
    from dsar.models import Case, StaffUser

    with app.app_context():
        staff_actions.start_processing(db.session.get(Case, case_id),
                                       db.session.get(StaffUser, staff_id))
        db.session.remove()


@dataclass
class Figures:
    """One workload's measurements, in seconds (latencies) and per minute (bursts)."""

    review: list[float] = field(default_factory=list)
    package: list[float] = field(default_factory=list)
    review_per_minute: float = 0.0
    package_per_minute: float = 0.0
    burst: int = 0
    #: The workers' CPU time (user + system, both workers) per case, in ms: one at a time,
    #: and in the burst. Unlike the clock, it hardly moves when other processes share the
    #: machine, so it tells a change in the code from a busy machine.
    cpu_ms_per_case: float = 0.0
    burst_cpu_ms_per_case: float = 0.0
    #: The load average (1 min) at the start and at the end of the measurements.
    load: tuple[float, float] = (0.0, 0.0)
    #: Where a case's time goes, one at a time: step -> median ms (from RQ's job records).
    steps: dict[str, float] = field(default_factory=dict)


def job_steps(app, started: dict[int, float], source: str) -> dict[str, float]:
    """The median of each step of the cases ``started`` (case id -> wall-clock start), read
    from RQ's records of their jobs (kept ``RESULT_TTL`` seconds): the staff action until the
    search is queued, then how long each job waited in its queue and ran."""
    from dsar import pipeline

    def at(moment) -> float:
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()

    from dsar.exports.build import results_digest

    samples: dict[str, list[float]] = {}
    with app.app_context():
        for case_id, began in started.items():
            jobs = {"search": pipeline.gather_job_id(case_id, source),
                    "fan-in": pipeline.collect_job_id(case_id, 1),
                    "build": pipeline.package_job_id(case_id, results_digest(case_id))}
            records = {name: pipeline.fetch_job(job_id) for name, job_id in jobs.items()}
            if any(r is None or r.ended_at is None for r in records.values()):
                continue
            search = records["search"]
            samples.setdefault("staff action, until the search is queued", []).append(
                at(search.enqueued_at) - began)
            for name, record in records.items():
                samples.setdefault(f"{name}: waits", []).append(
                    at(record.started_at) - at(record.enqueued_at))
                samples.setdefault(f"{name}: runs", []).append(
                    at(record.ended_at) - at(record.started_at))
    return {name: statistics.median(values) * 1000 for name, values in samples.items()}


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time consumed so far by the processes ``pids`` (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / ticks


def measure(app, ends: Ends, emails: list[str], warmup: int, timed: int, burst: int,
            worker_pids: list[int], source: str, timeout: float = 120) -> Figures:
    """``timed`` cases one at a time after ``warmup`` (the next case starts once the previous
    one's package is built: nothing else in flight), then ``burst`` cases started at once."""
    figures = Figures(burst=burst)
    staff_id = staff_user(app)
    load = os.getloadavg()[0]
    cpu = 0.0
    started: dict[int, float] = {}
    for index, case_id in enumerate(make_cases(app, emails[: warmup + timed])):
        if index == warmup:
            cpu = cpu_seconds(worker_pids)
        wall, began = time.time(), time.perf_counter()
        start(app, case_id, staff_id)
        reviewed = ends.wait("review", case_id, timeout)
        built = ends.wait("package", case_id, timeout)
        if index >= warmup:
            figures.review.append(reviewed - began)
            figures.package.append(built - began)
            started[case_id] = wall
    figures.cpu_ms_per_case = (cpu_seconds(worker_pids) - cpu) / max(timed, 1) * 1000
    figures.steps = job_steps(app, started, source)
    batch = make_cases(app, emails[warmup + timed: warmup + timed + burst])
    cpu = cpu_seconds(worker_pids)
    began = time.perf_counter()
    for case_id in batch:
        start(app, case_id, staff_id)
    last_review = max(ends.wait("review", c, timeout * 5) for c in batch)
    last_package = max(ends.wait("package", c, timeout * 5) for c in batch)
    figures.review_per_minute = len(batch) / (last_review - began) * 60
    figures.package_per_minute = len(batch) / (last_package - began) * 60
    figures.burst_cpu_ms_per_case = (cpu_seconds(worker_pids) - cpu) / len(batch) * 1000
    figures.load = (load, os.getloadavg()[0])
    return figures
