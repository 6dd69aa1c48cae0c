"""Set-ups of rectification, objection and restriction cases for the least-privilege table,
built on the erasure one (``tests/support/erasure_world``): the same shop, searched for real,
the plan drafted; a rectification with one correction mapped; an objection to a processing
based on legitimate interests; a restriction carried out and in force."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from dsar.changes import rectification
from dsar.changes.plan import plan_of
from dsar.core import storage
from dsar.extensions import db
from dsar.models import Case, CaseKind, CaseStatus, DeceasedMatch, PlanStatus
from tests.support.erasure_world import erasure_in_review
from tests.support.gathering import EMAIL
from tests.support.role_scenarios import World
from tests.support.staff import make_case


def _retyped(world: World, kind: CaseKind, details: dict | None = None) -> World:
    case = db.session.get(Case, world.case_id)
    case.kind, case.details = kind, details or {}
    db.session.commit()
    return world


def rectification_in_review(app) -> World:
    """A rectification in review whose search found her shop record."""
    world = erasure_in_review(app)
    with app.app_context():
        _retyped(world, CaseKind.RECTIFICATION, {"data_to_correct": "name",
                                                 "correct_value": "Camille Martin-Leroy"})
        case = db.session.get(Case, world.case_id)
        world.extra["token"] = next(t.token for t in rectification.targets(case)
                                    if t.field == "name")
    return world


def rectification_with_a_correction(app) -> World:
    """The same, with her name's correction mapped by an agent."""
    world = rectification_in_review(app)
    with app.app_context():
        case = db.session.get(Case, world.case_id)
        plan = plan_of(case)
        items = {"corrections": [{"id": "c0ffee01", "source": "shop", "collection": "customers",
                                  "key": "1", "field": "name", "old": "Camille Martin",
                                  "new": "Camille Martin-Leroy"}],
                 "refused": [{"id": "d0d0cafe", "what": "Date de naissance",
                              "reason": "Conforme à la pièce d'identité."}]}
        rectification._store(plan, items)
        db.session.commit()
        world.extra["item_id"] = "c0ffee01"
        world.extra["refusal_id"] = "d0d0cafe"
    return world


def objection_in_review(app) -> World:
    """An objection to the shop's prospecting (legitimate interests) in review."""
    world = erasure_in_review(app)
    register = Path(app.config["REGISTER_FILE"])
    register.write_text(register.read_text().replace('legal_basis = "contract"',
                                                     'legal_basis = "legitimate_interests"'))
    from dsar.sources import catalog

    catalog.init_app(app)
    with app.app_context():
        _retyped(world, CaseKind.OBJECTION, {"objection_target": "other",
                                             "objection_reasons": "Je ne suis plus cliente."})
    return world


def restriction_in_force(app) -> World:
    """A restriction carried out, verified and released: in force."""
    world = erasure_in_review(app)
    with app.app_context():
        _retyped(world, CaseKind.RESTRICTION, {"restriction_ground": "accuracy_contested"})
        case = db.session.get(Case, world.case_id)
        plan_of(case).status = PlanStatus.VERIFIED
        case.status = CaseStatus.COMPLETED
        db.session.commit()
    return world


def heir_request_in_review(app) -> World:
    """An heir's request about a deceased customer (no directives), searched: the DPO chooses
    what becomes of each collection within what the heir asked (closing the accounts)."""
    world = erasure_in_review(app)
    with app.app_context():
        _retyped(world, CaseKind.POSTMORTEM_EXECUTION, {
            "deceased_name": "Camille Martin", "requester_role": "heir",
            "heir_requests": ["close_accounts"]})
        db.session.add(DeceasedMatch(
            case_id=world.case_id, date_of_death=date(2026, 10, 3), outcome="heir",
            identity_sealed=storage.seal(json.dumps({"email": EMAIL, "customer_number": ""})
                                         .encode(), f"deceased_matches:{world.case_id}:identity")))
        db.session.commit()
    return world


def partial_answer_to_follow_up(app) -> World:
    """An access request answered without the billing source: its follow-up is to do."""
    case = make_case(app, status=CaseStatus.REVIEW)
    with app.app_context():
        row = db.session.get(Case, case.id)
        row.status, row.missing_sources = CaseStatus.COMPLETED, ["billing"]
        db.session.commit()
    return World(case.reference, case.id)
