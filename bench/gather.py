"""How fast a case goes from "start processing" to "review", through the real queue and real
workers (issue 4's benchmark).

Workload ``sql``: the ``sql`` source alone, on PostgreSQL, 1,000,000 people in four tables
(users; enrolments and invoices by user id; support tickets by e-mail). Measured: p50 and p95
of one case at a time after a warm-up, then cases gathered per minute with two workers.
Peer: Ethyca Fides, 0.40-0.50 s p50, 0.52-0.68 s p95, about 227 per minute.
Goals: p50 < 200 ms, p95 < 400 ms, >= 450 per minute.

Workload ``demo``: the six sources of the demo organisation (``dsar.demo.org``) with 1,000,000
people: p50 < 500 ms, p95 < 1 s.

Both print the peak memory of a worker (goal < 300 MB).

    .venv/bin/python bench/gather.py --workload sql \\
        --admin-url postgresql+psycopg://dsar:dsar@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.gather_harness import (  # noqa: E402
    WORKER_PEAKS_MB,
    dsar_env,
    dsar_init,
    ensure_database,
    peak_child_rss_mb,
    redis_server,
    report,
    workers,
)
from bench.gather_orgs import build_sql_org, demo_org, sql_org_config  # noqa: E402


def make_cases(app, emails: list[str]) -> list[int]:
    """Verified access cases, one per address (what staff have before "start")."""
    from dsar.cases.workflow import create_case, transition
    from dsar.extensions import db
    from dsar.models import ActorType, CaseKind, CaseStatus

    ids = []
    with app.app_context():
        for email in emails:
            case = create_case(kind=CaseKind.ACCESS, requester_name="Bench", language="fr",
                               requester_email=email)
            for step in (CaseStatus.CONFIRMED, CaseStatus.VERIFIED):
                transition(case, step, actor_type=ActorType.SYSTEM)
            db.session.flush()
            ids.append(case.id)
        db.session.commit()
    return ids


def staff_user(app):
    from sqlalchemy import select

    from dsar.extensions import db
    from dsar.models import StaffRole, StaffUser

    with app.app_context():
        user = db.session.scalar(select(StaffUser).where(StaffUser.email == "bench@x.example"))
        if user is None:
            user = StaffUser(email="bench@x.example", name="Bench", role=StaffRole.AGENT)
            user.set_password("bench-password-123")
            db.session.add(user)
            db.session.commit()
        return user.id


def start(app, case_id: int, staff_id: int) -> None:
    from dsar.cases import staff_actions
    from dsar.extensions import db
    from dsar.models import Case, StaffUser

    with app.app_context():
        staff_actions.start_processing(db.session.get(Case, case_id), db.session.get(StaffUser,
                                                                                staff_id))
        db.session.remove()


def reviewed(conn, case_ids: list[int]) -> int:
    from sqlalchemy import text

    return conn.execute(text("SELECT count(*) FROM cases WHERE status = 'review' AND id = ANY(:i)"),
                        {"i": case_ids}).scalar_one()


def measure(app, emails: list[str], warmup: int, timed: int, throughput: int,
            timeout: float = 120) -> tuple[list[float], float, dict]:
    """Latency of ``timed`` cases one at a time (after ``warmup``), then the rate of
    ``throughput`` cases started at once."""
    from sqlalchemy import create_engine

    staff_id = staff_user(app)
    engine = create_engine(app.config["DATABASE_URL"], isolation_level="AUTOCOMMIT")
    latencies = []
    failed = {"cases": 0}
    with engine.connect() as conn:
        ids = make_cases(app, emails[: warmup + timed])
        for index, case_id in enumerate(ids):
            began = time.perf_counter()
            start(app, case_id, staff_id)
            while not reviewed(conn, [case_id]):
                if time.perf_counter() - began > timeout:
                    raise SystemExit(f"case {case_id} not in review after {timeout} s")
                time.sleep(0.002)
            if index >= warmup:
                latencies.append(time.perf_counter() - began)
        batch = make_cases(app, emails[warmup + timed: warmup + timed + throughput])
        began = time.perf_counter()
        for case_id in batch:
            start(app, case_id, staff_id)
        while reviewed(conn, batch) < len(batch):
            if time.perf_counter() - began > timeout * 5:
                raise SystemExit("throughput batch did not finish")
            time.sleep(0.01)
        per_minute = len(batch) / (time.perf_counter() - began) * 60
    engine.dispose()
    return latencies, per_minute, failed


def run_workload(name: str, args, instance: Path, setup) -> bool:
    database_url = ensure_database(args.admin_url, f"dsar_bench_{name}", fresh=True)
    with redis_server(instance) as redis_url:
        extra, emails, goals, label = setup(instance)
        env = dsar_env(instance, database_url, redis_url, **extra)
        os.environ.update(env)
        dsar_init(env)
        # As the periodic job does in production: the files sources' indexes are built before
        # the first case (the first indexing of a large log is not a search's cost).
        began = time.perf_counter()
        subprocess.run([sys.executable, "-m", "dsar", "sources", "index"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        print(f"   file indexes up to date in {time.perf_counter() - began:.1f} s", flush=True)
        from dsar import create_app

        app = create_app()
        random.Random(7).shuffle(emails)
        with workers(env, args.workers):
            latencies, per_minute, _ = measure(app, emails, args.warmup, args.cases,
                                               args.throughput)
        with app.app_context():
            from dsar.extensions import db

            db.engine.dispose()
        ok = report(label, latencies, per_minute, goals)
        # Each worker's own peak (jobs run in the worker process unless WORKER_FORK; with
        # forks, the largest waited-for child counts too).
        peak = max([*WORKER_PEAKS_MB, peak_child_rss_mb() if app.config["WORKER_FORK"] else 0])
        WORKER_PEAKS_MB.clear()
        print(f"   peak memory of a worker: {peak:6.0f} MB  (goal < 300 MB)"
              f"  {'PASS' if peak < 300 else 'FAIL'}")
        return ok and peak < 300


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", choices=["sql", "demo", "both"], default="both")
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--admin-url",
                        default="postgresql+psycopg://dsar:dsar@127.0.0.1:5432/postgres")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--throughput", type=int, default=600)
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "dsar-bench",
                        help="kept between runs: the generated organisations are reused")
    args = parser.parse_args()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    print(f"dsar gather benchmark: {args.people:,} people, {args.workers} workers, "
          f"{os.cpu_count()} CPUs")
    ok = True
    if args.workload in ("sql", "both"):
        org_url = build_sql_org(args.admin_url, args.people)
        instance = Path(tempfile.mkdtemp(prefix="dsar-bench-sql-"))
        ok &= run_workload("sql", args, instance,
                           lambda inst: sql_org_config(inst, org_url, args.people))
    if args.workload in ("demo", "both"):
        instance = Path(tempfile.mkdtemp(prefix="dsar-bench-demo-"))
        with demo_org(args.data_dir, instance, args.people) as setup:
            ok &= run_workload("demo", args, instance, setup)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
