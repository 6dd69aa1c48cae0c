"""The data of ``bench/dashboard.py``: 100,000 cases bulk-inserted with a realistic spread
(kinds, statuses, due dates, returning and serial requesters), in one of two profiles of where
the open cases sit in due-date order, and the staff who look at them.
"""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import insert, select, text

from dsar.core.tokens import REFERENCE_ALPHABET
from dsar.deadlines import due_date, paris_date
from dsar.extensions import db
from dsar.models import CLOSED_STATUSES, Case, CaseKind, CaseStatus, StaffRole, StaffUser

PASSWORD = "bench password, not a secret"
AGENT_EMAIL = "bench.agent@staff.example"

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
