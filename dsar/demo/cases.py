"""A few sample cases so the demo's back office has something to show (the full demo
organisation, with its data sources, comes with the sources issue)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from sqlalchemy import func, select

from ..extensions import db
from ..models import ActorType, Case, CaseKind, CaseStatus
from ..workflow import create_case, today_in_paris, transition

#: (name, e-mail, kind, days since receipt, status path)
SAMPLES = [
    ("Camille Martin", "camille.martin@example.fr", CaseKind.ACCESS, 27, ["confirmed"]),
    ("Léa Dubois", "lea.dubois@example.fr", CaseKind.ERASURE, 24, ["confirmed", "verified"]),
    ("Hugo Bernard", "hugo.bernard@example.fr", CaseKind.RECTIFICATION, 12, ["confirmed"]),
    ("Chloé Petit", "chloe.petit@example.fr", CaseKind.OBJECTION, 5, ["confirmed"]),
    ("Lucas Robert", "lucas.robert@example.fr", CaseKind.PORTABILITY, 35,
     ["confirmed", "verified", "in_progress"]),
    ("Manon Richard", "manon.richard@example.fr", CaseKind.ACCESS, 2, []),
    ("Nathan Durand", "nathan.durand@example.fr", CaseKind.RESTRICTION, 60,
     ["confirmed", "withdrawn"]),
    ("Inès Moreau", "ines.moreau@example.fr", CaseKind.POSTMORTEM_DIRECTIVE, 9, ["confirmed"]),
]


def seed_sample_cases() -> int:
    """Add the sample cases once (only into an empty database). Returns how many."""
    if db.session.scalar(select(func.count(Case.id))):
        return 0
    today = today_in_paris()
    for name, email, kind, age, path in SAMPLES:
        received_at = datetime.combine(today - timedelta(days=age), time(9, 30), tzinfo=UTC)
        number = f"HZ-{sum(map(ord, email)) * 37 % 99999:05d}"  # stable across runs
        case = create_case(kind=kind, requester_name=name, requester_email=email, language="fr",
                           received_at=received_at, identifiers={"customer_number": number})
        for step in path:
            transition(case, CaseStatus(step), actor_type=ActorType.SYSTEM,
                       payload={"demo": True})
    db.session.commit()
    return len(SAMPLES)
