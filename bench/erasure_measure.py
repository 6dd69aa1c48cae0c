"""What ``bench/erasure.py`` times: an erasure case from staff's "start processing" to its plan
verified, and on to its certificate built, each end read the moment its transaction commits.

As in ``bench/gather_measure.py``, PostgreSQL tells the ends: triggers installed in the
benchmark's own dsar database only ``pg_notify`` when a case's plan is drafted (the search is
over: the case waits for the DPO), when its step is done in the source, when the plan is
verified (or found wanting: ``remains``), and when a ``ready`` package row (the certificate) is
inserted. A thread of this process listens and stamps each notification on arrival; nothing
polls the database. The bench approves each plan as soon as it is drafted, as a DPO would
(``dsar.changes.plan.approve_action``: approve, commit, queue the steps).
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field

import psycopg

from bench.gather_measure import make_cases as gather_make_cases
from bench.gather_measure import plain_url, staff_user

CHANNEL = "dsar_bench_erasure"

TRIGGERS = f"""
CREATE OR REPLACE FUNCTION dsar_bench_erasure_plan() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM pg_notify('{CHANNEL}', 'plan:' || NEW.case_id);
    ELSIF NEW.status IS DISTINCT FROM OLD.status AND NEW.status IN ('verified', 'remains') THEN
        PERFORM pg_notify('{CHANNEL}', NEW.status || ':' || NEW.case_id);
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE OR REPLACE FUNCTION dsar_bench_erasure_step() RETURNS trigger AS $$
BEGIN PERFORM pg_notify('{CHANNEL}', 'executed:' || NEW.case_id); RETURN NEW; END $$
LANGUAGE plpgsql;
CREATE OR REPLACE FUNCTION dsar_bench_erasure_package() RETURNS trigger AS $$
BEGIN PERFORM pg_notify('{CHANNEL}', 'package:' || NEW.case_id); RETURN NEW; END $$
LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS dsar_bench_erasure_plan ON change_plans;
CREATE TRIGGER dsar_bench_erasure_plan AFTER INSERT OR UPDATE OF status ON change_plans
    FOR EACH ROW EXECUTE FUNCTION dsar_bench_erasure_plan();
DROP TRIGGER IF EXISTS dsar_bench_erasure_step ON change_steps;
CREATE TRIGGER dsar_bench_erasure_step AFTER UPDATE OF status ON change_steps FOR EACH ROW
    WHEN (NEW.status = 'done' AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION dsar_bench_erasure_step();
DROP TRIGGER IF EXISTS dsar_bench_erasure_package ON export_packages;
CREATE TRIGGER dsar_bench_erasure_package AFTER INSERT ON export_packages FOR EACH ROW
    WHEN (NEW.status = 'ready') EXECUTE FUNCTION dsar_bench_erasure_package();
"""


def install_triggers(database_url: str) -> None:
    """The notifying triggers, in the benchmark's dsar database (after its migrations)."""
    with psycopg.connect(plain_url(database_url), autocommit=True) as conn:
        conn.execute(TRIGGERS)


class Events:
    """A thread listening for the moments of cases: ``wait(kind, case_id)`` returns the
    ``time.perf_counter()`` at which that notification arrived; each drafted plan is also
    put on ``plans`` (for the DPO's approvals in a burst, in their order of arrival)."""

    def __init__(self, database_url: str) -> None:
        self._conn = psycopg.connect(plain_url(database_url), autocommit=True)
        self._conn.execute(f"LISTEN {CHANNEL}")
        self._seen: dict[tuple[str, int], float] = {}
        self._arrived = threading.Condition()
        self._stop = threading.Event()
        self.plans: queue.Queue[int] = queue.Queue()
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
                if kind == "plan":
                    self.plans.put(int(case_id))

    def wait(self, kind: str, case_id: int, timeout: float) -> float:
        """When ``kind`` of ``case_id`` arrived (waiting for it)."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: (kind, case_id) in self._seen, timeout):
                raise SystemExit(f"case {case_id}: no {kind} after {timeout} s")
            return self._seen[(kind, case_id)]

    def wait_end(self, case_id: int, timeout: float) -> tuple[str, float]:
        """The verification's end: (``verified`` or ``remains``, when it arrived)."""
        def ended():
            return next((k for k in ("verified", "remains") if (k, case_id) in self._seen),
                        None)
        with self._arrived:
            if not self._arrived.wait_for(lambda: ended() is not None, timeout):
                raise SystemExit(f"case {case_id}: not verified after {timeout} s")
            kind = ended()
            return kind, self._seen[(kind, case_id)]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._conn.close()


def make_cases(app, emails: list[str]) -> list[int]:
    """Verified erasure cases, one per address, with the ground the person gave (what staff
    have before "start")."""
    return gather_make_cases(app, emails, "erasure", {"erasure_ground": "consent_withdrawn"})


def dpo_user(app) -> int:
    """The DPO who starts the cases and approves their plans (created once)."""
    return staff_user(app, "dpo")


def approve(app, case_id: int, staff_id: int) -> None:
    """The DPO's "approve" on the case page: load, approve, commit, queue the steps."""
    from dsar.changes import plan
    from dsar.extensions import db
    from dsar.models import Case, StaffUser

    with app.app_context():
        plan.approve_action(db.session.get(Case, case_id), db.session.get(StaffUser, staff_id))
        db.session.remove()


@dataclass
class Timeline:
    """The moments of one case (``time.perf_counter()``), and its wall-clock start."""

    wall: float
    began: float
    drafted: float = 0.0
    approving: float = 0.0
    approved: float = 0.0
    executed: float = 0.0
    verified: float = 0.0
    certificate: float = 0.0


@dataclass
class Figures:
    """The measurements: the one-at-a-time cases' timelines, the burst's rates."""

    timed: dict[int, Timeline] = field(default_factory=dict)
    burst: int = 0
    verified_per_minute: float = 0.0
    certificates_per_minute: float = 0.0
    cpu_ms_per_case: float = 0.0
    burst_cpu_ms_per_case: float = 0.0
    load: tuple[float, float] = (0.0, 0.0)
    #: Step -> median ms (RQ's job records of the timed cases).
    steps: dict[str, float] = field(default_factory=dict)
    #: Cases whose verification found something left (should be none).
    remains: list[int] = field(default_factory=list)

    def series(self, start: str, end: str) -> list[float]:
        """Seconds from moment ``start`` to moment ``end`` of each timed case."""
        return [getattr(t, end) - getattr(t, start) for t in self.timed.values()]


def one_case(app, events: Events, case_id: int, staff_id: int, timeout: float,
             figures: Figures) -> Timeline:
    """Start one case, approve its plan once drafted, wait for its certificate."""
    from bench.gather_measure import start

    line = Timeline(wall=time.time(), began=time.perf_counter())
    start(app, case_id, staff_id)
    line.drafted = events.wait("plan", case_id, timeout)
    line.approving = time.perf_counter()
    approve(app, case_id, staff_id)
    line.approved = time.perf_counter()
    line.executed = events.wait("executed", case_id, timeout)
    end, line.verified = events.wait_end(case_id, timeout)
    if end == "remains":
        figures.remains.append(case_id)
        return line
    line.certificate = events.wait("package", case_id, timeout)
    return line


def run_burst(app, events: Events, batch: list[int], staff_id: int,
              timeout: float) -> tuple[float, float, float]:
    """Start every case of ``batch`` at once while a DPO (a thread) approves each plan as it
    is drafted; returns (began, last verified, last certificate) as perf_counter moments."""
    from bench.gather_measure import start

    wanted = set(batch)
    failures: list[BaseException] = []

    def dpo() -> None:
        approved = 0
        while approved < len(wanted):
            try:
                case_id = events.plans.get(timeout=timeout)
            except queue.Empty:
                failures.append(TimeoutError(f"{len(wanted) - approved} plans never drafted"))
                return
            if case_id in wanted:
                try:
                    approve(app, case_id, staff_id)
                except Exception as exc:  # reported by the main thread
                    failures.append(exc)
                    return
                approved += 1

    approver = threading.Thread(target=dpo, daemon=True)
    approver.start()
    began = time.perf_counter()
    for case_id in batch:
        start(app, case_id, staff_id)
    approver.join(timeout * 5)
    if failures or approver.is_alive():
        raise SystemExit(f"burst: the approvals failed: {failures or 'still running'}")
    ends = [events.wait_end(c, timeout * 5) for c in batch]
    if any(kind != "verified" for kind, _ in ends):
        raise SystemExit("burst: a verification found records left (plan 'remains')")
    last_verified = max(at for _, at in ends)
    last_certificate = max(events.wait("package", c, timeout * 5) for c in batch)
    return began, last_verified, last_certificate
