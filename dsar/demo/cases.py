"""A few sample cases so the demo's back office has something to show. The requesters are
people of the demo organisation (:mod:`dsar.demo.org`), so gathering finds their data: the
showcase people A-E first (A, Léa Fontaine, has data in all six sources), then a few of the
generated population (the first account ids exist whatever the population size)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from sqlalchemy import func, select

from dsar import pipeline
from dsar.cases.clock import today_in_paris
from dsar.cases.workflow import create_case, transition
from dsar.demo.org import MIN_PEOPLE, SHOWCASE
from dsar.demo.org.people import person
from dsar.extensions import db
from dsar.models import ActorType, Case, CaseKind, CaseStatus
from dsar.postmortem import directives
from dsar.search import gathering


def _showcase(key: str) -> tuple[str, str]:
    info = SHOWCASE[key]
    return f"{info['first_name']} {info['last_name']}", info["email"]


def _generated(index: int) -> tuple[str, str]:
    """A generated account holder (the demo's default seed; index < 50 exists at any size)."""
    someone = person(index, 2026, MIN_PEOPLE)
    return f"{someone.first_name} {someone.last_name}", someone.email


#: What the portal's form would have collected for a kind (``Case.details``).
DETAILS = {
    CaseKind.RECTIFICATION: {"data_to_correct": "Ma ville de résidence",
                             "correct_value": "Lyon (j'ai déménagé)"},
    CaseKind.OBJECTION: {"objection_target": "other",
                         "objection_reasons": "Je ne souhaite plus être suivie par votre CRM."},
    CaseKind.RESTRICTION: {"restriction_ground": "accuracy_contested"},
    CaseKind.ERASURE: {"erasure_ground": "no_longer_needed"},
    # Every category of the demo register erased, but the training record handed over to her
    # daughter and the invoices kept (the estate may need them).
    CaseKind.POSTMORTEM_DIRECTIVE: {
        **{f"category_{name}": "erase" for name in (
            "identification", "contact", "professional", "test_results", "authentication",
            "connection", "navigation", "commercial", "marketing", "correspondence",
            "account_status", "free_text")},
        "category_training": "hand_over", "category_financial": "keep",
        "directive_instructions": "Remettre mes attestations de formation à ma fille.",
        "trusted_person_name": "Élise Garnier", "trusted_person_email":
        "elise.garnier@example.fr", "consent": True},
}

#: (name, e-mail, kind, days since receipt, status path)
SAMPLES = [
    # Searched as soon as the worker starts: waits in review with all six sources.
    (*_showcase("A"), CaseKind.ACCESS, 27, ["confirmed", "verified", "in_progress"]),
    (*_showcase("B"), CaseKind.ERASURE, 24, ["confirmed", "verified"]),
    (*_showcase("C"), CaseKind.RECTIFICATION, 12, ["confirmed"]),
    (*_showcase("D"), CaseKind.OBJECTION, 5, ["confirmed"]),
    (*_generated(1), CaseKind.PORTABILITY, 35, ["confirmed", "verified", "in_progress"]),
    (*_showcase("E"), CaseKind.ACCESS, 2, []),
    (*_showcase("A"), CaseKind.PORTABILITY, 3, ["confirmed", "verified"]),
    (*_generated(2), CaseKind.RESTRICTION, 60, ["confirmed", "withdrawn"]),
    (*_generated(3), CaseKind.POSTMORTEM_DIRECTIVE, 9, ["confirmed"]),
]


def seed_sample_cases() -> int:
    """Add the sample cases once (only into an empty database). Returns how many."""
    if db.session.scalar(select(func.count(Case.id))):
        return 0
    today = today_in_paris()
    planned = []
    for name, email, kind, age, path in SAMPLES:
        received_at = datetime.combine(today - timedelta(days=age), time(9, 30), tzinfo=UTC)
        number = f"HZ-{sum(map(ord, email)) * 37 % 99999:05d}"  # stable across runs
        case = create_case(kind=kind, requester_name=name, requester_email=email, language="fr",
                           received_at=received_at, identifiers={"customer_number": number},
                           details=dict(DETAILS.get(kind, {})))
        for step in path:
            transition(case, CaseStatus(step), actor_type=ActorType.SYSTEM,
                       payload={"demo": True})
        if case.status is CaseStatus.IN_PROGRESS:
            planned.extend(gathering.prepare(case))
        directives.take_up(case)  # post-mortem directives: recorded once confirmed
    db.session.commit()
    pipeline.start(planned)  # the worker searches the sources once it is up
    return len(SAMPLES)
