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
import html
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import event, insert, select, text

from dsar import create_app
from dsar.core.keys import create_master_key
from dsar.core.tokens import REFERENCE_ALPHABET
from dsar.deadlines import due_date, paris_date
from dsar.extensions import db
from dsar.models import CLOSED_STATUSES, Case, CaseKind, CaseStatus, StaffRole, StaffUser

GOAL_MS = 100.0
PASSWORD = "bench password, not a secret"
AGENT_EMAIL = "bench.agent@staff.example"
CSRF_PATTERN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|'
                          r'name="csrf_token" value="([^"]+)"')
NEXT_PAGE = re.compile(r'id="next-page" href="([^"]+)"')
ROW = re.compile(r'data-reference="([^"]+)"')

# Kinds, weighted: access first (weights in percent).
KIND_WEIGHTS = {
    CaseKind.ACCESS: 45, CaseKind.ERASURE: 20, CaseKind.OBJECTION: 10,
    CaseKind.RECTIFICATION: 8, CaseKind.PORTABILITY: 7, CaseKind.RESTRICTION: 5,
    CaseKind.POSTMORTEM_DIRECTIVE: 3, CaseKind.POSTMORTEM_EXECUTION: 2,
}
# Among open cases (``submitted`` only in the first days: unconfirmed requests expire).
OPEN_WEIGHTS = {
    CaseStatus.CONFIRMED: 30, CaseStatus.NEEDS_INFO: 10, CaseStatus.VERIFIED: 15,
    CaseStatus.IN_PROGRESS: 30, CaseStatus.REVIEW: 15,
}
CLOSED_WEIGHTS = {
    CaseStatus.COMPLETED: 75, CaseStatus.REJECTED: 7, CaseStatus.WITHDRAWN: 8,
    CaseStatus.EXPIRED: 10,
}
DOMAINS = ["gmail.com", "orange.fr", "free.fr", "laposte.net", "outlook.fr", "yahoo.fr",
           "sfr.fr", "hotmail.fr", "icloud.com", "proton.me"]
FIRST = ["camille", "lea", "manon", "chloe", "ines", "jade", "louise", "emma", "alice", "lina",
         "lucas", "hugo", "louis", "gabriel", "arthur", "jules", "adam", "nathan", "paul", "leo"]
LAST = ["martin", "bernard", "thomas", "petit", "robert", "richard", "durand", "dubois",
        "moreau", "laurent", "simon", "michel", "lefebvre", "leroy", "roux", "david",
        "bertrand", "morel", "fournier", "girard"]


# ------------------------------------------------------------------------------ the data set


PROFILES = {
    "backlog": "about 15% of cases open, half of them overdue, a few stragglers still open "
               "from a year ago",
    "on-time": "about 8% open: the cases not yet due and some a few days late; nothing older "
               "(the open cases are all at the end of the due-date order)",
}


def open_probability(profile: str, age_days: int, overdue_days: int) -> float:
    """How likely a case received ``age_days`` ago, due ``overdue_days`` ago (negative: not yet
    due), is still open."""
    if profile == "on-time":
        if overdue_days <= 0:
            return 0.95
        return 0.25 if overdue_days <= 14 else 0.0
    if age_days < 30:
        return 0.90
    if age_days < 60:
        return 0.60
    if age_days < 120:
        return 0.20
    return 0.03


def weighted(rng: random.Random, weights: dict):
    return rng.choices(list(weights), weights=list(weights.values()))[0]


@dataclass
class DataSet:
    profile: str
    staff_ids: list[int]
    agent_id: int
    fill_seconds: float = 0.0
    analyze_seconds: float = 0.0
    statuses: Counter = field(default_factory=Counter)
    overdue_open: int = 0
    #: What the searches and the cursors look for (found after the insert).
    busiest_email: str = ""
    busiest_email_cases: int = 0
    open_reference: str = ""
    deep_cursor: str | None = None

    @property
    def open_cases(self) -> int:
        return sum(n for s, n in self.statuses.items() if s not in CLOSED_STATUSES)


def make_staff() -> tuple[list[int], int]:
    """Five agents and a DPO; the first agent is the one the benchmark signs in as (no TOTP:
    agents need none). One password hash for all: scrypt is slow on purpose."""
    first = StaffUser(email=AGENT_EMAIL, role=StaffRole.AGENT, name="Agent Bench")
    first.set_password(PASSWORD)
    users = [first]
    for i in range(2, 6):
        users.append(StaffUser(email=f"agent{i}@staff.example", role=StaffRole.AGENT,
                               name=f"Agent {i}", password_hash=first.password_hash))
    users.append(StaffUser(email="dpo@staff.example", role=StaffRole.DPO, name="DPO",
                           password_hash=first.password_hash))
    db.session.add_all(users)
    db.session.flush()
    ids = [u.id for u in users]
    # Read the ids before the commit: reading them after would reload the rows in a new
    # transaction left open during the fill, and PostgreSQL's VACUUM could then mark no page
    # all-visible (no index-only scans).
    db.session.commit()
    db.session.close()
    return ids, ids[0]


def unique_references(rng: random.Random, count: int) -> list[str]:
    """``DSR-XXXX-XXXX`` references in the app's alphabet, deduplicated (39 bits: a collision
    in 100,000 is likely enough to matter for a UNIQUE column)."""
    seen: set[str] = set()
    while len(seen) < count:
        symbols = "".join(rng.choices(REFERENCE_ALPHABET, k=8))
        seen.add(f"DSR-{symbols[:4]}-{symbols[4:]}")
    refs = list(seen)
    rng.shuffle(refs)
    return refs


def email_picker(rng: random.Random):
    """85% first-time requesters, 14% from 3,000 people who ask again now and then, 0.5% from
    ten serial requesters (about 50 cases each)."""
    regulars = [f"{rng.choice(FIRST)}.{rng.choice(LAST)}{i}@{rng.choice(DOMAINS)}"
                for i in range(3000)]
    serial = [f"{rng.choice(FIRST)}.{rng.choice(LAST)}.serial{i}@{rng.choice(DOMAINS)}"
              for i in range(10)]
    counter = iter(range(10**9))

    def pick() -> str:
        draw = rng.random()
        if draw < 0.005:
            return rng.choice(serial)
        if draw < 0.145:
            return rng.choice(regulars)
        return f"{rng.choice(FIRST)}.{rng.choice(LAST)}.{next(counter)}@{rng.choice(DOMAINS)}"

    return pick


def case_rows(count: int, staff_ids: list[int], now: datetime, seed: int, profile: str):
    """The rows, in batches-to-be: received over the last 14 months, due dates from
    ``dsar.deadlines.due_date`` (cached per day), statuses that depend on age."""
    rng = random.Random(seed)
    references = unique_references(rng, count)
    pick_email = email_picker(rng)
    span = timedelta(days=426)  # 14 months
    due_cache: dict[tuple[date, bool], date] = {}
    today = paris_date(now)
    for i in range(count):
        received_at = now - span * rng.random()
        received_on = paris_date(received_at)
        age = (today - received_on).days
        extended = rng.random() < 0.03
        key = (received_on, extended)
        if key not in due_cache:
            due_cache[key] = due_date(received_on, extended=extended, calendar="FR")
        due_on = due_cache[key]
        kind = weighted(rng, KIND_WEIGHTS)
        if rng.random() < open_probability(profile, age, (today - due_on).days):
            status = (CaseStatus.SUBMITTED if age <= 7 and rng.random() < 0.5
                      else weighted(rng, OPEN_WEIGHTS))
            if status is CaseStatus.NEEDS_INFO:  # a paused clock pushes the due date
                due_on += timedelta(days=rng.randint(1, 20))
            assignee = rng.choice(staff_ids) if rng.random() < 0.7 else None
        else:
            status = weighted(rng, CLOSED_WEIGHTS)
            assignee = (rng.choice(staff_ids)
                        if status is not CaseStatus.EXPIRED and rng.random() < 0.95 else None)
        closed = status in CLOSED_STATUSES
        confirmed = status not in (CaseStatus.SUBMITTED, CaseStatus.EXPIRED)
        email = pick_email()
        local = email.split("@")[0]
        name = " ".join(p.title() for p in re.sub(r"[\d.]+", " ", local).split()[:2])
        yield {
            "reference": references[i],
            "kind": kind,
            "status": status,
            "channel": "portal" if rng.random() < 0.8 else "email",
            "language": "fr",
            "requester_name": name,
            "requester_email": email.title() if rng.random() < 0.1 else email,
            "email_normalized": email,
            "representative_name": None,
            "identifiers": {},
            "details": {},
            "message": None,
            "received_at": received_at,
            "received_on": received_on,
            "calendar": "FR",
            "due_on": due_on,
            "extended": extended,
            "extension_reason": "Complexité de la demande" if extended else None,
            "extended_at": received_at + timedelta(days=20) if extended else None,
            "assignee_id": assignee,
            "duplicate_of_id": None,
            "identity_verified_at": None,
            "identity_note": None,
            "manifestly_unfounded": False,
            "unfounded_justification": None,
            "refusal_reasons": "Demande non fondée" if status is CaseStatus.REJECTED else None,
            "partial_refusal_reasons": None,
            "confirmed_at": received_at + timedelta(hours=2) if confirmed else None,
            "closed_at": (min(received_at + timedelta(days=rng.randint(3, 45)), now)
                          if closed else None),
            "token_salt": f"{rng.getrandbits(128):032x}",
            "created_at": received_at,
            "updated_at": received_at,
        }


def reset_schema(app) -> None:
    """Drop every table of the app (and Alembic's), then run the migrations."""
    from flask_migrate import upgrade

    with app.app_context():
        db.drop_all()
        with db.engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        upgrade()
        db.engine.dispose()


DEEP_PAGE_ROW = 1000  # the cursor of "page 21": after the 1,000th open case


def fill(app, count: int, batch: int, seed: int, profile: str) -> DataSet:
    """Insert ``count`` cases in batches of ``batch`` (one executemany each), then ANALYZE."""
    with app.app_context():
        staff_ids, agent_id = make_staff()
        data = DataSet(profile=profile, staff_ids=staff_ids, agent_id=agent_id)
        now = datetime.now(UTC)
        today = paris_date(now)
        started = time.perf_counter()
        rows: list[dict] = []
        emails: Counter = Counter()
        open_refs: list[str] = []
        open_emails: set[str] = set()
        with db.engine.begin() as conn:
            for row in case_rows(count, staff_ids, now, seed, profile):
                rows.append(row)
                emails[row["email_normalized"]] += 1
                data.statuses[row["status"]] += 1
                if row["status"] not in CLOSED_STATUSES:
                    open_refs.append(row["reference"])
                    open_emails.add(row["email_normalized"])
                    data.overdue_open += row["due_on"] < today
                if len(rows) == batch:
                    conn.execute(insert(Case.__table__), rows)
                    rows = []
            if rows:
                conn.execute(insert(Case.__table__), rows)
        data.fill_seconds = time.perf_counter() - started

        started = time.perf_counter()
        if db.engine.dialect.name == "postgresql":
            # VACUUM too: a live table is vacuumed by autovacuum; right after a bulk load its
            # visibility map is empty and every index-only scan would visit the heap.
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
        else:
            with db.engine.begin() as conn:
                conn.execute(text("ANALYZE"))
        data.analyze_seconds = time.perf_counter() - started

        open_statuses = [s for s in CaseStatus if s not in CLOSED_STATUSES]
        deep = db.session.execute(
            select(Case.due_on, Case.id).where(Case.status.in_(open_statuses))
            .order_by(Case.due_on, Case.id).offset(DEEP_PAGE_ROW - 1).limit(1)).first()
        if deep is not None:
            data.deep_cursor = f"{deep.due_on.isoformat()}_{deep.id}"
        db.session.remove()
        db.engine.dispose()

    # The address with the most cases among those with an open one: staff look people up.
    data.busiest_email, data.busiest_email_cases = next(
        (email, n) for email, n in emails.most_common() if email in open_emails)
    data.open_reference = random.Random(seed + 1).choice(open_refs)
    return data


# ------------------------------------------------------------------------------- measuring


class StatementLog:
    """Count the statements the engine runs; keep them (with their parameters) on demand."""

    def __init__(self, engine):
        self.count = 0
        self.capture: list[tuple[str, object]] | None = None
        event.listen(engine, "before_cursor_execute", self._before)

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        self.count += 1
        if self.capture is not None:
            self.capture.append((statement, parameters))


@dataclass
class Statement:
    sql: str
    params: object
    median_ms: float = 0.0


@dataclass
class Result:
    database: str
    profile: str
    scenario: str
    url: str
    rows: int
    times_ms: list[float]
    queries: int
    statements: list[Statement]

    @property
    def p50(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def p95(self) -> float:
        ordered = sorted(self.times_ms)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]

    @property
    def sql_ms(self) -> float:
        return sum(s.median_ms for s in self.statements)

    @property
    def slowest(self) -> Statement:
        return max(self.statements, key=lambda s: s.median_ms)

    @property
    def passed(self) -> bool:
        return self.p95 < GOAL_MS


def csrf_from(page: str) -> str:
    match = CSRF_PATTERN.search(page)
    if not match:
        raise SystemExit("no CSRF token on the login page")
    return match.group(1) or match.group(2)


def sign_in(client) -> None:
    """The real sign-in form: an agent has no second factor, the password is enough."""
    page = client.get("/staff/login")
    resp = client.post("/staff/login", data={"csrf_token": csrf_from(page.get_data(True)),
                                              "email": AGENT_EMAIL, "password": PASSWORD})
    if resp.status_code != 302 or not resp.location.endswith("/staff/"):
        raise SystemExit(f"sign-in failed: {resp.status_code} {resp.location}")


def fetch(client, url: str) -> str:
    resp = client.get(url)
    if resp.status_code != 200:
        raise SystemExit(f"GET {url} answered {resp.status_code}")
    return resp.get_data(as_text=True)


def search_url(client, page: str, query: str) -> str:
    """The search form (a POST: the query stays in the session); returns the dashboard URL it
    redirects to, which carries the search's id only."""
    resp = client.post("/staff/search", data={"csrf_token": csrf_from(page), "q": query})
    if resp.status_code != 302:
        raise SystemExit(f"POST /staff/search answered {resp.status_code}")
    return resp.location


def scenarios(client, data: DataSet) -> list[tuple[str, str, str | None]]:
    """(name, URL, the one reference the page must show, or None)."""
    first = fetch(client, "/staff/")
    link = NEXT_PAGE.search(first)
    if not link:
        raise SystemExit("the first page has no next-page link: too few open cases")
    found = [
        ("first page", "/staff/", None),
        ("kind=erasure&status=confirmed", "/staff/?kind=erasure&status=confirmed", None),
        ("kind=erasure", "/staff/?kind=erasure", None),
        (f"search e-mail ({data.busiest_email_cases} cases)",
         search_url(client, first, data.busiest_email), None),
        ("search reference, lower-case",
         search_url(client, first, data.open_reference.lower()), data.open_reference),
        ("page 2 (after= cursor)", html.unescape(link.group(1)), None),
        ("assignee=me", "/staff/?assignee=me", None),
    ]
    if data.deep_cursor:
        found.append((f"page {DEEP_PAGE_ROW // 50 + 1} (after= cursor)",
                      f"/staff/?after={data.deep_cursor}", None))
    return found


def replay(statements: list[tuple[str, object]], repeat: int = 15) -> list[Statement]:
    """Run each statement of a request again on its own (execute and fetch every row), for the
    share of the request spent in the database."""
    timed = []
    with db.engine.connect() as conn:
        for sql, params in statements:
            samples = []
            for _ in range(repeat):
                started = time.perf_counter()
                conn.exec_driver_sql(sql, params).all()
                samples.append((time.perf_counter() - started) * 1000)
            timed.append(Statement(sql, params, statistics.median(samples)))
    return timed


def measure(app, label: str, data: DataSet, warmup: int, requests: int,
            explain: bool) -> list[Result]:
    with app.app_context():
        log = StatementLog(db.engine)
    client = app.test_client()
    sign_in(client)
    results = []
    for name, url, must_show in scenarios(client, data):
        shown = ROW.findall(fetch(client, url))
        if must_show is not None and shown != [must_show]:
            raise SystemExit(f"{url}: expected exactly {must_show}, got {shown[:3]}")
        for _ in range(warmup):
            client.get(url)
        times = []
        log.count = 0
        for _ in range(requests):
            started = time.perf_counter()
            resp = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
            if resp.status_code != 200:
                raise SystemExit(f"GET {url} answered {resp.status_code}")
        queries = log.count // requests
        log.capture = []
        client.get(url)
        captured, log.capture = log.capture, None
        with app.app_context():
            statements = replay(captured)
        result = Result(label, data.profile, name, url, len(shown), times, queries, statements)
        results.append(result)
        print(f"  {name:<32} p50 {result.p50:6.1f} ms  p95 {result.p95:6.1f} ms  "
              f"SQL {result.sql_ms:5.1f} ms  ({len(shown)} rows)", flush=True)
    if explain or not all(r.passed for r in results):
        with app.app_context():
            for result in results:
                if explain or not result.passed:
                    print_plans(result)
            db.engine.dispose()
    return results


def print_plans(result: Result) -> None:
    """EXPLAIN QUERY PLAN (SQLite) / EXPLAIN (ANALYZE, BUFFERS) (PostgreSQL) of each SELECT
    the scenario ran, with the parameters it ran with."""
    dialect = db.engine.dialect.name
    prefix = "EXPLAIN QUERY PLAN " if dialect == "sqlite" else "EXPLAIN (ANALYZE, BUFFERS) "
    print(f"\n--- plans: {result.database} [{result.profile}] {result.scenario}  {result.url}")
    with db.engine.connect() as conn:
        for statement in result.statements:
            print(f"\n[{statement.median_ms:.2f} ms] " + " ".join(statement.sql.split())[:300])
            print(f"  params: {statement.params}")
            for row in conn.exec_driver_sql(prefix + statement.sql, statement.params).all():
                print("   ", row[-1] if dialect == "sqlite" else row[0])


# ---------------------------------------------------------------------------------- runs


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
