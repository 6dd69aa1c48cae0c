"""Benchmark of the staff dashboard (``GET /staff/``) with 100,000 cases, on SQLite and
PostgreSQL.

It builds the real application (``dsar.create_app``), creates the schema from the migrations,
bulk-inserts the cases (SQLAlchemy Core, executemany), runs ANALYZE, signs an agent in through
the real login form, then times whole requests through the Flask test client: routing, the
login and idle-timeout checks, every query of the view, and the template. The goal is a p95
under 100 ms per scenario.

Two data profiles, run one after the other by default (``--profile``): "backlog" (about 15% of
the cases open, many of them overdue, stragglers from a year ago) and "on-time" (about 8% open,
all due recently or soon). Same volume, same kinds; what differs is where the open cases sit in
the due-date order, which decides whether scanning ``ix_cases_due_on_id`` is cheap.

    python bench/dashboard.py                          # SQLite only (and says so)
    python bench/dashboard.py --postgres postgresql+psycopg://dsar:dsar@127.0.0.1:5432/dsar_bench
    DSAR_BENCH_POSTGRES_URL=... python bench/dashboard.py --cases 100000 --requests 200

The PostgreSQL database is emptied first (every table of the app is dropped, then the
migrations run) and keeps the benchmark's data afterwards, for EXPLAIN by hand. ``--explain``
prints the query plan of every statement of every scenario; a scenario that misses the goal
gets its plans printed anyway.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.dashboard_data import PROFILES, DataSet, fill, reset_schema  # noqa: E402
from bench.dashboard_requests import GOAL_MS, Result, measure  # noqa: E402
from dsar import create_app  # noqa: E402
from dsar.core.keys import create_master_key  # noqa: E402


def config(database_url: str, workdir: Path, key_file: Path) -> dict:
    return {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "REDIS_URL": "redis://127.0.0.1:1/0",  # nothing listens there: the view needs no Redis
        "RATELIMIT_STORAGE_URI": "memory://",
        "MASTER_KEY_FILE": str(key_file),
        "STORAGE_DIR": str(workdir / "storage"),
        "BASE_URL": "http://localhost",
        "ORGANISATION_NAME": "Organisation du benchmark",
        "DPO_EMAIL": "dpo@bench.example",
        "MAIL_FROM": "dsar@bench.example",
    }


def run(label: str, database_url: str, profile: str, workdir: Path, key_file: Path,
        args: argparse.Namespace) -> tuple[DataSet, list[Result]]:
    load = os.getloadavg()[0]
    print(f"\n== {label}, profile {profile!r}: {args.cases:,} cases "
          f"(load average {load:.2f} on {os.cpu_count()} CPUs)", flush=True)
    if load > 0.5 * (os.cpu_count() or 1):
        print("  warning: the machine is busy, the figures will be noisy", flush=True)
    app = create_app(config(database_url, workdir, key_file))
    reset_schema(app)
    data = fill(app, args.cases, args.batch, args.seed, profile)
    print(f"  filled in {data.fill_seconds:.1f} s ({args.cases / data.fill_seconds:,.0f} rows/s)"
          f", ANALYZE {data.analyze_seconds:.1f} s; {data.open_cases:,} open cases "
          f"({100 * data.open_cases / args.cases:.1f}%), {data.overdue_open:,} of them overdue",
          flush=True)
    return data, measure(app, label, data, args.warmup, args.requests, args.explain)


def report(runs: list[tuple[DataSet, list[Result]]], args: argparse.Namespace) -> bool:
    print(f"\nGoal: p95 < {GOAL_MS:.0f} ms per request. {args.cases:,} cases; "
          f"{args.requests} timed requests per scenario after {args.warmup} warm-up; whole "
          f"requests through the Flask test client.\n")
    header = (f"{'database':<10} {'profile':<8} {'scenario':<32} {'rows':>4} {'p50':>6} "
              f"{'p95':>6} {'max':>6} {'SQL':>6} {'slowest':>7} {'q':>2}  verdict")
    print(header)
    print("-" * len(header))
    ok = True
    for data, results in runs:
        for r in results:
            ok &= r.passed
            print(f"{r.database:<10} {r.profile:<8} {r.scenario:<32} {r.rows:>4} {r.p50:>6.1f} "
                  f"{r.p95:>6.1f} {max(r.times_ms):>6.1f} {r.sql_ms:>6.1f} "
                  f"{r.slowest.median_ms:>7.1f} {r.queries:>2}  "
                  f"{'PASS' if r.passed else 'FAIL'}")
        print(f"{results[0].database:<10} {data.profile:<8} fill {data.fill_seconds:.1f} s, "
              f"ANALYZE {data.analyze_seconds:.1f} s; {data.open_cases:,} open "
              f"({data.overdue_open:,} overdue)")
    print("\nms. SQL: the request's statements replayed alone (sum of medians); slowest: the "
          "costliest of them; q: statements per request.")
    for name, text_ in PROFILES.items():
        print(f"Profile {name}: {text_}.")
    print(f"Overall: {'PASS' if ok else 'FAIL'}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--postgres", default=os.environ.get("DSAR_BENCH_POSTGRES_URL"),
                        help="PostgreSQL URL (default: $DSAR_BENCH_POSTGRES_URL); its tables "
                             "are dropped and recreated")
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--profile", choices=[*PROFILES, "both"], default="both",
                        help="how the open cases spread over time (default: both, one after "
                             "the other)")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per scenario")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--batch", type=int, default=10_000, help="rows per executemany")
    parser.add_argument("--seed", type=int, default=20250101)
    parser.add_argument("--explain", action="store_true",
                        help="print the query plans of every scenario (failing ones always)")
    args = parser.parse_args(argv)
    profiles = list(PROFILES) if args.profile == "both" else [args.profile]

    databases = []
    with tempfile.TemporaryDirectory(prefix="dsar-bench-") as tmp:
        workdir = Path(tmp)
        key_file = workdir / "dsar.key"
        create_master_key(key_file)
        databases.append(("SQLite", f"sqlite:///{workdir / 'bench.sqlite3'}"))
        if args.sqlite_only:
            print("PostgreSQL skipped (--sqlite-only): SQLite only.")
        elif not args.postgres:
            print("PostgreSQL skipped: no URL (give --postgres URL or set "
                  "DSAR_BENCH_POSTGRES_URL). SQLite only.")
        else:
            databases.append(("PostgreSQL", args.postgres))
        runs = [run(label, url, profile, workdir, key_file, args)
                for label, url in databases for profile in profiles]
    return 0 if report(runs, args) else 1


if __name__ == "__main__":
    sys.exit(main())
