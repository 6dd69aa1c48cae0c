"""The least-privilege table's worlds and expected effects for the rights carried out
(rectification, objection, restriction) and the post-mortem directives
(``tests/test_staff_roles.py``): what each allowed role's action must have done."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from dsar.cases.clock import today_in_paris
from dsar.changes import rectification
from dsar.extensions import db
from dsar.models import Case, CaseKind, ChangePlan, MailTemplate, OutboundEmail
from dsar.postmortem import directives
from tests.support.role_scenarios import World, events, redirected_to_case
from tests.support.staff import make_case


def _plan(world):
    return db.session.scalar(select(ChangePlan).where(ChangePlan.case_id == world.case_id))


def correction_added(app, world, staff, resp):
    redirected_to_case(world, resp)
    [correction] = rectification.items_of(_plan(world))["corrections"]
    assert (correction["field"], correction["new"]) == ("name", "Camille Martin-Leroy")
    assert len(events("plan.correction_added", staff.id)) == 1


def correction_removed(app, world, staff, resp):
    redirected_to_case(world, resp)
    items = rectification.items_of(_plan(world))
    assert items["corrections"] == [] and len(items["refused"]) == 1  # the DPO's refusal stays
    assert len(events("plan.correction_removed", staff.id)) == 1


def refusal_removed(app, world, staff, resp):
    redirected_to_case(world, resp)
    items = rectification.items_of(_plan(world))
    assert items["refused"] == [] and len(items["corrections"]) == 1
    assert len(events("plan.refusal_removed", staff.id)) == 1


def correction_refused(app, world, staff, resp):
    redirected_to_case(world, resp)
    [refused] = rectification.items_of(_plan(world))["refused"]
    assert refused["reason"] == "Conforme à la pièce d'identité."
    assert len(events("plan.correction_refused", staff.id)) == 1


def objection_decided(app, world, staff, resp):
    redirected_to_case(world, resp)
    assert _plan(world).decisions == {"customers": {"decision": "grounds",
                                                    "text": "Défense d'un litige en cours."}}
    assert len(events("plan.objection_decided", staff.id)) == 1


def lift_announced(app, world, staff, resp):
    redirected_to_case(world, resp)
    assert _plan(world).lift_on == today_in_paris() + timedelta(days=10)
    sent = db.session.scalars(select(OutboundEmail).where(
        OutboundEmail.case_id == world.case_id)).all()
    assert [row.template for row in sent] == [MailTemplate.RESTRICTION_LIFT_NOTICE]
    assert len(events("restriction.lift_announced", staff.id)) == 1


def a_directive_case(app) -> World:
    """Post-mortem directives, recorded (version 1)."""
    case = make_case(app, kind=CaseKind.POSTMORTEM_DIRECTIVE,
                     details={"category_contact": "erase", "consent": True})
    with app.app_context():
        assert directives.take_up(db.session.get(Case, case.id))
    return World(case.reference, case.id)


def search_directives(client, world: World, token: str):
    """Acting: search directives by the person's e-mail address."""
    return client.post("/staff/directives/search",
                       data={"csrf_token": token, "email": "camille.martin@example.fr"})


def directives_shown(app, world, staff, resp):
    assert resp.status_code == 200
    assert world.reference in resp.get_data(as_text=True)


def directives_found(app, world, staff, resp):
    directives_shown(app, world, staff, resp)
    assert [e.payload for e in events("directives.searched", staff.id)] == [
        {"email": True}]


def collection_chosen(app, world, staff, resp):
    redirected_to_case(world, resp)
    with app.app_context():
        assert _plan(world).decisions == {"shop/customers": "erase"}


def follow_up_recorded(app, world, staff, resp):
    redirected_to_case(world, resp)
    with app.app_context():
        case = db.session.get(Case, world.case_id)
        assert case.follow_up_at is not None and case.follow_up_note
