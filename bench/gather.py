"""How long a user waits, through the real queue and real workers: from staff's "start
processing" (its commit and the queuing of the searches) to the case in ``review``, and to its
answer package built (issues 4 and 11).

Two ``dsar worker`` processes take the queues as production does (mail, gather, build,
maintenance, default: searches before builds). Measured: p50 and p95 of one case at a time
after a warm-up (the next case starts once the previous package is built), then a burst of
cases started at once (reviews and packages per minute, two workers), and each worker's peak
memory (goal < 300 MB).

Workload ``sql``: the ``sql`` source alone, on PostgreSQL, 1,000,000 people in four tables
(users; enrolments and invoices by user id; support tickets by e-mail). Goals (issue 11):
review p50 < 150 ms, p95 < 300 ms, >= 900 per minute; package built p50 < 400 ms,
p95 < 700 ms, >= 300 per minute. Peer: Ethyca Fides 2.78.2, its JSON package in 0.38-0.42 s
p50, 0.49-0.52 s p95, 249 per minute.

Workload ``demo``: the six sources of the demo organisation (``dsar.demo.org``) with 1,000,000
people: review p50 < 500 ms, p95 < 1 s.

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
from bench.gather_measure import Ends, install_triggers, measure  # noqa: E402
from bench.gather_orgs import build_sql_org, demo_org, sql_org_config  # noqa: E402


def first_source(app) -> str:
    """The source whose search jobs the step breakdown follows: the first one searched by the
    e-mail address (so searched in the first round of every case)."""
    from dsar.sources.catalog import get_catalog

    with app.app_context():
        sources = get_catalog().sources
        by_email = [name for name, source in sources.items() if "email" in source.match_types]
        return (by_email or list(sources))[0]


def run_workload(name: str, args, instance: Path, setup) -> bool:
    database_url = ensure_database(args.admin_url, f"dsar_bench_{name}", fresh=True)
    with redis_server(instance) as redis_url:
        extra, emails, goals, label = setup(instance)
        env = dsar_env(instance, database_url, redis_url, **extra)
        os.environ.update(env)
        dsar_init(env)
        install_triggers(database_url)
        # As the periodic job does in production: the files sources' indexes are built before
        # the first case (the first indexing of a large log is not a search's cost).
        began = time.perf_counter()
        subprocess.run([sys.executable, "-m", "dsar", "sources", "index"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        print(f"   file indexes up to date in {time.perf_counter() - began:.1f} s", flush=True)
        from dsar import create_app

        app = create_app()
        random.Random(7).shuffle(emails)
        ends = Ends(database_url)
        try:
            with workers(env, args.workers, args.profile_workers) as processes:
                figures = measure(app, ends, emails, args.warmup, args.cases, args.burst,
                                  [p.pid for p in processes], first_source(app))
        finally:
            ends.close()
        with app.app_context():
            from dsar.extensions import db

            db.engine.dispose()
        ok = report(label, figures, goals)
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
    parser.add_argument("--burst", type=int, default=600, help="cases started at once")
    parser.add_argument("--profile-workers", type=Path, metavar="DIR",
                        help="run the workers under cProfile, writing worker-<n>.prof into DIR "
                             "(slower: for finding where the time goes, not for the figures)")
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
