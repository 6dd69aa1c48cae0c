"""Restriction and objection to direct marketing end to end, through the real queue and real
workers (issue 14), on the ``sql`` organisation of ``bench/gather.py`` (1,000,000 people, a
fresh copy of ``dsar_bench_org`` each run, given two columns: ``processing_restricted`` and
``marketing_optin``).

What a person waits for:
- **an objection to direct marketing**: from the moment they confirm their address (the
  confirmation page's own call, ``confirm_address``) to the answer letter released on their
  status page, with no staff action: search, plan approved by the system, unsubscribed in the
  source, verified, suppression list, letter built and released. Goal (the issue): < 60 s;
  measured p50/p95 one at a time, then a burst of confirmations at once.
- **a restriction**: from the DPO's approval to the restriction verified in the source, and on
  to the letter built (the Art. 19 notices e-mailed to the SMTP sink in between). Goals as for
  an erasure: approved -> verified p95 < 0.6 s; letter < 1.5 s after.
Afterwards the copy is checked: exactly the people objecting are unsubscribed, exactly the
people restricted are flagged, nobody else touched.

    .venv/bin/python bench/rights.py \\
        --admin-url postgresql+psycopg://dsar:dsar@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import erasure_org  # noqa: E402
from bench.erasure import dsar_init, git, smtp_sink  # noqa: E402
from bench.erasure_measure import CHANNEL, Events, approve, dpo_user, install_triggers  # noqa: E402
from bench.gather_harness import (  # noqa: E402
    WORKER_PEAKS_MB,
    dsar_env,
    ensure_database,
    percentile,
    redis_server,
    workers,
)
from bench.gather_measure import make_cases, plain_url, start  # noqa: E402
from bench.gather_orgs import DATA_DIR, _plain, email_of  # noqa: E402

GOALS = {"marketing_p95": 60.0, "restriction_p95": 0.6, "letter_p50": 1.5, "memory_mb": 300}
#: A package released (the letter on the person's status page): notified like the others.
RELEASED = f"""
CREATE OR REPLACE FUNCTION dsar_bench_rights_released() RETURNS trigger AS $$
BEGIN PERFORM pg_notify('{CHANNEL}', 'released:' || NEW.case_id); RETURN NEW; END $$
LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS dsar_bench_rights_released ON export_packages;
CREATE TRIGGER dsar_bench_rights_released AFTER UPDATE OF status ON export_packages
    FOR EACH ROW WHEN (NEW.status = 'released' AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION dsar_bench_rights_released();
"""


def prepare_copy(admin_url: str) -> str:
    """The fresh copy of the organisation with the two columns; its URL."""
    url, _ = erasure_org.copy_org(admin_url)
    with psycopg.connect(_plain(url), autocommit=True) as conn:
        conn.execute("ALTER TABLE users ADD COLUMN marketing_optin boolean NOT NULL DEFAULT true,"
                     " ADD COLUMN processing_restricted boolean NOT NULL DEFAULT false")
    return url


def marketing_cases(app, emails: list[str]) -> list[int]:
    """Objections to direct marketing as the portal files them: submitted, not confirmed."""
    from dsar.cases.workflow import create_case
    from dsar.extensions import db
    from dsar.models import CaseKind

    with app.app_context():
        ids = [create_case(kind=CaseKind.OBJECTION, requester_name="Bench", language="fr",
                           requester_email=email,
                           details={"objection_target": "direct_marketing"}).id
               for email in emails]
        db.session.commit()
        db.session.remove()
    return ids


def confirm(app, case_id: int) -> None:
    """The person confirms their address (what the confirmation page's POST calls)."""
    from dsar.cases.requester_actions import confirm_address
    from dsar.extensions import db
    from dsar.models import Case

    with app.app_context():
        confirm_address(db.session.get(Case, case_id))
        db.session.remove()


def time_marketing(app, events: Events, cases: list[int], burst: list[int],
                   timeout: float) -> tuple[list[float], float]:
    """Seconds from confirmation to letter released, one at a time; then the burst's
    objections released per minute."""
    waits = []
    for case_id in cases:
        began = time.perf_counter()
        confirm(app, case_id)
        waits.append(events.wait("released", case_id, timeout) - began)
    if not burst:
        return waits, 0.0
    began = time.perf_counter()
    for case_id in burst:
        confirm(app, case_id)
    last = max(events.wait("released", c, timeout * 5) for c in burst)
    return waits, len(burst) / (last - began) * 60


def time_restrictions(app, events: Events, cases: list[int], staff_id: int,
                      timeout: float) -> tuple[list[float], list[float]]:
    """Per case: seconds from the DPO's approval to the restriction verified, and from then
    to the letter built."""
    verified, letters = [], []
    for case_id in cases:
        start(app, case_id, staff_id)
        events.wait("plan", case_id, timeout)
        approving = time.perf_counter()
        approve(app, case_id, staff_id)
        end, at = events.wait_end(case_id, timeout)
        if end != "verified":
            raise SystemExit(f"case {case_id}: the verification found the flag missing")
        verified.append(at - approving)
        letters.append(events.wait("package", case_id, timeout) - at)
    return verified, letters


def check_copy(url: str, objecting: list[int], restricted: list[int]) -> list[str]:
    """Exactly these people changed, and nobody else."""
    problems = []
    with psycopg.connect(_plain(url)) as conn:
        off = {r[0] for r in conn.execute("SELECT id FROM users WHERE NOT marketing_optin")}
        flagged = {r[0] for r in conn.execute("SELECT id FROM users WHERE processing_restricted")}
    if off != set(objecting):
        problems.append(f"unsubscribed: {len(off)} people, {len(objecting)} objected")
    if flagged != set(restricted):
        problems.append(f"restricted: {len(flagged)} people, {len(restricted)} asked")
    return problems


def line(name: str, values: list[float], goal: str | None = None, unit: float = 1000,
         suffix: str = "ms") -> bool:
    """Print p50 and p95 against the goal (seconds); True when met."""
    ok = True
    for q in (50, 95):
        value = percentile(values, q)
        wanted = GOALS.get(f"{goal}_p{q}") if goal else None
        verdict = ""
        if wanted is not None:
            ok &= value < wanted
            verdict = (f"   goal < {wanted * unit:g} {suffix}: "
                       f"{'PASS' if value < wanted else 'FAIL'}")
        print(f"   {name:44} p{q}: {value * unit:8.1f} {suffix}{verdict}")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--admin-url",
                        default="postgresql+psycopg://dsar:dsar@127.0.0.1:5432/postgres")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cases", type=int, default=40, help="each kind, one at a time")
    parser.add_argument("--burst", type=int, default=200, help="objections confirmed at once")
    args = parser.parse_args()
    run_began = time.perf_counter()
    commit = git("rev-parse", "--short", "HEAD").strip()
    dirty = git("status", "--porcelain", "--", "dsar", "workers").splitlines()
    print(f"dsar rights benchmark, {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, "
          f"commit {commit}, {len(dirty)} uncommitted changes under dsar/ and workers/")
    org_url = prepare_copy(args.admin_url)
    people = erasure_org.people_count(org_url)
    ids = erasure_org.people_of(org_url, 2 * args.cases + args.burst + 2)
    objecting, restricted = ids[:args.cases + args.burst + 1], ids[args.cases + args.burst + 1:]
    print(f"   {people:,} people, {args.workers} workers, {os.cpu_count()} CPUs; "
          f"{len(objecting)} objections to marketing, {len(restricted)} restrictions", flush=True)
    instance = Path(tempfile.mkdtemp(prefix="dsar-bench-rights-"))
    shutil.copyfile(DATA_DIR / "rights_sql_sources.toml", instance / "sources.toml")
    shutil.copyfile(DATA_DIR / "erasure_sql_register.toml", instance / "register.toml")
    database_url = ensure_database(args.admin_url, "dsar_bench_rights", fresh=True)
    with redis_server(instance) as redis_url, smtp_sink() as (smtp_port, _sink):
        env = dsar_env(instance, database_url, redis_url, BENCH_ORG_URL=org_url,
                       DSAR_SMTP_HOST="127.0.0.1", DSAR_SMTP_PORT=str(smtp_port))
        os.environ.update(env)
        dsar_init(env)
        install_triggers(database_url)
        with psycopg.connect(plain_url(database_url), autocommit=True) as conn:
            conn.execute(RELEASED)
        from dsar import create_app

        app = create_app()
        events = Events(database_url)
        staff_id = dpo_user(app)
        try:
            with workers(env, args.workers):
                warm = marketing_cases(app, [email_of(objecting[0])])
                time_marketing(app, events, warm, [], 120)
                cases = marketing_cases(app, [email_of(i) for i in objecting[1:]])
                waits, per_minute = time_marketing(app, events, cases[:args.cases],
                                                   cases[args.cases:], 120)
                restriction_cases = make_cases(app, [email_of(i) for i in restricted],
                                               "restriction",
                                               {"restriction_ground": "accuracy_contested"})
                verified, letters = time_restrictions(app, events, restriction_cases,
                                                      staff_id, 120)
        finally:
            events.close()
        with app.app_context():
            from dsar.extensions import db

            db.engine.dispose()
    print(f"\n== objection to direct marketing and restriction, sql source, PostgreSQL, "
          f"{people:,} people")
    ok = line("confirmed -> letter released (marketing)", waits, "marketing")
    print(f"   burst: {args.burst} confirmations at once, two workers: {per_minute:5.0f} "
          "objections honoured per minute")
    ok &= line("DPO approves -> restriction verified", verified, "restriction")
    ok &= line("restriction verified -> letter built", letters, "letter")
    peak = max(WORKER_PEAKS_MB)
    ok &= peak < GOALS["memory_mb"]
    print(f"   peak memory of a worker: {peak:6.0f} MB   goal < {GOALS['memory_mb']} MB: "
          f"{'PASS' if peak < GOALS['memory_mb'] else 'FAIL'}")
    problems = check_copy(org_url, objecting, restricted)
    for problem in problems:
        print(f"   FAIL: {problem}")
    print(f"   the source copy after the run: exactly the objecting people unsubscribed, exactly "
          f"the restricted ones flagged, nobody else: {'PASS' if not problems else 'FAIL'}")
    erasure_org.drop_copy(args.admin_url)
    shutil.rmtree(instance, ignore_errors=True)
    print(f"   the whole run took {time.perf_counter() - run_began:.0f} s")
    sys.exit(0 if ok and not problems else 1)


if __name__ == "__main__":
    main()
