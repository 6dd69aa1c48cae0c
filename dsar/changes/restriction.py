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
    ChangePlan,
    MailStatus,
    MailTemplate,
    OutboundEmail,
    PlanStatus,
    StaffUser,
)
from dsar.models.types import utcnow
from dsar.sources.base import SourceError
from dsar.sources.catalog import get_catalog

logger = logging.getLogger(__name__)


#: A restriction is in force from its approval until lifted, whatever became of its case (the
#: person may withdraw it while it is being carried out: the flags and the register stay until
#: a DPO lifts them, telling the person first).
IN_FORCE = (PlanStatus.APPROVED, PlanStatus.CARRIED_OUT, PlanStatus.VERIFIED,
            PlanStatus.REMAINS)


def can_lift(case: Case) -> bool:
    """Whether ``case`` is a restriction approved, closed (answered, withdrawn or refused
    since) and still in force."""
    if case.kind is not CaseKind.RESTRICTION or case.status.is_open:
        return False
    plan = plan_of(case)
    return plan is not None and plan.status in IN_FORCE and plan.lifted_at is None


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
    lifted = 0
    for case_id in due:
        try:
            lifted += lift(case_id, today=today) == "lifted"
        except Exception as exc:  # one case's fault must not hold back the others' lifts
            db.session.rollback()
            logger.error("case %s: the restriction could not be lifted (%s); next run",
                         case_id, type(exc).__name__)
    return lifted


def lift(case_id: int, *, today: date | None = None, actor_id: str | None = None) -> str:
    """Lift one case's restriction in each source where it was applied, then take the person
    off the register. Returns ``lifted``, ``failed`` (tried again next run) or why nothing was
    done: ``not-due`` before the date the person was told, or while that notice is not sent.
    Idempotent: the connectors' operations are, and the end is a compare-and-set on the very
    date and announcement read here (a DPO moving the date meanwhile wins)."""
    today = today or today_in_paris()
    case = db.session.get(Case, case_id)
    plan = plan_of(case) if case is not None else None
    if plan is None or plan.lifted_at is not None or plan.lift_announced_at is None:
        return "nothing"
    if plan.lift_on is None or plan.lift_on > today or not notice_sent(case, plan):
        return "not-due"  # Art. 18(3): told before, so never before the person was told
    announced, lift_on = plan.lift_announced_at, plan.lift_on
    kept = still_restricted(case)
    outcome, failed = {}, False
    catalog = get_catalog()
    for step in steps_of(case):
        # Every step that restricted something, whatever it recorded: the operation is
        # idempotent, and a step recorded failed may have flagged records all the same.
        operations = [replace(o, action="lift_restriction",
                              keys=tuple(k for k in o.keys
                                         if (step.source, o.collection, k) not in kept))
                      for o in step_operations(step) if o.action == "restrict"]
        operations = [o for o in operations if o.keys]
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
        update(ChangePlan).where(ChangePlan.id == plan.id, ChangePlan.lifted_at.is_(None),
                                 ChangePlan.lift_on == lift_on,
                                 ChangePlan.lift_announced_at == announced)
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


def notice_sent(case: Case, plan: ChangePlan) -> bool:
    """Whether the e-mail announcing this lift left (sent after it was announced)."""
    return db.session.scalar(select(OutboundEmail.id).where(
        OutboundEmail.case_id == case.id,
        OutboundEmail.template == MailTemplate.RESTRICTION_LIFT_NOTICE,
        OutboundEmail.status == MailStatus.SENT,
        OutboundEmail.created_at >= plan.lift_announced_at).limit(1)) is not None


def still_restricted(case: Case) -> set[tuple[str, str, str]]:
    """(source, collection, key) of the records another restriction still in force flagged
    (another restriction case, or an objection stopped by restricting): a lift leaves them
    flagged."""
    others = db.session.scalars(
        select(ChangePlan.case_id).join(Case, Case.id == ChangePlan.case_id).where(
            ChangePlan.case_id != case.id, ChangePlan.lifted_at.is_(None),
            ChangePlan.status.in_(IN_FORCE),
            Case.kind.in_([CaseKind.RESTRICTION, CaseKind.OBJECTION]))).all()
    kept = set()
    for other_id in others:
        for step in steps_of(db.session.get(Case, other_id)):
            kept.update((step.source, o.collection, k) for o in step_operations(step)
                        if o.action == "restrict" for k in o.keys)
    return kept


def lift_notice(case: Case) -> dict:
    """What the lift notice e-mail says: the date and the DPO's reason."""
    plan = plan_of(case)
    return {"lift_on": format_date(plan.lift_on, "long") if plan and plan.lift_on else "",
            "lift_reason": plan.lift_reason if plan else ""}
