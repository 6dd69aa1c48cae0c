"""The newsletter provider's own database (``newsletter.sqlite``, served by
:mod:`dsar.demo.services.newsletter`): contacts, list memberships and e-mail events, as a
Sendinblue/Brevo account holds them.

Addresses are stored as the person typed them in the sign-up form (``Lea.Fontaine@…``); the
provider searches them without regard to letter case. The consent proof (double opt-in date
and IP address) is kept with the contact. E-mail events are kept for twelve months.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime
from pathlib import Path

from dsar.demo.org import showcase
from dsar.demo.org.network import home_ip
from dsar.demo.org.people import AS_OF, AS_OF_TS, as_typed, person, stamp, traits
from dsar.demo.org.platform import finish_build, open_for_build

logger = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE lists (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE contacts (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL,
    first_name TEXT,
    last_name TEXT,
    sms TEXT,
    email_blacklisted BOOLEAN NOT NULL,
    optin_source TEXT NOT NULL,
    optin_ip TEXT,
    double_optin_at TEXT,
    created_at TEXT NOT NULL,
    modified_at TEXT NOT NULL
);
CREATE TABLE list_memberships (
    id INTEGER PRIMARY KEY,
    contact_id INTEGER NOT NULL REFERENCES contacts(id),
    list_id INTEGER NOT NULL REFERENCES lists(id),
    status TEXT NOT NULL,
    subscribed_at TEXT NOT NULL
);
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    contact_id INTEGER NOT NULL REFERENCES contacts(id),
    event TEXT NOT NULL,
    campaign TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    link TEXT
);
"""

INDEXES = """
CREATE INDEX contacts_email_lower ON contacts(lower(email));
CREATE INDEX memberships_contact ON list_memberships(contact_id);
CREATE INDEX events_contact ON events(contact_id);
"""

LISTS = ((1, "Newsletter mensuelle"), (2, "Offres et financements CPF"), (3, "Webinaires"),
         (4, "Professionnels de santé"), (5, "Anciens stagiaires"))
_MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
           "septembre", "octobre", "novembre", "décembre")
_THEMES = ((2, "Spécial CPF : financez votre prochaine formation"),
           (3, "Webinaire : l'IA générative au travail"),
           (4, "Soignants : nos formations certifiantes DPC"),
           (2, "Dernières places : sessions de la rentrée"),
           (3, "Webinaire : réussir sa reconversion"),
           (5, "Anciens stagiaires : -15 % sur votre prochaine formation"))
_SOURCES = ("Formulaire newsletter du site", "Case cochée à l'inscription", "Webinaire",
            "Salon Studyrama")
_LINKS = ("https://www.horizon-formation.example/formations",
          "https://www.horizon-formation.example/cpf",
          "https://www.horizon-formation.example/webinaires",
          "https://www.horizon-formation.example/blog/financer-sa-formation")
_EVENT_WINDOW = 365 * 86400
CHUNK = 2000


def _campaigns() -> list[tuple[int, str, int]]:
    """(sent at, name, list id): two campaigns a month over the last twelve months."""
    out = []
    year, month = AS_OF.year - 1, AS_OF.month
    for _ in range(13):
        for day, (list_id, name) in ((5, (1, None)), (19, _THEMES[month % len(_THEMES)])):
            sent = int((datetime(year, month, day, 10, 0) - datetime(1970, 1, 1))
                       .total_seconds())
            if AS_OF_TS - _EVENT_WINDOW <= sent <= AS_OF_TS:
                label = name or f"Newsletter Horizon – {_MONTHS[month - 1]} {year}"
                out.append((sent, label, list_id))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def write_newsletter(path: Path, people: int, seed: int) -> dict[str, int]:
    """Write ``newsletter.sqlite`` (subscribers among customers and prospects)."""
    con = open_for_build(path)
    con.executescript(SCHEMA)
    con.executemany("INSERT INTO lists VALUES (?, ?)", LISTS)
    rng = random.Random(f"newsletter:{seed}")
    campaigns = _campaigns()
    counts = {"contacts": 0, "list_memberships": 0, "events": 0}
    ids = {"contact": 0, "membership": 0, "event": 0}
    population = people + people // 10
    con.execute("BEGIN")
    for start in range(0, population, CHUNK):
        rows: dict[str, list[tuple]] = {"contacts": [], "list_memberships": [], "events": []}
        for i in range(start, min(start + CHUNK, population)):
            _subscriber(i, people, seed, rng, campaigns, ids, rows)
        for table, table_rows in rows.items():
            if table_rows:
                marks = ",".join("?" * len(table_rows[0]))
                con.executemany(f"INSERT INTO {table} VALUES ({marks})", table_rows)  # noqa: S608
                counts[table] += len(table_rows)
    con.execute("COMMIT")
    finish_build(con, INDEXES)
    logger.info("newsletter.sqlite written: %s", counts)
    return counts


def _subscriber(i: int, people: int, seed: int, rng: random.Random, campaigns, ids: dict,
                rows: dict) -> None:
    key = showcase.PEOPLE.get(i, {}).get("key")
    customer = i < people
    if key in ("C", "D"):
        return
    if key is None and (traits(i, seed) >> 8) & 0xFF >= (115 if customer else 155):
        return  # 45 % of customers, 60 % of prospects subscribed
    p = person(i, seed, people)
    rand = rng.random
    email = showcase.A_EMAIL_OTHER_CASE if key == "A" else p.email
    if key is None and rand() < 0.02:
        email = as_typed(email)
    created = p.created_ts + int(rand() * 200 * 86400) if key != "A" else p.created_ts + 3600
    created = min(created, AS_OF_TS - 86400)
    named = customer or rand() < 0.6
    unsubscribed = key is None and rand() < 0.12
    ids["contact"] += 1
    contact_id = ids["contact"]
    optin = created + 60 + int(rand() * 3000)
    rows["contacts"].append((
        contact_id, email, p.first_name if named else None, p.last_name if named else None,
        p.phone if rand() < 0.2 else None, unsubscribed,
        _SOURCES[int(rand() * len(_SOURCES))], home_ip(i, seed, optin // (90 * 86400)),
        _iso(optin), _iso(created), _iso(min(AS_OF_TS, created + int(rand() * 400 * 86400))),
    ))
    member_of = [1] if key is not None or rand() < 0.8 else []
    for list_id, chance in ((2, 0.4), (3, 0.3), (4, 0.15), (5, 0.2 if customer else 0.0)):
        if (key == "A" and list_id != 5) or rand() < chance:
            member_of.append(list_id)
    if not member_of:
        member_of.append(2)
    for list_id in member_of:
        ids["membership"] += 1
        rows["list_memberships"].append((ids["membership"], contact_id, list_id,
                                         "désinscrit" if unsubscribed else "inscrit",
                                         _iso(optin)))
    _events(contact_id, key, created, unsubscribed, member_of, campaigns, rand, ids, rows)


def _events(contact_id: int, key: str | None, created: int, unsubscribed: bool,
            member_of: list[int], campaigns, rand, ids: dict, rows: dict) -> None:
    lists = set(member_of)
    received = [c for c in campaigns if c[2] in lists and c[0] > created
                and (key is not None or rand() < 0.3)]
    events = rows["events"]
    for n, (sent, name, _list_id) in enumerate(received):
        ids["event"] += 1
        events.append((ids["event"], contact_id, "sent", name, _iso(sent), None))
        if rand() < 0.45 or key == "A":
            opened = sent + 60 + int(rand() * 2 * 86400)
            ids["event"] += 1
            events.append((ids["event"], contact_id, "opened", name, _iso(opened), None))
            if rand() < 0.25:
                ids["event"] += 1
                events.append((ids["event"], contact_id, "clicked", name,
                               _iso(opened + 5 + int(rand() * 120)),
                               _LINKS[int(rand() * len(_LINKS))]))
        if unsubscribed and n == len(received) - 1:
            ids["event"] += 1
            events.append((ids["event"], contact_id, "unsubscribed", name,
                           _iso(sent + 3600 + int(rand() * 86400)), None))


def _iso(ts: int) -> str:
    """Brevo's date format (UTC, milliseconds)."""
    return stamp(min(ts, AS_OF_TS)).replace(" ", "T") + ".000Z"
