"""The training platform's database (``platform.sqlite``): accounts, enrolments, attendance
sheets, level tests, invoices, with real foreign keys.

Rows are streamed in chunks (constant memory), with the journal and fsync off while
building and the indexes created after the inserts, as one would load a big database.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import random
import sqlite3
from collections.abc import Iterator
from datetime import date
from functools import lru_cache
from pathlib import Path

from dsar.demo.org import showcase
from dsar.demo.org.names import COURSES, EMPLOYERS, FUNDINGS
from dsar.demo.org.people import AS_OF, AS_OF_TS, Person, draws, person, stamp

logger = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE accounts (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    birth_date DATE,
    phone TEXT,
    address TEXT,
    postal_code TEXT,
    city TEXT,
    profession TEXT,
    employer TEXT,
    bio TEXT,
    visitor_id TEXT,
    password_hash TEXT NOT NULL,
    created_at DATETIME NOT NULL,
    last_login_at DATETIME,
    processing_restricted INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE enrolments (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    course_code TEXT NOT NULL,
    course_title TEXT NOT NULL,
    hours INTEGER NOT NULL,
    started_on DATE NOT NULL,
    status TEXT NOT NULL,
    funding TEXT NOT NULL
);
CREATE TABLE attendance (
    id INTEGER PRIMARY KEY,
    enrolment_id INTEGER NOT NULL REFERENCES enrolments(id),
    session_date DATE NOT NULL,
    mode TEXT NOT NULL,
    duration_minutes INTEGER NOT NULL,
    signed BOOLEAN NOT NULL
);
CREATE TABLE level_tests (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    taken_on DATE NOT NULL,
    subject TEXT NOT NULL,
    score INTEGER NOT NULL,
    level TEXT NOT NULL
);
CREATE TABLE invoices (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    enrolment_id INTEGER REFERENCES enrolments(id),
    number TEXT NOT NULL,
    issued_on DATE NOT NULL,
    billed_to TEXT NOT NULL,
    amount_eur REAL NOT NULL,
    paid BOOLEAN NOT NULL,
    payment_method TEXT NOT NULL
);
"""

INDEXES = """
CREATE UNIQUE INDEX accounts_email_lower ON accounts(lower(email));
CREATE INDEX accounts_visitor ON accounts(visitor_id);
CREATE INDEX enrolments_account ON enrolments(account_id);
CREATE INDEX attendance_enrolment ON attendance(enrolment_id);
CREATE INDEX level_tests_account ON level_tests(account_id);
CREATE INDEX invoices_account ON invoices(account_id);
CREATE INDEX invoices_enrolment ON invoices(enrolment_id);
CREATE UNIQUE INDEX invoices_number ON invoices(number);
"""

CHUNK = 2000
_LANGUAGES = ("Anglais", "Espagnol", "Français")
_CEFR = ("A1", "A2", "B1", "B2", "C1")
_SKILL = ("débutant", "intermédiaire", "avancé")
_PAYMENT = {
    "personnel": ("Vous-même", "carte bancaire (Stripe)"),
    "CPF": ("Caisse des Dépôts (Mon Compte Formation)", "CPF"),
    "OPCO": ("OPCO (prise en charge)", "virement"),
    "France Travail": ("France Travail", "aide individuelle à la formation"),
}
_COURSE = {course[0]: course for course in COURSES}


def open_for_build(path: Path) -> sqlite3.Connection:
    """A new SQLite file set up for a bulk load (no journal, no fsync: a crash means
    generating again, which is fine for a file built in one go)."""
    path.unlink(missing_ok=True)
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache, whatever the population
    return con


def finish_build(con: sqlite3.Connection, indexes: str) -> None:
    """Create the indexes once the rows are in, gather planner statistics, close."""
    con.executescript(indexes)
    con.execute("ANALYZE")
    con.close()


def write_platform(path: Path, people: int, seed: int) -> dict[str, int]:
    """Write ``platform.sqlite`` for ``people`` account holders. Returns row counts."""
    con = open_for_build(path)
    con.executescript(SCHEMA)
    counts = dict.fromkeys(("accounts", "enrolments", "attendance", "level_tests",
                            "invoices"), 0)
    builder = _Builder(seed)
    con.execute("BEGIN")
    for start in range(0, people, CHUNK):
        rows = builder.chunk(start, min(start + CHUNK, people), people)
        for table, table_rows in rows.items():
            marks = ",".join("?" * len(table_rows[0])) if table_rows else ""
            if table_rows:
                con.executemany(f"INSERT INTO {table} VALUES ({marks})", table_rows)  # noqa: S608
                counts[table] += len(table_rows)
    con.execute("COMMIT")
    finish_build(con, INDEXES)
    logger.info("platform.sqlite written: %s", counts)
    return counts


class _Builder:
    """Makes the rows of a range of people; ids run on across chunks."""

    def __init__(self, seed: int):
        self.seed = seed
        self.rng = random.Random(f"platform:{seed}")
        self.ids = {"enrolments": 0, "attendance": 0, "level_tests": 0, "invoices": 0}

    def next_id(self, table: str) -> int:
        self.ids[table] += 1
        return self.ids[table]

    def chunk(self, start: int, stop: int, people: int) -> dict[str, list[tuple]]:
        rows: dict[str, list[tuple]] = {"accounts": [], "enrolments": [], "attendance": [],
                                        "level_tests": [], "invoices": []}
        for i in range(start, stop):
            p = person(i, self.seed, people)
            rows["accounts"].append(self.account(p))
            for enrolment in self.enrolments(p):
                rows["enrolments"].append(enrolment)
                rows["attendance"].extend(self.attendance(enrolment))
                rows["level_tests"].extend(self.level_test(p, enrolment))
                rows["invoices"].extend(self.invoice(p, enrolment))
        return rows

    def account(self, p: Person) -> tuple:
        last_login = p.created_ts + int(self.rng.random() * (AS_OF_TS - p.created_ts))
        return (p.account_id, p.email, p.first_name, p.last_name, p.birth_date, p.phone,
                p.address, p.postal_code, p.city, p.profession, p.employer_name, p.bio or None,
                p.visitor_id, _password_hash(p.index, self.seed), p.created_at,
                stamp(last_login), 0)  # nobody's processing restricted yet

    def enrolments(self, p: Person) -> Iterator[tuple]:
        rand = self.rng.random
        chosen = showcase.PEOPLE[p.index]["courses"] if p.showcase else ()
        count = len(chosen) or _pick(_ENROLMENT_COUNTS, rand())
        day = _ordinal(p.created_at[:10]) + 1 + int(rand() * 59)
        for n in range(count):
            course = _COURSE[chosen[n]] if chosen else COURSES[int(rand() * len(COURSES))]
            code, title, hours, _price, _subject = course
            funding = FUNDINGS[int(rand() * len(FUNDINGS))]
            if funding == "entreprise" and p.employer is None:
                funding = "personnel"
            end = day + 7 * max(1, hours // 7)
            if day > _AS_OF_DAY:
                status = "a_venir"
            elif end > _AS_OF_DAY:
                status = "en_cours"
            else:
                status = "abandonnee" if rand() < 0.08 else "terminee"
            yield (self.next_id("enrolments"), p.account_id, code, title, hours, _iso(day),
                   status, funding)
            day = end + 20 + int(rand() * 380)
            if day > _AS_OF_DAY + 60:
                break

    def attendance(self, enrolment: tuple) -> Iterator[tuple]:
        rand = self.rng.random
        enrolment_id, hours, started, status = (enrolment[0], enrolment[4], enrolment[5],
                                                enrolment[6])
        if status == "a_venir":
            return
        sessions = min(6, max(1, hours // 7))
        if status == "abandonnee":
            sessions = max(1, sessions // 2)
        day = _ordinal(started)
        mode = "présentiel" if rand() < 0.3 else "classe virtuelle"
        full = 420 if hours >= 14 else 210
        for _ in range(sessions):
            if day > _AS_OF_DAY:
                break
            late = rand()
            minutes = full - (15 * (1 + int(late * 40)) if late < 0.1 else 0)  # came late
            self.ids["attendance"] += 1
            yield (self.ids["attendance"], enrolment_id, _iso(day), mode, minutes,
                   rand() < 0.97)
            day += _GAPS[int(rand() * len(_GAPS))]

    def level_test(self, p: Person, enrolment: tuple) -> Iterator[tuple]:
        rand = self.rng.random
        subject = _COURSE[enrolment[2]][4]
        if not subject or (rand() > 0.7 and p.showcase is None):
            return
        score = 5 + int(rand() * 95)
        scale = (_CEFR, 20) if subject in _LANGUAGES else (_SKILL, 34)
        level = scale[0][min(len(scale[0]) - 1, score // scale[1])]
        taken = _ordinal(enrolment[5]) - 1 - int(rand() * 14)
        yield (self.next_id("level_tests"), p.account_id, _iso(taken), subject, score, level)

    def invoice(self, p: Person, enrolment: tuple) -> Iterator[tuple]:
        rand = self.rng.random
        enrolment_id, code, started, status, funding = (enrolment[0], enrolment[2],
                                                         enrolment[5], enrolment[6],
                                                         enrolment[7])
        if status == "a_venir" and funding != "personnel":
            return
        if funding == "entreprise":
            billed_to, method = EMPLOYERS[p.employer][0], "virement"
        else:
            billed_to, method = _PAYMENT[funding]
            if funding == "personnel":
                billed_to = f"{p.first_name} {p.last_name}"
        issued = _ordinal(started) - int(rand() * 10)
        paid = issued < _AS_OF_DAY - 30 or rand() < 0.6
        invoice_id = self.next_id("invoices")
        issued_on = _iso(issued)
        yield (invoice_id, p.account_id, enrolment_id, f"FA-{issued_on[:4]}-{invoice_id:07d}",
               issued_on, billed_to, float(_COURSE[code][3]), paid, method)


_AS_OF_DAY = AS_OF.date().toordinal()
_ENROLMENT_COUNTS = ((0.15, 0), (0.60, 1), (0.85, 2), (0.95, 3), (1.01, 4))
_GAPS = (1, 2, 7, 7, 14)


def _pick(cumulative: tuple[tuple[float, int], ...], draw: float) -> int:
    for bound, value in cumulative:
        if draw < bound:
            return value
    return cumulative[-1][1]


@lru_cache(maxsize=8192)
def _iso(ordinal: int) -> str:
    return date.fromordinal(ordinal).isoformat()


@lru_cache(maxsize=8192)
def _ordinal(iso: str) -> int:
    return date.fromisoformat(iso[:10]).toordinal()


def _password_hash(i: int, seed: int) -> str:
    """An Argon2id-shaped hash (random bytes: no password behind it)."""
    raw = draws(i, seed, b"pw", 48).to_bytes(48, "little")
    salt = base64.b64encode(raw[:16]).decode().rstrip("=")
    digest = base64.b64encode(hashlib.sha256(raw).digest()).decode().rstrip("=")
    return f"$argon2id$v=19$m=65536,t=3,p=4${salt}${digest}"
