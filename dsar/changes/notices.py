"""Art. 19: once an erasure is carried out and verified, every recipient of the data in the
processing concerned (``register.toml``) is told, by e-mail to the address the register
declares (``notify_email``), or by staff, who record how (told by other means) or close the
notice as impossible or disproportionate with a reason the person reads. The certificate is
built once no notice is pending."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from dsar import pipeline
from dsar.cases.refusals import ActionRefused, required_text
from dsar.changes.plan import planned_collections
from dsar.core.audit import record_event
from dsar.extensions import db
from dsar.mail.outbox import queue_email
from dsar.models import (
    ActorType,
    Case,
    CaseKind,
    ChangePlan,
    MailTemplate,
    NoticeStatus,
    OutboundEmail,
    PlanStatus,
    RecipientNotice,
    StaffUser,
)
from dsar.models.types import utcnow
from dsar.sources.catalog import get_catalog

#: The outcomes staff may record by hand, with whether they need a reason.
STAFF_OUTCOMES = {NoticeStatus.NOTIFIED: False, NoticeStatus.IMPOSSIBLE: True,
                  NoticeStatus.DISPROPORTIONATE: True}


def notices_of(case: Case) -> list[RecipientNotice]:
    """The case's notices, by recipient."""
    return list(db.session.scalars(select(RecipientNotice).where(
        RecipientNotice.case_id == case.id).order_by(RecipientNotice.recipient)))


#: Plan actions that are no rectification, erasure or restriction (Art. 19 does not apply).
#: A deceased person's data left as it is is no change either (telling recipients would only
#: disclose the death).
NOT_NOTIFIED = frozenset({"retain", "not_restrictable", "unsubscribe", "left"})


def concerned_recipients(case: Case) -> list[str]:
    """The recipients of the processing that uses a source where the plan erased,
    anonymised, masked, corrected (or completed with a statement) or restricted something.
    Kept items were not changed, and an objection to marketing is no change to pass on:
    nobody is told of those."""
    # A restriction holds where a source cannot flag it too (the register): told all the same.
    told = NOT_NOTIFIED - ({"not_restrictable"} if case.kind is CaseKind.RESTRICTION else set())
    changed = {p.source for p in planned_collections(case) if p.action not in told}
    register = get_catalog().register
    names = {name for processing in register.for_sources(changed)
             for name in processing.recipients}
    return sorted(names)


def open_notices(case: Case) -> list[OutboundEmail]:
    """Create the case's notices (once) and queue the e-mails of those with an address, in
    the caller's transaction; returns the e-mails to send after the commit."""
    register = get_catalog().register
    existing = {n.recipient for n in notices_of(case)}
    mails = []
    for name in concerned_recipients(case):
        if name in existing:
            continue
        recipient = register.recipients[name]
        notice = RecipientNotice(case_id=case.id, recipient=name, status=NoticeStatus.PENDING,
                                 channel="email" if recipient.notify_email else None)
        db.session.add(notice)
        db.session.flush()
        if recipient.notify_email:
            mails.append(queue_email(case, MailTemplate.RECIPIENT_NOTICE,
                                     payload={"notice_id": notice.id}))
    return mails


def notice_address(notice_id: int) -> str | None:
    """Where the notice's e-mail goes: the register's address for its recipient."""
    notice = db.session.get(RecipientNotice, notice_id)
    recipient = get_catalog().register.recipients.get(notice.recipient) if notice else None
    return recipient.notify_email if recipient else None


def all_decided(case_id: int) -> bool:
    """Whether no notice of the case is pending (the certificate can say how each ended)."""
    return db.session.scalar(select(RecipientNotice.id).where(
        RecipientNotice.case_id == case_id,
        RecipientNotice.status == NoticeStatus.PENDING).limit(1)) is None


def decide(case: Case, staff: StaffUser, form) -> None:
    """The case page's "notice" action: staff record a notice's outcome (told by other means,
    impossible or disproportionate with the reason); the certificate follows once none is
    pending."""
    notice = db.session.get(RecipientNotice, _int(form.get("notice_id")))
    if notice is None or notice.case_id != case.id:
        raise ActionRefused(_l("This recipient is not part of this request."))
    if notice.status is not NoticeStatus.PENDING:
        raise ActionRefused(_l("This notice was already recorded."))
    try:
        outcome = NoticeStatus(form.get("outcome") or "")
    except ValueError:
        outcome = None
    if outcome not in STAFF_OUTCOMES:
        raise ActionRefused(_l("Choose how the notice ended."))
    reason = (required_text(form.get("reason"), _l("Please write why the recipient cannot "
                                                     "be told."))
              if STAFF_OUTCOMES[outcome] else (form.get("reason") or "").strip() or None)
    notice.status, notice.reason, notice.channel = outcome, reason, notice.channel or "staff"
    notice.decided_by_id, notice.decided_at = staff.id, utcnow()
    record_event("notice.decided", case=case, actor_type=ActorType.STAFF, actor_id=staff.id,
                 payload={"recipient": notice.recipient, "outcome": str(outcome)})
    db.session.commit()
    if all_decided(case.id):
        pipeline.enqueue_certificate(case.id)


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def erasure_progress(case: Case, plan: ChangePlan | None) -> dict | None:
    """What the requester's status page says of a request that changes data: its kind, where
    the plan stands, what is kept and why, a restriction's announced or done lift, and the
    recipients told (names and outcomes only). None for other kinds or before the search
    ends. ``plan`` is the case's plan (``dsar.changes.plan.plan_of``), which the caller has
    read already."""
    if plan is None:
        return None
    from dsar.changes.objection import is_direct_marketing
    register = get_catalog().register
    kept = [p for p in planned_collections(case, plan) if p.kept] \
        if plan.status is PlanStatus.VERIFIED else []
    return {"stage": str(plan.status), "kept": kept, "kind": str(case.kind),
            "marketing": is_direct_marketing(case), "lift_on": plan.lift_on,
            "lift_reason": plan.lift_reason, "lifted_at": plan.lifted_at,
            "notices": [(register.recipients[n.recipient].legal_name
                         if n.recipient in register.recipients else n.recipient,
                         str(n.status), n.reason) for n in notices_of(case)]}
