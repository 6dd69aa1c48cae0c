"""The organisations ``bench/gather.py`` searches: a four-table PostgreSQL database of N people
(built once with COPY, then reused), and the six-source demo organisation."""

from __future__ import annotations

import os
import random
import secrets
import shutil
import subprocess
import sys
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import psycopg

from bench.gather_harness import ensure_database, free_port, wait_for_port

DATA_DIR = Path(__file__).resolve().parent / "data"

FIRST = ["camille", "lea", "hugo", "chloe", "lucas", "manon", "nathan", "ines", "louis", "jade",
         "gabriel", "emma", "arthur", "alice", "jules", "lina", "adam", "rose", "paul", "zoe"]
LAST = ["martin", "bernard", "dubois", "thomas", "robert", "richard", "petit", "durand",
        "leroy", "moreau", "simon", "laurent", "lefebvre", "michel", "garcia", "david"]
DOMAINS = ["example.fr", "exemple.com", "courriel.example", "mail.example"]
COURSES = ["Excel avancé", "Anglais B2", "Gestion de projet", "Python", "Management",
           "Comptabilité", "Secourisme", "Prise de parole"]

SCHEMA = """
CREATE TABLE users (id integer PRIMARY KEY, email text NOT NULL, first_name text,
                    last_name text, created_on date);
CREATE TABLE enrolments (id integer PRIMARY KEY, user_id integer NOT NULL REFERENCES users(id),
                         course text, started_on date, status text);
CREATE TABLE invoices (id integer PRIMARY KEY, user_id integer NOT NULL REFERENCES users(id),
                       number text, amount_eur numeric(10,2), issued_on date);
CREATE TABLE support_tickets (id integer PRIMARY KEY, email text NOT NULL, subject text,
                              body text, opened_on date);
CREATE TABLE bench_meta (people integer);
"""
INDEXES = """
CREATE INDEX ix_users_email ON users (lower(email));
CREATE INDEX ix_enrolments_user ON enrolments (user_id);
CREATE INDEX ix_invoices_user ON invoices (user_id);
CREATE INDEX ix_tickets_email ON support_tickets (lower(email));
ANALYZE;
"""


def email_of(i: int) -> str:
    return (f"{FIRST[i % len(FIRST)]}.{LAST[(i // 20) % len(LAST)]}{i}"
            f"@{DOMAINS[i % len(DOMAINS)]}")


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def build_sql_org(admin_url: str, people: int) -> str:
    """The four-table organisation with ``people`` people (reused when already built)."""
    url = ensure_database(admin_url, "dsar_bench_org")
    with psycopg.connect(_plain(url), autocommit=True) as conn:
        try:
            built = conn.execute("SELECT people FROM bench_meta").fetchone()
        except psycopg.errors.UndefinedTable:
            built = None
        if built and built[0] == people:
            return url
        print(f"building the sql organisation ({people:,} people, COPY)…", flush=True)
        conn.execute("DROP TABLE IF EXISTS bench_meta, support_tickets, invoices, enrolments, "
                     "users CASCADE")
        conn.execute(SCHEMA)
        rng = random.Random(2026)
        day0 = date(2019, 1, 1)
        with conn.cursor() as cur:
            with cur.copy("COPY users FROM STDIN") as copy:
                for i in range(1, people + 1):
                    copy.write_row((i, email_of(i), FIRST[i % 20].title(),
                                    LAST[(i // 20) % 16].title(),
                                    day0 + timedelta(days=i % 2000)))
            enrolment_id = invoice_id = ticket_id = 0
            with cur.copy("COPY enrolments FROM STDIN") as copy:
                for i in range(1, people + 1):
                    for _ in range(rng.randint(0, 4)):
                        enrolment_id += 1
                        copy.write_row((enrolment_id, i, rng.choice(COURSES),
                                        day0 + timedelta(days=rng.randint(0, 2500)), "suivie"))
            with cur.copy("COPY invoices FROM STDIN") as copy:
                for i in range(1, people + 1):
                    for _ in range(rng.randint(0, 3)):
                        invoice_id += 1
                        copy.write_row((invoice_id, i, f"F-{invoice_id:08d}",
                                        f"{rng.randint(90, 2400)}.00",
                                        day0 + timedelta(days=rng.randint(0, 2500))))
            with cur.copy("COPY support_tickets FROM STDIN") as copy:
                for i in range(1, people + 1):
                    if rng.random() < 0.3:
                        ticket_id += 1
                        copy.write_row((ticket_id, email_of(i), "Accès au module",
                                        "Bonjour, je n'arrive pas à ouvrir le module 3.",
                                        day0 + timedelta(days=rng.randint(0, 2500))))
        conn.execute(INDEXES)
        conn.execute("INSERT INTO bench_meta VALUES (%s)", (people,))
        print(f"   users {people:,}, enrolments {enrolment_id:,}, invoices {invoice_id:,}, "
              f"tickets {ticket_id:,}", flush=True)
    return url


def sql_org_config(instance: Path, org_url: str, people: int):
    """Write the sql workload's two files; returns (env, addresses, goals, label)."""
    for name in ("sources", "register"):
        shutil.copyfile(DATA_DIR / f"gather_sql_{name}.toml", instance / f"{name}.toml")
    rng = random.Random(11)
    emails = [email_of(rng.randint(1, people)) for _ in range(2000)]
    # Issue 11: the whole way, with package builds running as in production.
    goals = {"review": {"p50": 150, "p95": 300, "per_minute": 900},
             "package": {"p50": 400, "p95": 700, "per_minute": 300}}
    return ({"BENCH_ORG_URL": org_url}, emails, goals,
            f"sql source alone, PostgreSQL, {people:,} people, four tables")


@contextmanager
def demo_org(data_dir: Path, instance: Path, people: int):
    """The demo organisation of ``people`` people (generated once into ``data_dir``), its two
    HTTP services running; yields the workload's setup function."""
    from dsar.demo.org import generate, write_config

    target = data_dir / f"demo-{people}"
    if not (target / "manifest.json").exists():
        print(f"generating the demo organisation ({people:,} people)…", flush=True)
        generate(target, people)
    (instance / "demo-org").symlink_to(target)
    tokens = {"HORIZON_CRM_TOKEN": secrets.token_urlsafe(16),
              "HORIZON_NEWSLETTER_API_KEY": secrets.token_urlsafe(16)}
    env = {**os.environ, **tokens}
    services = []
    try:
        ports = {}
        for name, db_name in (("crm", "crm.sqlite"), ("newsletter", "newsletter.sqlite")):
            port = free_port()
            process = subprocess.Popen([sys.executable, "-m", "dsar.demo.services", name,
                                        "--db", str(target / db_name), "--port", str(port)],
                                       env=env, stdout=subprocess.DEVNULL)
            services.append(process)
            wait_for_port(port, process)
            ports[name] = port
        write_config(instance, crm_url=f"http://127.0.0.1:{ports['crm']}",
                     newsletter_url=f"http://127.0.0.1:{ports['newsletter']}")

        def setup(inst: Path):
            import sqlite3

            rng = random.Random(11)
            conn = sqlite3.connect(target / "platform.sqlite")
            count = conn.execute("SELECT max(id) FROM accounts").fetchone()[0]
            emails = []
            for _ in range(2000):
                row = conn.execute("SELECT email FROM accounts WHERE id = ?",
                                   (rng.randint(1, count),)).fetchone()
                if row:
                    emails.append(row[0])
            conn.close()
            return (tokens, emails, {"review": {"p50": 500, "p95": 1000}},
                    f"six demo sources, {people:,} people")

        yield setup
    finally:
        for process in services:
            process.terminate()
            process.wait(timeout=10)
