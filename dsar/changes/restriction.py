"""Lifting a restriction (Art. 18(3)): a DPO decides it, with a reason and a date; the person
is told *before* it happens, with that date; on that date a periodic job lifts it in every
source where it was applied (``lift_restriction``, the operation each collection declares) and
takes the person off the restriction register. A source that fails is tried again at the next
run; the register entry goes only once every source is lifted, so the organisation's tools
never see the person as free while a source still holds the flag (nor the reverse)."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import date

from flask_babel import format_date
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from dsar.cases.clock import today_in_paris
from dsar.cases.refusals import ActionRefused, required_text
from dsar.changes.execution import hash_key
from dsar.changes.plan import plan_of, step_operations, steps_of
from dsar.core.audit import record_event
from dsar.extensions import db
from dsar.mail.outbox import commit_and_send, queue_email
from dsar.models import (
    ActorType,
    Case,
    CaseKind,
    CaseStatus,
    ChangePlan,
    MailTemplate,
    PlanStatus,
    StaffUser,
    StepStatus,
)
from dsar.models.types import utcnow
from dsar.sources.base import SourceError
from dsar.sources.catalog import get_catalog

logger = logging.getLogger(__name__)


def can_lift(case: Case) -> bool:
    """Whether ``case`` is a restriction carried out and still in force."""
    if case.kind is not CaseKind.RESTRICTION or case.status is not CaseStatus.COMPLETED:
        return False
    plan = plan_of(case)
    return plan is not None and plan.status is PlanStatus.VERIFIED and plan.lifted_at is None


def announce_lift(case: Case, staff: StaffUser, lift_on: date | None, reason: str) -> None:
    """A DPO decides to lift the restriction on ``lift_on`` (after today: the person is told
    before, Art. 18(3)), with the reason the person reads. Announcing again moves the date
    (the person is told again). Caller checks the role; this commits and sends."""
    if not can_lift(case):
        raise ActionRefused(_l("Only a restriction carried out and still in force can be "
                               "lifted."))
    reason = required_text(reason, _l("Please give the reason for lifting the restriction."))
    if lift_on is None or lift_on <= today_in_paris():
        raise ActionRefused(_l("Choose a date after today: the person is told before the "
                               "restriction is lifted."))
    plan = plan_of(case)
    plan.lift_on, plan.lift_reason, plan.lift_by_id = lift_on, reason, staff.id
    plan.lift_announced_at = utcnow()
    record_event("restriction.lift_announced", case=case, actor_type=ActorType.STAFF,
                 actor_id=staff.id, payload={"lift_on": lift_on.isoformat()})
    commit_and_send(queue_email(case, MailTemplate.RESTRICTION_LIFT_NOTICE))


def lift_action(case: Case, staff: StaffUser, form) -> None:
    """The case page's "lift the restriction" action (DPO only)."""
    try:
        lift_on = date.fromisoformat((form.get("lift_on") or "").strip())
    except ValueError:
        lift_on = None
    announce_lift(case, staff, lift_on, form.get("reason"))


def lift_due(today: date | None = None) -> int:
    """Periodic: lift every announced restriction whose date has come; how many were lifted."""
    today = today or today_in_paris()
    due = db.session.scalars(select(ChangePlan.case_id).where(
        ChangePlan.lift_on.is_not(None), ChangePlan.lift_on <= today,
        ChangePlan.lift_announced_at.is_not(None), ChangePlan.lifted_at.is_(None))).all()
    return sum(lift(case_id) == "lifted" for case_id in due)


def lift(case_id: int, *, actor_id: str | None = None) -> str:
    """Lift one case's restriction in each source where it was applied, then take the person
    off the register. Returns ``lifted``, ``failed`` (tried again next run) or why nothing was
    done. Idempotent: the connectors' operations are, and the end is a compare-and-set."""
    case = db.session.get(Case, case_id)
    plan = plan_of(case) if case is not None else None
    if plan is None or plan.lifted_at is not None or plan.lift_announced_at is None:
        return "nothing"
    outcome, failed = {}, False
    catalog = get_catalog()
    for step in steps_of(case):
        if step.status is not StepStatus.DONE:
            continue
        operations = [replace(o, action="lift_restriction") for o in step_operations(step)
                      if o.action == "restrict"]
        if not operations:
            continue
        try:
            with catalog.connector(step.source) as connector:
                results = connector.carry_out(operations, hash_key=hash_key())
            outcome[step.source] = {"status": "done",
                                    "changed": sum(r.changed for r in results)}
        except SourceError as exc:
            failed = True
            outcome[step.source] = {"status": "failed", "error": str(exc)[:300]}
    plan.lift_outcome = outcome
    if failed:
        db.session.commit()
        logger.warning("case %s: a source could not lift the restriction; next run", case_id)
        return "failed"
    now = utcnow()
    done = db.session.execute(
        update(ChangePlan).where(ChangePlan.id == plan.id, ChangePlan.lifted_at.is_(None))
        .values(lifted_at=now, updated_at=now)
        .execution_options(synchronize_session=False)).rowcount
    if done != 1:
        db.session.rollback()
        return "superseded"
    from dsar.changes.restriction_register import lift_case

    lift_case(case)
    record_event("restriction.lifted", case=case, actor_type=ActorType.WORKER,
                 actor_id=actor_id, payload={"sources": sorted(outcome)})
    db.session.commit()
    return "lifted"


def lift_notice(case: Case) -> dict:
    """What the lift notice e-mail says: the date and the DPO's reason."""
    plan = plan_of(case)
    return {"lift_on": format_date(plan.lift_on, "long") if plan and plan.lift_on else "",
            "lift_reason": plan.lift_reason if plan else ""}
