"""What ``bench/recovery.py`` reads from the dsar database (SQLAlchemy Core, its own engine,
each read a short transaction): where the cases stand, whether they have recovered, and
whether any work was done twice."""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from sqlalchemy import bindparam, create_engine, text

FINISHED = ("done", "failed", "skipped")


def engine_for(database_url: str):
    options = {"connect_args": {"timeout": 30}} if database_url.startswith("sqlite") else {}
    return create_engine(database_url, **options)


def _ids(sql: str):
    return text(sql).bindparams(bindparam("ids", expanding=True))


@dataclass
class Snapshot:
    """Where the cases stand at one moment."""

    status: dict[int, str]
    #: case id -> number of READY packages
    ready: dict[int, int]
    #: case id -> [(source, round, status)]
    sources: dict[int, list[tuple[str, int, str]]]

    def in_review(self) -> int:
        return sum(s == "review" for s in self.status.values())

    def packaged(self) -> int:
        return sum(self.ready.get(c, 0) == 1 for c in self.status)

    def searches(self, status: str) -> int:
        return sum(s == status for rows in self.sources.values() for _, _, s in rows)

    def recovered(self) -> bool:
        """Every case in review, with exactly one READY package, every search finished."""
        return all(
            status == "review" and self.ready.get(case_id, 0) == 1
            and all(s in FINISHED for _, _, s in self.sources.get(case_id, []))
            for case_id, status in self.status.items())

    def summary(self) -> str:
        return (f"{self.in_review()}/{len(self.status)} in review, {self.packaged()} with one "
                f"package; searches running {self.searches('running')}, pending "
                f"{self.searches('pending')}")


def snapshot(engine, case_ids: list[int]) -> Snapshot:
    with engine.connect() as conn:
        status = dict(conn.execute(_ids("SELECT id, status FROM cases WHERE id IN :ids"),
                                   {"ids": case_ids}).all())
        ready = dict(conn.execute(_ids(
            "SELECT case_id, count(*) FROM export_packages WHERE status = 'ready' "
            "AND case_id IN :ids GROUP BY case_id"), {"ids": case_ids}).all())
        sources: dict[int, list] = defaultdict(list)
        for case_id, source, round_, state in conn.execute(_ids(
                "SELECT case_id, source, round, status FROM source_results "
                "WHERE case_id IN :ids"), {"ids": case_ids}):
            sources[case_id].append((source, round_, state))
    return Snapshot(status, ready, dict(sources))


def search_status(engine, case_id: int, source: str) -> str | None:
    with engine.connect() as conn:
        return conn.scalar(text("SELECT status FROM source_results WHERE case_id = :c "
                                "AND source = :s"), {"c": case_id, "s": source})


def package_rows(engine, case_id: int) -> int:
    with engine.connect() as conn:
        return conn.scalar(text("SELECT count(*) FROM export_packages WHERE case_id = :c"),
                           {"c": case_id})


@dataclass
class Recovery:
    """When, after the fault, every case was in review and every case had its package."""

    review_at: float | None = None
    recovered_at: float | None = None
    last: Snapshot | None = None


def wait_recovered(engine, case_ids: list[int], fault_at: float, timeout: float,
                   every: float = 0.25) -> Recovery:
    """Poll until every case has recovered (or ``timeout`` seconds after the fault)."""
    out = Recovery()
    while True:
        now = time.monotonic()
        out.last = snap = snapshot(engine, case_ids)
        if out.review_at is None and snap.in_review() == len(case_ids):
            out.review_at = now - fault_at
        if snap.recovered():
            out.recovered_at = now - fault_at
            return out
        if now - fault_at > timeout:
            return out
        time.sleep(every)


@dataclass
class Duplicates:
    """Work done more than once, per kind of record (extra copies), with the evidence."""

    counts: Counter = field(default_factory=Counter)
    details: list[str] = field(default_factory=list)
    #: What is missing (not a duplicate, but not recovered either).
    missing: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _payload(value) -> dict:
    if isinstance(value, str):
        return json.loads(value)
    return value or {}


def duplicates(engine, case_ids: list[int]) -> Duplicates:
    """Per case: one ``case.status_changed`` to review, one ``package.built`` event, one
    package row (whatever its status: a second build expires the first), and one
    ``gather.source_done`` per source and round."""
    out = Duplicates()
    reviews: dict[int, list[str]] = defaultdict(list)
    built: dict[int, list[str]] = defaultdict(list)
    done: dict[tuple[int, str, int], list[str]] = defaultdict(list)
    with engine.connect() as conn:
        events = conn.execute(_ids(
            "SELECT case_id, action, payload, actor_id FROM audit_events WHERE case_id IN :ids "
            "AND action IN ('case.status_changed', 'package.built', 'gather.source_done') "
            "ORDER BY id"), {"ids": case_ids}).all()
        packages = dict(conn.execute(_ids(
            "SELECT case_id, count(*) FROM export_packages WHERE case_id IN :ids "
            "GROUP BY case_id"), {"ids": case_ids}).all())
        rows = conn.execute(_ids(
            "SELECT case_id, source, round, status FROM source_results WHERE case_id IN :ids"),
            {"ids": case_ids}).all()
    for case_id, action, payload, actor in events:
        payload = _payload(payload)
        actor = actor or "-"
        if action == "case.status_changed" and payload.get("to") == "review":
            reviews[case_id].append(actor)
        elif action == "package.built":
            built[case_id].append(actor)
        elif action == "gather.source_done":
            done[(case_id, payload.get("source"), payload.get("round"))].append(actor)

    def check(kind: str, where: str, actors: list[str]) -> None:
        if len(actors) > 1:
            out.counts[kind] += len(actors) - 1
            out.details.append(f"{where}: {len(actors)} × {kind} (by {', '.join(actors)})")

    for case_id in case_ids:
        check("moves to review", f"case {case_id}", reviews[case_id])
        check("package.built", f"case {case_id}", built[case_id])
        if packages.get(case_id, 0) > 1:
            out.counts["package rows"] += packages[case_id] - 1
            out.details.append(f"case {case_id}: {packages[case_id]} package rows")
        if not reviews[case_id]:
            out.missing.append(f"case {case_id}: never moved to review")
        if not built[case_id]:
            out.missing.append(f"case {case_id}: no package.built")
    for (case_id, source, round_), actors in sorted(done.items(), key=str):
        check("gather.source_done", f"case {case_id} {source} round {round_}", actors)
    for case_id, source, round_, status in rows:
        if status == "done" and not done.get((case_id, source, round_)):
            out.missing.append(f"case {case_id} {source} round {round_}: done without "
                               f"gather.source_done")
    return out
