"""The organisation ``bench/erasure.py`` erases from: a copy of ``dsar_bench_org`` (the
1,000,000 people of ``bench/gather.py``'s ``sql`` workload), made afresh for each run so that
the gather benchmark's database is never touched; the people erased, what they had before,
and the check, afterwards, that each is gone or anonymised per strategy and nobody else is.
"""

from __future__ import annotations

import random
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from bench.gather_orgs import DATA_DIR, _plain, build_sql_org, email_of

#: The copy the benchmark erases from (dropped and made again from the template each run).
COPY = "dsar_bench_erasure_org"
TEMPLATE = "dsar_bench_org"
#: The recipients' addresses in bench/data/erasure_sql_register.toml (one notice each per case).
NOTIFIED = ("dpo@paiements.example", "dpo@routeur.example")
HASHED = re.compile(r"^[0-9a-f]{64}$")


def copy_org(admin_url: str, attempts: int = 5) -> tuple[str, float]:
    """Drop and make again the copy of ``dsar_bench_org``; returns (its URL, seconds taken).

    ``STRATEGY FILE_COPY`` copies the files (after a checkpoint): about twice as fast here as
    PostgreSQL 15's default, which writes every page to the WAL. The template must have no
    other connection meanwhile (``bench/gather.py`` running would hold one): retried a few
    times, then refused in words."""
    began = time.perf_counter()
    with psycopg.connect(_plain(admin_url), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (TEMPLATE,)).fetchone() \
                is None:
            build_sql_org(admin_url, 1_000_000)  # once, as bench/gather.py does
        conn.execute(f'DROP DATABASE IF EXISTS "{COPY}" WITH (FORCE)')
        for attempt in range(attempts):
            try:
                conn.execute(f'CREATE DATABASE "{COPY}" TEMPLATE "{TEMPLATE}" '
                             "STRATEGY FILE_COPY")
                break
            except psycopg.errors.ObjectInUse:
                if attempt == attempts - 1:
                    raise SystemExit(f"{TEMPLATE} is in use by another session (bench/gather.py?)"
                                     ": its copy cannot be made now") from None
                time.sleep(2)
    return admin_url.rsplit("/", 1)[0] + "/" + COPY, time.perf_counter() - began


def drop_copy(admin_url: str) -> None:
    """Drop the copy (563 MB on disk at 1,000,000 people)."""
    with psycopg.connect(_plain(admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{COPY}" WITH (FORCE)')


def template_untouched(admin_url: str) -> bool:
    """Whether ``dsar_bench_org`` still has nobody anonymised (the gather benchmark's data)."""
    url = admin_url.rsplit("/", 1)[0] + "/" + TEMPLATE
    with psycopg.connect(_plain(url)) as conn:
        return conn.execute(TOTALS["users with a hashed e-mail"]).fetchone()[0] == 0


def people_count(url: str) -> int:
    """How many people the organisation holds (as built: ``bench_meta``)."""
    with psycopg.connect(_plain(url)) as conn:
        return conn.execute("SELECT people FROM bench_meta").fetchone()[0]


def people_of(url: str, count: int, seed: int = 13) -> list[int]:
    """``count`` distinct people of the organisation, at random (their user ids)."""
    return random.Random(seed).sample(range(1, people_count(url) + 1), count)


def write_config(instance: Path) -> None:
    """The sources as the gather benchmark declares them (users anonymised, enrolments and
    tickets deleted, invoices retained), and the register with its notified recipients."""
    shutil.copyfile(DATA_DIR / "gather_sql_sources.toml", instance / "sources.toml")
    shutil.copyfile(DATA_DIR / "erasure_sql_register.toml", instance / "register.toml")


@dataclass
class Before:
    """What the people to erase had, and the copy's totals, before the first case."""

    users: dict[int, tuple] = field(default_factory=dict)  # id -> (created_on,)
    enrolments: dict[int, int] = field(default_factory=dict)  # user id -> count
    invoices: dict[int, list[tuple]] = field(default_factory=dict)  # user id -> rows
    tickets: dict[int, int] = field(default_factory=dict)  # user id -> count
    totals: dict[str, int] = field(default_factory=dict)


TOTALS = {
    "users": "SELECT count(*) FROM users",
    "enrolments": "SELECT count(*) FROM enrolments",
    "invoices": "SELECT count(*) FROM invoices",
    "support_tickets": "SELECT count(*) FROM support_tickets",
    "users with a hashed e-mail": "SELECT count(*) FROM users WHERE email ~ '^[0-9a-f]{64}$'",
    "users without a name": "SELECT count(*) FROM users WHERE first_name IS NULL "
                            "AND last_name IS NULL",
    "invoices (sum of amounts, cents)": "SELECT (sum(amount_eur) * 100)::bigint FROM invoices",
}


def snapshot(url: str, ids: list[int]) -> Before:
    """Read what ``ids`` have in each table, and the totals, before anything is erased."""
    before = Before()
    emails = [email_of(i) for i in ids]
    with psycopg.connect(_plain(url)) as conn:
        for uid, created in conn.execute(
                "SELECT id, created_on FROM users WHERE id = ANY(%s)", (ids,)):
            before.users[uid] = (created,)
        before.enrolments = dict(conn.execute(
            "SELECT user_id, count(*) FROM enrolments WHERE user_id = ANY(%s) GROUP BY 1",
            (ids,)).fetchall())
        for row in conn.execute("SELECT user_id, id, number, amount_eur, issued_on FROM invoices"
                                " WHERE user_id = ANY(%s) ORDER BY id", (ids,)):
            before.invoices.setdefault(row[0], []).append(row[1:])
        by_email = dict(conn.execute(
            "SELECT lower(email), count(*) FROM support_tickets WHERE lower(email) = ANY(%s) "
            "GROUP BY 1", (emails,)).fetchall())
        before.tickets = {i: by_email.get(email_of(i), 0) for i in ids}
        before.totals = {name: conn.execute(query).fetchone()[0]
                         for name, query in TOTALS.items()}
    return before


def check_erased(url: str, ids: list[int], before: Before) -> list[str]:
    """What is wrong in the copy after the run (an empty list: every person erased per
    strategy, invoices kept unchanged, nobody else touched)."""
    problems: list[str] = []
    emails = [email_of(i) for i in ids]
    with psycopg.connect(_plain(url)) as conn:
        users = {r[0]: r[1:] for r in conn.execute(
            "SELECT id, email, first_name, last_name, created_on FROM users WHERE id = ANY(%s)",
            (ids,))}
        enrolments = conn.execute("SELECT count(*) FROM enrolments WHERE user_id = ANY(%s)",
                                  (ids,)).fetchone()[0]
        invoices: dict[int, list[tuple]] = {}
        for row in conn.execute("SELECT user_id, id, number, amount_eur, issued_on FROM invoices"
                                " WHERE user_id = ANY(%s) ORDER BY id", (ids,)):
            invoices.setdefault(row[0], []).append(row[1:])
        tickets = conn.execute(
            "SELECT count(*) FROM support_tickets WHERE lower(email) = ANY(%s)",
            (emails,)).fetchone()[0]
        totals = {name: conn.execute(query).fetchone()[0] for name, query in TOTALS.items()}
    for uid in ids:
        row = users.get(uid)
        if row is None:
            problems.append(f"user {uid} deleted (its strategy is anonymize)")
        elif not (HASHED.match(row[0] or "") and row[1] is None and row[2] is None
                  and (row[3],) == before.users[uid]):
            problems.append(f"user {uid} not anonymised as declared")
    if enrolments:
        problems.append(f"{enrolments} enrolments of erased people remain")
    if tickets:
        problems.append(f"{tickets} support tickets of erased people remain")
    if invoices != before.invoices:
        problems.append("the erased people's invoices changed (they are retained)")
    erased = len(ids)
    expected = dict(before.totals)
    expected["enrolments"] -= sum(before.enrolments.values())
    expected["support_tickets"] -= sum(before.tickets.values())
    expected["users with a hashed e-mail"] += erased
    expected["users without a name"] += erased
    for name, value in expected.items():
        if totals[name] != value:
            problems.append(f"{name}: {totals[name]:,} after, {value:,} expected "
                            "(someone else's rows changed?)")
    return problems


def summary(before: Before) -> str:
    """What the erased people had, in a line."""
    n = len(before.users)
    return (f"{n} people: {sum(before.enrolments.values())} enrolments to delete, "
            f"{sum(before.tickets.values())} support tickets to delete, "
            f"{sum(len(v) for v in before.invoices.values())} invoices to keep, "
            f"{n} accounts to anonymise")
