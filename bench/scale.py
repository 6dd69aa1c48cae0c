"""How the pipeline scales with workers on one machine: access requests per minute from
staff's "start processing" to the answer package built, with 1, 2 and 4 ``dsar worker``
processes, and where the limit moves (the workers, the machine's CPU, the database).

Real parts only, as ``bench/gather.py``: a ``redis-server`` of the run's own, real ``dsar
worker`` processes on every queue (``mail``, ``gather``, ``build``, ``maintenance``,
``default``: searches before builds), the dsar database on PostgreSQL (made afresh for each
worker count), and the ``sql`` workload: one source of kind ``sql``, the four-table
organisation of 1,000,000 people of ``bench/gather.py`` (``dsar_bench_org``, only read).

For each worker count the same batch of verified access requests is driven in a closed
loop: ``--in-flight`` cases at a time (default two per worker), the next one started as each
package is built. Measured over the steady state (after ``--warmup`` packages, until the
load starts draining): packages per minute, and p50/p95 of one case from its start to its
package built. Meanwhile a sampler reads, every 0.25 s, the CPU time of the workers, of
PostgreSQL's sessions of each database and its background processes, of Redis, of the
benchmark itself and of the rest of the machine (``/proc``), and which PostgreSQL sessions
are active and what they wait on (``pg_stat_activity``), and how each worker's job thread
spends its time: on a CPU, waiting for one, or blocked (``/proc/<pid>/schedstat``). From
these it names the limit, and gives the CPU ceiling: the packages per minute that the CPU
time per package allows (a worker runs one job at a time; the cores are shared by every
process of the run), a figure that other load on the machine hardly moves.

Goals (this benchmark's own, for a 2-core machine; the issue sets no figure): every case
built and no failed job; 2 workers >= 1.5 x the packages per minute of 1; 4 workers
>= 0.9 x those of 2 (past the cores, more workers must not make it worse).

    .venv/bin/python bench/scale.py \\
        --admin-url postgresql+psycopg://dsar:dsar@127.0.0.1:5432/postgres

A run of 200 cases at 1, 2 and 4 workers takes about 3 minutes on 2 cores. While it runs,
its workers hold connections to ``dsar_bench_org``: ``bench/erasure.py`` and
``bench/rights.py``, which copy that database as a template, wait for it to end.
"""

from __future__ import annotations

import argparse
import datetime
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.gather_harness import (  # noqa: E402
    WORKER_PEAKS_MB,
    dsar_env,
    ensure_database,
    percentile,
    redis_process,
    workers,
)
from bench.gather_measure import install_triggers, make_cases, plain_url, staff_user  # noqa: E402
from bench.gather_orgs import DATA_DIR, build_sql_org, email_of  # noqa: E402
from bench.scale_support import (  # noqa: E402
    Listener,
    Sampler,
    Window,
    drive,
    steady_window,
    wait_for_workers,
)

ROOT = Path(__file__).resolve().parent.parent
ORG = "dsar_bench_org"
GROUPS = ("workers", "postgres: dsar database", "postgres: source database",
          "postgres: background", "redis", "bench")


@dataclass
class Result:
    """One worker count's figures."""

    workers: int
    in_flight: int
    per_minute: float  # steady state
    overall_per_minute: float  # first start to last package
    steady_cases: int
    package_ms: list[float]
    review_ms: list[float]
    window: Window
    peak_mb: float
    problems: list[str]
    load: tuple[float, float]


def workers_said(count: int) -> str:
    return f"{count} worker{'s' if count > 1 else ''}"


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout


def dsar_init(env: dict[str, str]) -> None:
    """``dsar init`` (keys, migrations), its output shown only if it fails."""
    done = subprocess.run([sys.executable, "-m", "dsar", "init"], env=env, capture_output=True,
                          text=True)
    if done.returncode:
        raise SystemExit(f"dsar init failed:\n{done.stdout}{done.stderr}")


def source_org(admin_url: str) -> tuple[str, int]:
    """The organisation's URL and its number of people. Only read; built (as
    ``bench/gather.py`` does) if the database does not exist at all."""
    url = admin_url.rsplit("/", 1)[0] + "/" + ORG
    with psycopg.connect(plain_url(admin_url), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (ORG,)).fetchone()
    if not exists:
        build_sql_org(admin_url, 1_000_000)
    with psycopg.connect(plain_url(url)) as conn:
        return url, conn.execute("SELECT people FROM bench_meta").fetchone()[0]


def outcomes(app, expected: int, storage: str) -> list[str]:
    """What went wrong, read from the dsar database and RQ: packages not built, jobs
    failed, blobs not where ``--storage`` put them."""
    from sqlalchemy import func, select, text

    from dsar import pipeline
    from dsar.extensions import db
    from dsar.models import ExportPackage, PackageStatus

    with app.app_context():
        built = db.session.scalar(select(func.count(func.distinct(ExportPackage.case_id)))
                                  .where(ExportPackage.status == PackageStatus.READY))
        failed = sum(pipeline.get_queue(name).failed_job_registry.count
                     for name in pipeline.QUEUES)
        chunks = db.session.scalar(text("SELECT count(*) FROM blob_chunks"))
        db.session.remove()
        db.engine.dispose()
    problems = [f"{built} cases with a package built, {expected} expected"] \
        if built != expected else []
    if (storage == "database") != (chunks > 0):
        problems.append(f"{chunks} blob chunks in the database with --storage {storage}")
    return problems + ([f"{failed} failed jobs"] if failed else [])


def run(count: int, args, org_url: str, emails: list[str]) -> Result:
    """One worker count: a fresh dsar database, instance and Redis; the batch driven through
    ``count`` workers."""
    in_flight = args.in_flight or 2 * count
    instance = Path(tempfile.mkdtemp(prefix=f"dsar-bench-scale-{count}-"))
    for name in ("sources", "register"):
        shutil.copyfile(DATA_DIR / f"gather_sql_{name}.toml", instance / f"{name}.toml")
    database_url = ensure_database(args.admin_url, args.database, fresh=True)
    extra = {"BENCH_ORG_URL": org_url}
    if args.storage == "database":
        extra["DSAR_STORAGE_URL"] = "database:"
    with redis_process(instance) as (redis_url, redis_pid):
        env = dsar_env(instance, database_url, redis_url, **extra)
        os.environ.update(env)
        dsar_init(env)
        install_triggers(database_url)
        from dsar import create_app

        app = create_app()
        staff_id = staff_user(app)
        ids = make_cases(app, emails)
        listener = Listener(database_url)
        load = os.getloadavg()[0]
        try:
            with workers(env, count) as processes:
                wait_for_workers(redis_url, count)
                fixed = {p.pid: "workers" for p in processes}
                fixed |= {redis_pid: "redis", os.getpid(): "bench"}
                databases = {args.database: "postgres: dsar database",
                             ORG: "postgres: source database"}
                with Sampler(fixed, databases, args.admin_url,
                             {listener.backend_pid}) as sampler:
                    began = time.perf_counter()
                    cases = drive(app, listener, ids, in_flight, staff_id)
                    ended = max(c.built for c in cases.values())
        finally:
            listener.close()
        problems = outcomes(app, len(ids), args.storage)
    peak = max(WORKER_PEAKS_MB, default=0.0)
    WORKER_PEAKS_MB.clear()
    shutil.rmtree(instance, ignore_errors=True)
    start, end = steady_window(cases, args.warmup, in_flight)
    steady = [c for c in cases.values() if start < c.built <= end]
    timed = [c for c in steady if c.began >= start]
    return Result(
        workers=count, in_flight=in_flight,
        per_minute=len(steady) / (end - start) * 60,
        overall_per_minute=len(cases) / (ended - began) * 60,
        steady_cases=len(steady),
        package_ms=[(c.built - c.began) * 1000 for c in timed],
        review_ms=[(c.reviewed - c.began) * 1000 for c in timed if c.reviewed],
        window=sampler.between(start, end), peak_mb=peak, problems=problems,
        load=(load, os.getloadavg()[0]))


def worker_time(r: Result) -> tuple[float, float, float]:
    """How each worker's main thread spent the steady state (mean shares): on a CPU, waiting
    for a CPU, blocked (on the database, Redis, the disk, or waiting for a job)."""
    total = r.window.seconds * r.workers
    running, waiting = r.window.workers_running / total, r.window.workers_waiting / total
    return running, waiting, max(1 - running - waiting, 0.0)


def ceiling(r: Result) -> tuple[float, str]:
    """The packages per minute the CPU time per package allows on this machine, and what
    bounds it: each worker runs one job at a time (N x 60 s / a worker's CPU per package),
    and the machine's cores are shared by every process of the run (cores x 60 s / their CPU
    per package). CPU per package hardly moves when other processes share the machine, so
    this tells what a quiet machine would give better than the clock of a busy one."""
    per_package = r.window.cpu.get("workers", 0.0) / max(r.steady_cases, 1)
    everything = sum(r.window.cpu.get(g, 0.0) for g in GROUPS) / max(r.steady_cases, 1)
    workers = r.workers * 60 / per_package if per_package else float("inf")
    cores = (os.cpu_count() or 1) * 60 / everything if everything else float("inf")
    return (workers, "the workers") if workers < cores else (cores, "the cores")


def limit(r: Result) -> tuple[str, str]:
    """Which resource holds the throughput back at this worker count: a short name and a
    sentence (a rule of thumb on the sampled figures, which are printed beside it)."""
    w = r.window
    idle = (w.machine_idle + w.machine_iowait) / w.capacity
    running, waiting, blocked = worker_time(r)
    sessions = w.active("postgres: dsar database") + w.active("postgres: source database")
    if waiting >= 0.15 or idle < 0.10:
        shares = [(w.cpu.get(g, 0.0), g) for g in GROUPS] + [(w.others(), "other processes")]
        shares.sort(reverse=True)
        top = ", ".join(f"{g} {s / w.capacity:.0%}" for s, g in shares[:3])
        said = (f"the machine's {os.cpu_count()} cores are {1 - idle:.0%} busy ({top}); each "
                f"worker waits for a CPU {waiting:.0%} of the time")
        if shares[0][1] == "other processes":
            return "CPU, taken by other processes", f"{said}: rerun on a quiet machine"
        return "CPU", f"{said}: more workers only share the cores"
    if running >= 0.80:
        return "the workers", (f"each worker is on a CPU {running:.0%} of the time (one job "
                               f"at a time) while the machine is {idle:.0%} idle: another "
                               "worker would help")
    if sessions >= 0.3 * r.workers or w.machine_iowait / w.capacity >= 0.10:
        return "the database", (f"{sessions:.1f} PostgreSQL sessions active on average for "
                                f"{workers_said(r.workers)}, I/O wait "
                                f"{w.machine_iowait / w.capacity:.0%}; the workers are blocked "
                                f"{blocked:.0%} of the time")
    return "hand-offs", (f"the workers are blocked {blocked:.0%} of the time while neither the "
                         f"CPU ({idle:.0%} idle) nor the database ({sessions:.1f} sessions "
                         "active) is busy: Redis, commits, the next job; more cases in flight "
                         "would show more")


def report(r: Result) -> None:
    """One worker count's figures."""
    w = r.window
    print(f"\n== {workers_said(r.workers)}, {r.in_flight} cases in "
          f"flight; load average {r.load[0]:.1f} at the start, {r.load[1]:.1f} at the end")
    print(f"   steady state: {r.steady_cases} packages in {w.seconds:.1f} s: "
          f"{r.per_minute:5.0f} per minute (first start to last package: "
          f"{r.overall_per_minute:.0f} per minute)")
    for name, values in (("start -> package built", r.package_ms),
                         ("start -> review", r.review_ms)):
        if values:
            print(f"   {name:23} p50 {percentile(values, 50):7.1f} ms   p95 "
                  f"{percentile(values, 95):7.1f} ms   ({len(values)} cases)")
    print(f"   CPU, share of the machine ({os.cpu_count()} cores) and per package:")
    per = 1000 / max(r.steady_cases, 1)
    rows = [(g, w.cpu.get(g, 0.0)) for g in GROUPS] + [("other processes", w.others())]
    for name, seconds in rows:
        print(f"      {name:28} {seconds / w.capacity:5.1%}  {seconds * per:6.1f} ms")
    print(f"      {'idle':28} {w.machine_idle / w.capacity:5.1%}")
    print(f"      {'waiting for I/O':28} {w.machine_iowait / w.capacity:5.1%}")
    bound, by = ceiling(r)
    print(f"   CPU ceiling: {bound:.0f} per minute, set by {by} (from the CPU per package of "
          "this run's processes; what a quiet machine would allow)")
    running, waiting, blocked = worker_time(r)
    print(f"   each worker: on a CPU {running:.0%}, waiting for a CPU {waiting:.0%}, blocked "
          f"{blocked:.0%} (database, Redis, disk, or no job); peak memory {r.peak_mb:.0f} MB")
    for group in ("postgres: dsar database", "postgres: source database"):
        waits = sorted(((v, what) for (g, what), v in w.activity.items() if g == group),
                       reverse=True)
        detail = ", ".join(f"{what} {v:.2f}" for v, what in waits[:4]) or "none seen"
        print(f"   {group[10:]}: {w.active(group):.2f} sessions active on average ({detail})")
    print(f"   limit: {': '.join(limit(r))}")
    if w.others() / w.capacity > 0.10:
        print(f"   WARNING: other processes took {w.others() / w.capacity:.0%} of the machine "
              "during the steady state: these figures are disturbed")
    for problem in r.problems:
        print(f"   FAIL: {problem}")


def goals(results: list[Result]) -> bool:
    """The goals, printed PASS/FAIL; True if all pass."""
    by = {r.workers: r for r in results}
    checks = [(f"{workers_said(r.workers)}: every case built, no failed job", not r.problems)
              for r in results]
    if 1 in by and 2 in by:
        ratio = by[2].per_minute / by[1].per_minute
        checks.append((f"2 workers >= 1.5 x 1 worker: x {ratio:.2f}", ratio >= 1.5))
    if 2 in by and 4 in by:
        ratio = by[4].per_minute / by[2].per_minute
        checks.append((f"4 workers >= 0.9 x 2 workers: x {ratio:.2f}", ratio >= 0.9))
    print("\n== goals")
    for text, ok in checks:
        print(f"   {text}  {'PASS' if ok else 'FAIL'}")
    return all(ok for _, ok in checks)


def summary(results: list[Result]) -> None:
    """The table of the worker counts (Markdown, for bench/README.md)."""
    print("\n| workers | in flight | per min | p50 ms | p95 ms | workers CPU | postgres CPU "
          "| redis | bench | others | idle | worker waits for a CPU | CPU ceiling | limit |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        w = r.window
        pg = sum(w.cpu.get(g, 0.0) for g in GROUPS if g.startswith("postgres"))
        share = [w.cpu.get("workers", 0.0), pg, w.cpu.get("redis", 0.0),
                 w.cpu.get("bench", 0.0), w.others(), w.machine_idle + w.machine_iowait]
        cells = " | ".join(f"{s / w.capacity:.0%}" for s in share)
        print(f"| {r.workers} | {r.in_flight} | {r.per_minute:.0f} | "
              f"{percentile(r.package_ms, 50):.0f} | {percentile(r.package_ms, 95):.0f} | "
              f"{cells} | {worker_time(r)[1]:.0%} | {ceiling(r)[0]:.0f} | {limit(r)[0]} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--admin-url",
                        default="postgresql+psycopg://dsar:dsar@127.0.0.1:5432/postgres")
    parser.add_argument("--workers", default="1,2,4", help="worker counts, comma-separated")
    parser.add_argument("--cases", type=int, default=200, help="cases per worker count")
    parser.add_argument("--warmup", type=int, default=20,
                        help="packages built before the steady state starts")
    parser.add_argument("--in-flight", type=int, default=0,
                        help="cases in flight at once (default: two per worker)")
    parser.add_argument("--storage", choices=["local", "database"], default="local",
                        help="where the blobs go: the instance folder, or PostgreSQL")
    parser.add_argument("--database", default="dsar_bench_scale",
                        help="the dsar database (dropped and created again for each count)")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    run_began = time.perf_counter()
    dirty = [line[3:] for line in git("status", "--porcelain", "--", "dsar", "workers")
             .splitlines()]
    org_url, people = source_org(args.admin_url)
    with psycopg.connect(plain_url(args.admin_url)) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
    redis_version = subprocess.run(["redis-server", "--version"], capture_output=True,
                                   text=True).stdout.split()[2].removeprefix("v=")
    print(f"dsar scale benchmark, {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, "
          f"commit {git('rev-parse', '--short', 'HEAD').strip()}, {len(dirty)} uncommitted "
          f"changes under dsar/ and workers/{': ' + ', '.join(dirty) if dirty else ''}")
    print(f"   {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; PostgreSQL "
          f"{version}, Redis {redis_version}; sql source {ORG}, {people:,} people; "
          f"{args.cases} cases per worker count, storage {args.storage}", flush=True)
    rng = random.Random(17)
    emails = [email_of(i) for i in rng.sample(range(1, people + 1), args.cases)]
    results = []
    for count in counts:
        results.append(run(count, args, org_url, emails))
        report(results[-1])
    summary(results)
    ok = goals(results)
    print(f"\n   the whole run took {time.perf_counter() - run_began:.0f} s")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
