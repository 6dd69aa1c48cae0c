"""The data of ``bench/exports.py``: an instance in a temporary folder (master key, encrypted
storage, the dsar database from the migrations, ``sources.toml`` and ``register.toml`` from
``bench/data/``), two SQLite source databases where chosen people have a known number of
records, and cases gathered through ``dsar.search.gathering`` (so the search results are stored
exactly as the workers store them).
"""

from __future__ import annotations

import io
import random
import shutil
import sqlite3
import time
from contextlib import redirect_stderr
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"

PLATFORM_TABLES = """
CREATE TABLE accounts (id INTEGER PRIMARY KEY, email TEXT NOT NULL, first_name TEXT,
                       last_name TEXT, birth_date TEXT, phone TEXT, password_hash TEXT,
                       created_on TEXT);
CREATE TABLE enrolments (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES accounts(id),
                         course TEXT, started_on TEXT, status TEXT, funding TEXT);
CREATE TABLE invoices (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES accounts(id),
                       number TEXT, amount_eur REAL, issued_on TEXT, paid INTEGER);
CREATE TABLE activity (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES accounts(id),
                       occurred_at TEXT, event TEXT, page TEXT, ip TEXT, user_agent TEXT);
CREATE INDEX ix_accounts_email ON accounts (lower(email));
CREATE INDEX ix_enrolments_user ON enrolments (user_id);
CREATE INDEX ix_invoices_user ON invoices (user_id);
CREATE INDEX ix_activity_user ON activity (user_id);
"""
HELPDESK_TABLES = """
CREATE TABLE tickets (id INTEGER PRIMARY KEY, email TEXT NOT NULL, subject TEXT, body TEXT,
                      opened_on TEXT, status TEXT);
CREATE TABLE messages (id INTEGER PRIMARY KEY, ticket_id INTEGER NOT NULL REFERENCES tickets(id),
                       author TEXT, body TEXT, sent_at TEXT);
CREATE INDEX ix_tickets_email ON tickets (lower(email));
CREATE INDEX ix_messages_ticket ON messages (ticket_id);
"""

#: (source, collection) -> the share of a person's records it holds; ``accounts`` holds one
#: and ``activity`` the rest.
SHARES = {("platform", "enrolments"): 0.05, ("platform", "invoices"): 0.03,
          ("helpdesk", "tickets"): 0.01, ("helpdesk", "messages"): 0.03}
COURSES = ["Excel avancé", "Anglais B2", "Gestion de projet", "Python", "Management d'équipe",
           "Comptabilité", "Secourisme", "Prise de parole en public"]
PAGES = ["/", "/catalogue", "/formations/python", "/formations/excel", "/compte",
         "/compte/factures", "/recherche?q=management", "/cours/3/module/2", "/contact"]
EVENTS = ["page_view", "login", "video_play", "quiz_submit", "download", "logout"]
AGENTS = ["Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
          "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537",
          "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile"]
FIRST = ["Camille", "Léa", "Hugo", "Chloé", "Lucas", "Manon", "Nathan", "Inès", "Zoé", "Noël"]
LAST = ["Martin", "Bernard", "Dubois", "Lefèvre", "Garcia", "Müller", "N'Diaye", "Rousseau"]
#: People in the source databases besides the ones measured (so the search really filters).
OTHER_PEOPLE = 200
OTHERS_RECORDS = 30


@dataclass(frozen=True)
class Person:
    """Someone whose answer is built: their address and their records per collection."""

    email: str
    counts: dict[tuple[str, str], int]

    @property
    def total(self) -> int:
        """Records seeded for this person, all collections together."""
        return sum(self.counts.values())


def split(records: int) -> dict[tuple[str, str], int]:
    """``records`` spread over the six collections (one account, most of it activity)."""
    if records < 6:
        raise ValueError("a person needs at least 6 records (one per collection)")
    counts = {("platform", "accounts"): 1}
    counts |= {key: max(1, int(records * share)) for key, share in SHARES.items()}
    counts[("platform", "activity")] = records - sum(counts.values())
    return counts


def email_of(label: str, index: int) -> str:
    return f"{label}.{index}@bench.example"


class _Ids:
    def __init__(self) -> None:
        self.values: dict[str, int] = {}

    def next(self, table: str) -> int:
        self.values[table] = self.values.get(table, 0) + 1
        return self.values[table]


def seed_sources(instance: Path, people: list[Person], seed: int = 2026) -> None:
    """Write ``platform.sqlite`` and ``helpdesk.sqlite`` in ``instance``: each of ``people``
    with exactly their counts, plus :data:`OTHER_PEOPLE` others with a few records each."""
    rng = random.Random(seed)
    ids = _Ids()
    others = [Person(email_of("other", i), split(OTHERS_RECORDS)) for i in range(OTHER_PEOPLE)]
    everyone = [*people, *others]
    rng.shuffle(everyone)
    day0 = date(2019, 1, 1)
    platform = sqlite3.connect(instance / "platform.sqlite")
    helpdesk = sqlite3.connect(instance / "helpdesk.sqlite")
    platform.executescript(PLATFORM_TABLES)
    helpdesk.executescript(HELPDESK_TABLES)
    for person in everyone:
        c = person.counts
        uid = ids.next("accounts")
        first, last = rng.choice(FIRST), rng.choice(LAST)
        platform.execute("INSERT INTO accounts VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (
            uid, person.email.upper() if uid % 7 == 0 else person.email, first, last,
            (day0 - timedelta(days=rng.randint(7000, 20000))).isoformat(),
            f"+33 6 {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)} "
            f"{rng.randint(10, 99)}", "$argon2id$v=19$m=65536,t=3,p=4$" + "a" * 43,
            (day0 + timedelta(days=rng.randint(0, 2000))).isoformat()))
        platform.executemany("INSERT INTO enrolments VALUES (?, ?, ?, ?, ?, ?)", (
            (ids.next("enrolments"), uid, rng.choice(COURSES),
             (day0 + timedelta(days=rng.randint(0, 2500))).isoformat(),
             rng.choice(["suivie", "terminée", "abandonnée"]),
             rng.choice(["CPF", "OPCO", "personnel", None]))
            for _ in range(c[("platform", "enrolments")])))
        platform.executemany("INSERT INTO invoices VALUES (?, ?, ?, ?, ?, ?)", (
            (n, uid, f"F-{n:08d}", rng.randint(9000, 240000) / 100,
             (day0 + timedelta(days=rng.randint(0, 2500))).isoformat(), rng.random() < 0.9)
            for n in (ids.next("invoices") for _ in range(c[("platform", "invoices")]))))
        start = datetime(2024, 1, 1) + timedelta(seconds=rng.randint(0, 10**7))
        platform.executemany("INSERT INTO activity VALUES (?, ?, ?, ?, ?, ?, ?)", (
            (ids.next("activity"), uid,
             (start + timedelta(seconds=37 * i)).isoformat(timespec="seconds") + "Z",
             rng.choice(EVENTS), rng.choice(PAGES),
             f"203.0.{rng.randint(0, 255)}.{rng.randint(1, 254)}", rng.choice(AGENTS))
            for i in range(c[("platform", "activity")])))
        tickets = []
        for _ in range(c[("helpdesk", "tickets")]):
            tid = ids.next("tickets")
            tickets.append(tid)
            helpdesk.execute("INSERT INTO tickets VALUES (?, ?, ?, ?, ?, ?)", (
                tid, person.email, "Accès au module « Tableaux croisés »",
                "Bonjour, je n'arrive pas à ouvrir le module 3 depuis hier ; le lecteur reste "
                "sur « chargement… ». Pouvez-vous regarder ? Merci, " + first,
                (day0 + timedelta(days=rng.randint(0, 2500))).isoformat(),
                rng.choice(["ouvert", "résolu"])))
        helpdesk.executemany("INSERT INTO messages VALUES (?, ?, ?, ?, ?)", (
            (ids.next("messages"), tickets[i % len(tickets)],
             rng.choice(["client", "agent"]),
             "=Bonjour, merci pour votre message. Nous revenons vers vous sous 48 h. " * 2,
             (start + timedelta(hours=i)).isoformat(timespec="seconds") + "Z")
            for i in range(c[("helpdesk", "messages")])))
    platform.commit()
    helpdesk.commit()
    platform.close()
    helpdesk.close()


def write_instance(instance: Path) -> None:
    """The master key and the two TOML files of a benchmark instance."""
    from dsar.core.keys import create_master_key

    create_master_key(instance / "dsar.key")
    for name in ("sources", "register"):
        shutil.copyfile(DATA_DIR / f"exports_{name}.toml", instance / f"{name}.toml")


def app_config(instance: Path) -> dict:
    """The app's configuration: everything in ``instance``; no Redis is needed (jobs are
    called directly), so its URL points where nothing listens."""
    return {
        "DATABASE_URL": f"sqlite:///{instance / 'dsar.sqlite3'}",
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "RATELIMIT_STORAGE_URI": "memory://",
        "MASTER_KEY_FILE": str(instance / "dsar.key"),
        "STORAGE_DIR": str(instance / "storage"),
        "SOURCES_FILE": str(instance / "sources.toml"),
        "REGISTER_FILE": str(instance / "register.toml"),
        "BASE_URL": "http://localhost",
        "ORGANISATION_NAME": "Forma+ Benchmark SAS",
        "DPO_EMAIL": "dpo@formaplus.example",
        "MAIL_FROM": "dsar@formaplus.example",
        "LOG_LEVEL": "WARNING",
    }


def make_app(instance: Path):
    from dsar import create_app

    return create_app(app_config(instance))


def migrate(app) -> None:
    """The dsar schema, from the migrations (what production runs)."""
    from flask_migrate import upgrade

    from dsar.extensions import db

    # Alembic's logging config binds its handler to the stderr of the moment: its INFO lines
    # go to this buffer, not to the benchmark's output.
    with app.app_context(), redirect_stderr(io.StringIO()):
        upgrade()
        db.engine.dispose()


def gathered_case(app, person: Person, language: str = "fr") -> tuple[int, float]:
    """An access case of ``person`` searched through ``dsar.search.gathering`` (each source's search
    and the fan-in, called as the jobs call them) until it is in ``review``. Returns its id
    and the seconds the search took."""
    from dsar.cases.workflow import create_case, transition
    from dsar.extensions import db
    from dsar.models import ActorType, Case, CaseKind, CaseStatus
    from dsar.search import gathering

    with app.app_context():
        case = create_case(kind=CaseKind.ACCESS, requester_name="Camille Bench",
                           requester_email=person.email, language=language)
        for step in (CaseStatus.CONFIRMED, CaseStatus.VERIFIED, CaseStatus.IN_PROGRESS):
            transition(case, step, actor_type=ActorType.SYSTEM)
        planned = gathering.prepare(case)
        db.session.commit()
        case_id = case.id
        began = time.perf_counter()
        for _ in range(10):  # rounds
            for item in planned:
                outcome = gathering.gather(case_id, item.source)
                if outcome != "done":
                    raise SystemExit(f"search of {item.source} for case {case_id}: {outcome}")
            outcome, planned = gathering.collect(case_id)
            if outcome == "review":
                break
        else:
            raise SystemExit(f"case {case_id} never reached review")
        seconds = time.perf_counter() - began
        if db.session.get(Case, case_id).status is not CaseStatus.REVIEW:
            raise SystemExit(f"case {case_id} is not in review")
        db.session.remove()
    return case_id, seconds
