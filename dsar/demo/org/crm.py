"""The CRM's own database (``crm.sqlite``, served by :mod:`dsar.demo.services.crm`): contacts,
notes and deals, as a Zoho-like CRM holds them.

Customers and prospects alike; a contact's ``customer_id`` links it to the platform account
when sales linked it (not always). Some customers have a second contact under their work
address, made when their employer bought a course: only the customer id ties it to them.
Salespeople type addresses as they come (``Jean.Dupont@…``). A trigram full-text index on
the e-mail column gives the API its fuzzy "contains" search at any size.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path

from dsar.demo.org import showcase
from dsar.demo.org.names import COURSES, CRM_OWNERS
from dsar.demo.org.people import AS_OF_TS, Person, as_typed, person, stamp, traits
from dsar.demo.org.platform import finish_build, open_for_build

logger = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE contacts (
    id INTEGER PRIMARY KEY,
    first_name TEXT,
    last_name TEXT NOT NULL,
    email TEXT,
    phone TEXT,
    company TEXT,
    job_title TEXT,
    city TEXT,
    lead_source TEXT,
    contact_type TEXT NOT NULL,
    owner TEXT NOT NULL,
    customer_id TEXT,
    created_time TEXT NOT NULL,
    modified_time TEXT NOT NULL,
    processing_restricted INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE notes (
    id INTEGER PRIMARY KEY,
    contact_id INTEGER NOT NULL REFERENCES contacts(id),
    title TEXT NOT NULL,
    content TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_time TEXT NOT NULL
);
CREATE TABLE deals (
    id INTEGER PRIMARY KEY,
    contact_id INTEGER NOT NULL REFERENCES contacts(id),
    deal_name TEXT NOT NULL,
    stage TEXT NOT NULL,
    amount REAL NOT NULL,
    closing_date TEXT NOT NULL,
    owner TEXT NOT NULL
);
CREATE VIRTUAL TABLE contacts_fts USING fts5(
    email, content='contacts', content_rowid='id', tokenize='trigram');
"""

INDEXES = """
INSERT INTO contacts_fts(contacts_fts) VALUES ('rebuild');
CREATE INDEX contacts_customer ON contacts(customer_id);
CREATE INDEX notes_contact ON notes(contact_id);
CREATE INDEX deals_contact ON deals(contact_id);
"""

#: Zoho record ids are long numbers shown as strings; ours count up from here.
ID_BASE = 5725767000000412000
CHUNK = 2000
_SOURCES = ("Site web", "Site web", "Salon Studyrama", "Recommandation", "Webinaire",
            "Partenaire OPCO", "Appel entrant")
_STAGES = ("Qualification", "Proposition envoyée", "Négociation", "Gagné", "Gagné", "Perdu")
_NOTES = (
    ("Appel", "Appel le {day} : intéressé(e) par « {course} », à rappeler dans un mois."),
    ("Devis", "Devis envoyé pour « {course} » ({price} € TTC). Relance prévue."),
    ("Financement", "Demande des informations sur le financement CPF de « {course} »."),
    ("Relance", "Relance par e-mail sans réponse."),
    ("Rendez-vous", "Visio le {day} : besoin de former son équipe ({course})."),
    ("Satisfaction", "Très satisfait(e) de la dernière session, envisage « {course} »."),
)


def write_crm(path: Path, people: int, seed: int) -> dict[str, int]:
    """Write ``crm.sqlite`` (customers and prospects). Returns row counts."""
    con = open_for_build(path)
    con.executescript(SCHEMA)
    rng = random.Random(f"crm:{seed}")
    counts = {"contacts": 0, "notes": 0, "deals": 0}
    state = {"contact": 0, "note": 0, "deal": 0}
    population = people + people // 10
    con.execute("BEGIN")
    for start in range(0, population, CHUNK):
        rows: dict[str, list[tuple]] = {"contacts": [], "notes": [], "deals": []}
        for i in range(start, min(start + CHUNK, population)):
            for contact, notes, deals in _contacts_of(i, people, seed, rng, state):
                rows["contacts"].append(contact)
                rows["notes"].extend(notes)
                rows["deals"].extend(deals)
        for table, table_rows in rows.items():
            if table_rows:
                marks = ",".join("?" * len(table_rows[0]))
                con.executemany(f"INSERT INTO {table} VALUES ({marks})", table_rows)  # noqa: S608
                counts[table] += len(table_rows)
    con.execute("COMMIT")
    finish_build(con, INDEXES)
    logger.info("crm.sqlite written: %s", counts)
    return counts


def _in_crm(i: int, people: int, seed: int) -> bool:
    luck = traits(i, seed) & 0xFF
    return luck < (90 if i < people else 180)  # 35 % of customers, 70 % of prospects


def _contacts_of(i: int, people: int, seed: int, rng: random.Random, state: dict):
    """The CRM contacts (with their notes and deals) of person ``i``, if any."""
    key = showcase.PEOPLE.get(i, {}).get("key")
    if key in ("C", "D") or (key is None and not _in_crm(i, people, seed)):
        return
    p = person(i, seed, people)
    rand = rng.random
    customer = p.account_id is not None
    linked = customer and (key is not None or rand() < 0.85)
    email = p.email
    if key is None and rand() < 0.05:
        email = as_typed(email)  # typed by a salesperson
    yield _contact(p, email, p.employer_name if rand() < 0.5 else None, linked, rand, state,
                   notes=3 if key == "A" else None, deals=2 if key == "A" else None)
    work = p.work_email and customer and (key == "A" or (key is None and rand() < 0.15))
    if work:
        # Made when the employer bought a course: the sales team linked it to the learner's
        # platform account, and nothing else ties it to her personal address.
        yield _contact(p, p.work_email, p.employer_name, True, rand, state,
                       notes=1 if key == "A" else None, deals=1 if key == "A" else None)


def _contact(p: Person, email: str, company: str | None, linked: bool, rand, state: dict,
             notes: int | None = None, deals: int | None = None):
    state["contact"] += 1
    contact_id = ID_BASE + state["contact"]
    created = p.created_ts - int(rand() * 30 * 86400)
    modified = min(AS_OF_TS, created + int(rand() * 700 * 86400))
    owner = CRM_OWNERS[int(rand() * len(CRM_OWNERS))]
    contact = (contact_id, p.first_name, p.last_name, email, p.phone, company, p.profession,
               p.city, _SOURCES[int(rand() * len(_SOURCES))],
               "Client" if p.account_id is not None else "Prospect", owner,
               str(p.account_id) if linked else None, _iso(created), _iso(modified), 0)
    note_rows = []
    for _ in range(int(rand() * 4) if notes is None else notes):
        state["note"] += 1
        title, text = _NOTES[int(rand() * len(_NOTES))]
        course = COURSES[int(rand() * len(COURSES))]
        at = _office_hours(created + int(rand() * max(1, modified - created)), rand())
        note_rows.append((ID_BASE + 500_000_000 + state["note"], contact_id, title,
                          text.format(day=stamp(at)[:10], course=course[1], price=course[3]),
                          owner, _iso(at)))
    deal_rows = []
    for _ in range((1 if rand() < 0.3 else 0) if deals is None else deals):
        state["deal"] += 1
        course = COURSES[int(rand() * len(COURSES))]
        seats = 1 if company is None else 1 + int(rand() * 8)
        closing = created + int(rand() * 200 * 86400)
        deal_rows.append((ID_BASE + 900_000_000 + state["deal"], contact_id,
                          f"{course[1]} – {company or p.last_name}",
                          _STAGES[int(rand() * len(_STAGES))], float(course[3] * seats),
                          stamp(closing)[:10], owner))
    return contact, note_rows, deal_rows


def _office_hours(ts: int, draw: float) -> int:
    """The same day, between 9:00 and 18:00 (salespeople write notes at work)."""
    return ts - ts % 86400 + 9 * 3600 + int(draw * 9 * 3600)


def _iso(ts: int) -> str:
    """Zoho's time format: ISO 8601 with the Paris offset (winter time, for simplicity)."""
    return stamp(ts).replace(" ", "T") + "+01:00"
