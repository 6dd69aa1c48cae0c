"""Erasure end to end, through the real queue and real workers: from staff's "start
processing" of an erasure case (the search; the plan approved at once by the bench, as a DPO
would) to every source executed and the plan verified, and on to the certificate built
(issue 13).

Real parts only: a ``redis-server`` of its own, two ``dsar worker`` processes on every queue as
in production, the dsar database on PostgreSQL 15, an SMTP server in this process (aiosmtpd)
that receives the Art. 19 notices, and the ``sql`` source of ``bench/gather.py``: 1,000,000
people in four tables, users anonymised, enrolments and support tickets deleted, invoices
retained (Code de commerce L123-22). Erasure deletes rows: each run works on a fresh copy of
``dsar_bench_org`` (``dsar_bench_erasure_org``), never on the gather benchmark's database.

Measured: p50 and p95 one at a time after a warm-up (each case starts once the previous
certificate is built), erasures per minute in a burst with two workers, the certificate's
build time apart (plan verified -> ready package row), each worker's peak memory. Goals:
start -> verified p50 < 0.4 s and p95 < 0.6 s; certificate p50 < 1.5 s; worker < 300 MB.
Afterwards every erased person is checked in the copy: account anonymised, enrolments and
tickets gone, invoices unchanged, nobody else's rows touched.

    .venv/bin/python bench/erasure.py \\
        --admin-url postgresql+psycopg://dsar:dsar@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import erasure_org  # noqa: E402
from bench.erasure_measure import (  # noqa: E402
    Events,
    Figures,
    dpo_user,
    install_triggers,
    make_cases,
    one_case,
    run_burst,
)
from bench.erasure_report import job_steps, report  # noqa: E402
from bench.gather_harness import (  # noqa: E402
    WORKER_PEAKS_MB,
    dsar_env,
    ensure_database,
    free_port,
    redis_server,
    workers,
)
from bench.gather_measure import cpu_seconds  # noqa: E402
from bench.gather_orgs import email_of  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SOURCE = "platform"


class Sink:
    """An SMTP server's handler (aiosmtpd) that counts the messages per recipient address."""

    def __init__(self) -> None:
        self.received: Counter[str] = Counter()
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        with self._lock:
            self.received.update(envelope.rcpt_tos)
        return "250 Message accepted"


@contextmanager
def smtp_sink():
    """A real SMTP server in this process, on a free port: yields (port, its Sink)."""
    from aiosmtpd.controller import Controller

    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, sink
    finally:
        controller.stop()


def measure(app, events: Events, emails: list[str], args, pids: list[int],
            timeout: float = 120) -> Figures:
    """``args.cases`` cases one at a time after ``args.warmup`` (nothing else in flight), then
    ``args.burst`` started at once."""
    figures = Figures(burst=args.burst)
    staff_id = dpo_user(app)
    load = os.getloadavg()[0]
    cpu = cpu_seconds(pids)
    for index, case_id in enumerate(make_cases(app, emails[: args.warmup + args.cases])):
        if index == args.warmup:
            cpu = cpu_seconds(pids)
        line = one_case(app, events, case_id, staff_id, timeout, figures)
        if index >= args.warmup and line.certificate:
            figures.timed[case_id] = line
    figures.cpu_ms_per_case = (cpu_seconds(pids) - cpu) / max(args.cases, 1) * 1000
    figures.steps = job_steps(app, figures, SOURCE)
    if args.burst:
        batch = make_cases(app, emails[args.warmup + args.cases:])
        cpu = cpu_seconds(pids)
        began, verified, certified = run_burst(app, events, batch, staff_id, timeout)
        figures.verified_per_minute = len(batch) / (verified - began) * 60
        figures.certificates_per_minute = len(batch) / (certified - began) * 60
        figures.burst_cpu_ms_per_case = (cpu_seconds(pids) - cpu) / len(batch) * 1000
    figures.load = (load, os.getloadavg()[0])
    return figures


def dsar_outcomes(app) -> dict[str, int]:
    """What the dsar database and RQ say of the cases: plans and notices by status, ready
    certificates, and what had to be retried (should be nothing)."""
    from sqlalchemy import func, select

    from dsar import pipeline
    from dsar.extensions import db
    from dsar.models import (
        ChangePlan,
        ChangeStep,
        ExportPackage,
        OutboundEmail,
        PackageStatus,
        RecipientNotice,
    )

    with app.app_context():
        counts = {f"plans {s}": n for s, n in db.session.execute(
            select(ChangePlan.status, func.count()).group_by(ChangePlan.status))}
        counts.update({f"notices {s}": n for s, n in db.session.execute(
            select(RecipientNotice.status, func.count()).group_by(RecipientNotice.status))})
        counts["certificates ready"] = db.session.scalar(select(func.count()).where(
            ExportPackage.status == PackageStatus.READY))
        # Anything that went wrong on the way and was retried or recovered.
        counts["steps claimed more than once"] = db.session.scalar(
            select(func.count()).where(ChangeStep.attempts > 1))
        counts["e-mails sent after a retry"] = db.session.scalar(
            select(func.count()).where(OutboundEmail.attempts > 1))
        counts["failed RQ jobs"] = sum(pipeline.get_queue(name).failed_job_registry.count
                                       for name in pipeline.QUEUES)
        db.session.remove()
    return counts


def dsar_init(env: dict[str, str]) -> None:
    """``dsar init`` (keys, migrations), its log shown only if it fails."""
    done = subprocess.run([sys.executable, "-m", "dsar", "init"], env=env, capture_output=True,
                          text=True)
    if done.returncode:
        raise SystemExit(f"dsar init failed:\n{done.stdout}{done.stderr}")


def git(*args: str) -> str:
    """Git's answer, as it printed it (a porcelain status line starts with a space)."""
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--admin-url",
                        default="postgresql+psycopg://dsar:dsar@127.0.0.1:5432/postgres")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--burst", type=int, default=300, help="cases started at once")
    parser.add_argument("--keep-copy", action="store_true",
                        help=f"keep {erasure_org.COPY} and the instance folder after the run "
                             "(for inspection)")
    args = parser.parse_args()
    run_began = time.perf_counter()
    dirty = [line[3:] for line in git("status", "--porcelain", "--", "dsar", "workers")
             .splitlines()]
    commit = git("rev-parse", "--short", "HEAD").strip()
    print(f"dsar erasure benchmark, {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, "
          f"commit {commit}, {len(dirty)} uncommitted changes under dsar/ and workers/"
          f"{': ' + ', '.join(dirty) if dirty else ''}")
    org_url, seconds = erasure_org.copy_org(args.admin_url)
    people = erasure_org.people_count(org_url)
    print(f"   {people:,} people, {args.workers} workers, {os.cpu_count()} CPUs, load "
          f"average {os.getloadavg()[0]:.1f}; {erasure_org.COPY} made from "
          f"{erasure_org.TEMPLATE} in {seconds:.1f} s")
    ids = erasure_org.people_of(org_url, args.warmup + args.cases + args.burst)
    before = erasure_org.snapshot(org_url, ids)
    print(f"   to erase: {erasure_org.summary(before)}", flush=True)
    instance = Path(tempfile.mkdtemp(prefix="dsar-bench-erasure-"))
    erasure_org.write_config(instance)
    database_url = ensure_database(args.admin_url, "dsar_bench_erasure", fresh=True)
    with redis_server(instance) as redis_url, smtp_sink() as (smtp_port, sink):
        env = dsar_env(instance, database_url, redis_url, BENCH_ORG_URL=org_url,
                       DSAR_SMTP_HOST="127.0.0.1", DSAR_SMTP_PORT=str(smtp_port))
        os.environ.update(env)
        dsar_init(env)
        install_triggers(database_url)
        from dsar import create_app

        app = create_app()
        events = Events(database_url)
        try:
            with workers(env, args.workers) as processes:
                figures = measure(app, events, [email_of(i) for i in ids], args,
                                  [p.pid for p in processes])
        finally:
            events.close()
        outcomes = dsar_outcomes(app)
        with app.app_context():
            from dsar.extensions import db

            db.engine.dispose()
    peak = max(WORKER_PEAKS_MB)
    ok = report(f"erasure, sql source alone, PostgreSQL, {people:,} people, invoices "
                "retained", figures, peak)
    print(f"   dsar: {', '.join(f'{k} {v}' for k, v in sorted(outcomes.items()))}; SMTP sink: "
          f"{', '.join(f'{k} {v}' for k, v in sorted(sink.received.items()))}")
    problems = erasure_org.check_erased(org_url, ids, before)
    wanted = {"plans verified": len(ids), "certificates ready": len(ids),
              "notices notified": 2 * len(ids), "failed RQ jobs": 0}
    problems += [f"dsar: {name} {outcomes.get(name, 0)}, {count} expected"
                 for name, count in wanted.items() if outcomes.get(name, 0) != count]
    problems += [f"SMTP sink: {sink.received[a]} notices to {a}, {len(ids)} expected"
                 for a in erasure_org.NOTIFIED if sink.received[a] != len(ids)]
    if not erasure_org.template_untouched(args.admin_url):
        problems.append(f"{erasure_org.TEMPLATE} has anonymised users: it was erased from")
    for problem in problems[:20]:
        print(f"   FAIL: {problem}")
    print(f"   the source copy after the run: {len(ids)} people anonymised, their enrolments "
          f"and tickets gone, invoices unchanged, nobody else touched; {erasure_org.TEMPLATE} "
          f"untouched: {'PASS' if not problems else 'FAIL'}")
    if not args.keep_copy:
        erasure_org.drop_copy(args.admin_url)
        shutil.rmtree(instance, ignore_errors=True)
    print(f"   the whole run took {time.perf_counter() - run_began:.0f} s")
    sys.exit(0 if ok and not problems else 1)


if __name__ == "__main__":
    main()
