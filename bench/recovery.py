"""Exactly once under faults (issue 12): the time from a fault until every case is back on
track (in review, with exactly one answer package), and whether any work was done twice.

The demo organisation (six sources, its CRM and newsletter APIs), SQLite in a temporary
instance, a private redis-server, two real ``dsar worker`` processes and one ``dsar scheduler``
with the default settings (the scheduler queues the sweep of lost work). For each fault in
turn, on a fresh instance and a fresh Redis: a handful of verified access cases of demo people
are started by staff, then

- ``kill-search``: a worker SIGKILLed while it runs a search (its row ``running``), a
  replacement started right after, as a supervisor would;
- ``kill-build``: the same while it builds an answer package;
- ``flushall``: ``FLUSHALL`` while searches run and more wait in the queues;
- ``redis-restart``: redis-server stopped and started again on its port (empty: no
  persistence) while searches run.

Goal: every fault recovered within 60 s of the fault, nothing done twice. Exit status 0 only
if every fault meets it.

    .venv/bin/python bench/recovery.py [--cases 5] [--faults kill-search,flushall] [--keep]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.gather_harness import dsar_env  # noqa: E402
from bench.gather_measure import make_cases, staff_user, start  # noqa: E402
from bench.recovery_checks import (  # noqa: E402
    Duplicates,
    Recovery,
    duplicates,
    engine_for,
    wait_recovered,
)
from bench.recovery_faults import (  # noqa: E402
    DELAYED,
    FAULTS,
    STRIKE,
    Injected,
    NoMoment,
    Target,
)
from bench.recovery_harness import DemoOrg, Fleet, RedisServer, start_demo_org  # noqa: E402

GOAL_SECONDS = 60
SETTINGS = ("REQUEUE_GRACE_SECONDS", "WORKER_HEARTBEAT_SECONDS", "SWEEP_INTERVAL_SECONDS")
#: Log lines worth showing after a trial: what the sweep did, and what went wrong.
NOTABLE = re.compile(r"\b(WARNING|ERROR|CRITICAL)\b|re-enqueued")
SWEPT = re.compile(r"job \S+: (?P<state>\w+), queued again")
STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ ")
HEX = re.compile(r"\b[0-9a-f]{32}\b")


@dataclass
class Trial:
    fault: str
    cases: int = 0
    injected: Injected | None = None
    recovery: Recovery = field(default_factory=Recovery)
    dups: Duplicates = field(default_factory=Duplicates)
    exits: list[str] = field(default_factory=list)
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return (self.error is None and self.injected is not None and self.injected.hit
                and self.recovery.recovered_at is not None
                and self.recovery.recovered_at < GOAL_SECONDS and self.dups.total == 0
                and not self.exits)


def git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return done.stdout.strip()


def notable_lines(logdir: Path, limit: int = 12) -> list[str]:
    """What the processes' logs say worth showing: the jobs the sweep queued again (counted
    by what it found of them), then each distinct warning or error once, with how many
    times it came (time, worker name and job digests left out), and how many tracebacks."""
    requeued: Counter = Counter()
    seen: Counter = Counter()
    tracebacks = 0
    for log in sorted(logdir.glob("*.log")):
        role = re.sub(r"-[0-9]+$", "", log.stem)
        for line in log.read_text(errors="replace").splitlines():
            tracebacks += line.startswith("Traceback")
            if not STAMP.match(line):
                continue  # a traceback's body, a banner
            line = STAMP.sub("", line)
            if found := SWEPT.search(line):
                requeued[found["state"]] += 1
            elif NOTABLE.search(line):
                seen[f"{role}: {HEX.sub('…', line)[:150]}"] += 1
    out = []
    if requeued:
        out.append(f"the sweep queued again {sum(requeued.values())} job(s): "
                   + ", ".join(f"{n} {state}" for state, n in requeued.most_common()))
    lines = [f"{line}{f'  (×{n})' if n > 1 else ''}" for line, n in seen.items()]
    out.extend(lines if len(lines) <= limit else [*lines[:limit], f"… {len(lines) - limit} more"])
    if tracebacks:
        out.append(f"{tracebacks} traceback(s) in the logs")
    return out


def run_trial(fault: str, index: int, args, root: Path, org: DemoOrg) -> Trial:
    trial = Trial(fault)
    instance = root / fault
    org.install(instance)
    redis = RedisServer(instance / "redis")
    redis.start()
    database_url = f"sqlite:///{instance / 'dsar.sqlite3'}"
    env = dsar_env(instance, database_url, redis.url, **org.tokens,
                   DSAR_LOG_LEVEL="INFO", PYTHONUNBUFFERED="1")
    fleet = Fleet(env, instance / "logs", redis)
    engine = engine_for(database_url)
    try:
        for command in (["init"], ["sources", "index"]):  # as the periodic job keeps them
            subprocess.run([sys.executable, "-m", "dsar", *command], env=env, check=True,
                           capture_output=True)
        # This process files and starts the cases: the same instance, quieter logs.
        os.environ.update({**env, "DSAR_LOG_LEVEL": "WARNING"})
        from dsar import create_app

        app = create_app()
        if index == 0:
            print("settings: " + ", ".join(f"{name} {app.config.get(name, 'not defined')}"
                                           for name in SETTINGS), flush=True)
        workers = [fleet.start_worker() for _ in range(args.workers)]
        fleet.start_scheduler()
        fleet.wait_registered(workers)
        case_ids = make_cases(app, org.emails(args.cases, skip=index * args.cases))
        trial.cases = len(case_ids)
        staff_id = staff_user(app)
        org.crm.delay = args.crm_delay if fault in DELAYED else 0.0
        for case_id in case_ids:
            start(app, case_id, staff_id)
        target = Target(fleet, redis, engine, case_ids, args.moment, args.redis_down)
        try:
            trial.injected = STRIKE[fault](target)
        finally:
            org.crm.delay = 0.0
        trial.notes.append(f"just before the fault: {trial.injected.before}")
        trial.recovery = wait_recovered(engine, case_ids, trial.injected.at, args.timeout)
        if trial.recovery.recovered_at is None:
            trial.notes.append(f"not recovered after {args.timeout:.0f} s: "
                               f"{trial.recovery.last.summary()}")
        # Anything still running twice (a second build, a second fan-in) ends now.
        time.sleep(args.settle)
        trial.dups = duplicates(engine, case_ids)
        with app.app_context():
            from dsar.extensions import db

            db.engine.dispose()
    except (NoMoment, RuntimeError) as exc:
        trial.error = str(exc)
    except subprocess.CalledProcessError as exc:
        trial.error = f"{' '.join(exc.cmd[1:])} failed: {exc.stderr.decode()[-1500:]}"
    except Exception as exc:  # reported with the fault; the next faults still run
        trial.error = f"{type(exc).__name__}: {exc}"
    finally:
        trial.exits = fleet.unexpected_exits()
        trial.notes.extend(fleet.stop())
        redis.stop()
        engine.dispose()
    trial.notes.extend(notable_lines(instance / "logs"))
    return trial


def report(trials: list[Trial]) -> None:
    print(f"\n{'fault':14} {'hit':>4} {'recovered in':>13} {'review in':>10} {'cases':>6} "
          f"{'duplicates':>11} {'exits':>6}  verdict (goal < {GOAL_SECONDS} s, none twice)")
    for t in trials:
        rec = t.recovery
        recovered = f"{rec.recovered_at:.1f} s" if rec.recovered_at is not None else "—"
        review = f"{rec.review_at:.1f} s" if rec.review_at is not None else "—"
        hit = "—" if t.injected is None else ("yes" if t.injected.hit else "NO")
        print(f"{t.fault:14} {hit:>4} {recovered:>13} {review:>10} {t.cases:>6} "
              f"{t.dups.total:>11} {len(t.exits):>6}  {'PASS' if t.passed else 'FAIL'}")
    for t in trials:
        print(f"\n== {t.fault}")
        if t.error:
            print(f"   error: {t.error}")
        if t.injected:
            print(f"   fault: {t.injected.what}")
        for line in [*t.dups.details, *t.dups.missing, *t.exits, *t.notes]:
            print(f"   {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=5, help="access cases per fault")
    parser.add_argument("--faults", default=",".join(FAULTS),
                        help=f"comma-separated, among {', '.join(FAULTS)}")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--people", type=int, default=300,
                        help="population of the demo organisation")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=240,
                        help="give up on a fault's recovery after this many seconds")
    parser.add_argument("--settle", type=float, default=20,
                        help="seconds to wait after recovery before looking for duplicates")
    parser.add_argument("--moment", type=float, default=60,
                        help="give up waiting for the moment to strike after this many seconds")
    parser.add_argument("--crm-delay", type=float, default=2.0,
                        help="seconds the CRM holds each request until the fault "
                             "(kill-search, flushall, redis-restart)")
    parser.add_argument("--redis-down", type=float, default=3.0,
                        help="seconds between redis-server's stop and its start")
    args = parser.parse_args()
    faults = [f.strip() for f in args.faults.split(",") if f.strip()]
    unknown = [f for f in faults if f not in FAULTS]
    if unknown or not faults:
        parser.error(f"--faults: choose among {', '.join(FAULTS)}")
    changed = git("status", "--porcelain", "--", "dsar", "workers")
    print(f"dsar recovery benchmark, {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, commit "
          f"{git('rev-parse', '--short', 'HEAD') or '?'}"
          + (f" + {len(changed.splitlines())} uncommitted file(s) in dsar/ or workers/"
             if changed else ""))
    print(f"{args.cases} cases per fault, {args.workers} workers, demo organisation of "
          f"{args.people} people, SQLite; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}", flush=True)
    root = Path(tempfile.mkdtemp(prefix="dsar-bench-recovery-"))
    began = time.monotonic()
    trials = []
    org = start_demo_org(root, args.people)
    try:
        for index, fault in enumerate(faults):
            print(f"… {fault}", flush=True)
            trials.append(run_trial(fault, index, args, root, org))
    finally:
        org.close()
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    report(trials)
    ok = all(t.passed for t in trials)
    print(f"\nOverall: {'PASS' if ok else 'FAIL'} ({time.monotonic() - began:.0f} s)")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
