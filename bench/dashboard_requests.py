"""What ``bench/dashboard.py`` times: whole requests of the staff dashboard through the Flask
test client, signed in through the real form, each scenario's statements replayed alone (and
their plans printed on demand or on failure).
"""

from __future__ import annotations

import html
import re
import statistics
import time
from dataclasses import dataclass

from sqlalchemy import event

from bench.dashboard_data import AGENT_EMAIL, DEEP_PAGE_ROW, PASSWORD, DataSet
from dsar.extensions import db

GOAL_MS = 100.0
CSRF_PATTERN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|'
                          r'name="csrf_token" value="([^"]+)"')
NEXT_PAGE = re.compile(r'id="next-page" href="([^"]+)"')
ROW = re.compile(r'data-reference="([^"]+)"')


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
