"""Deadline reminders (D-7 and D-2) to the assignee and the DPOs, and the daily overdue digest.
Each is sent once: running the job again the same day sends nothing new."""

from __future__ import annotations

import logging
from datetime import date, timedelta

from sqlalchemy import select

from dsar.cases.clock import clock_running, today_in_paris
from dsar.extensions import db
from dsar.mail.outbox import commit_and_send, queue_email
from dsar.models import (
    Case,
    MailTemplate,
    OutboundEmail,
    StaffRole,
    StaffUser,
)

logger = logging.getLogger(__name__)

REMINDER_DAYS = (7, 2)


def _active_dpos() -> list[StaffUser]:
    return db.session.scalars(select(StaffUser).where(
        StaffUser.role == StaffRole.DPO, StaffUser.is_active_account.is_(True))).all()


def _sent_keys(template: MailTemplate, case_ids: list[int] | None = None) -> set[tuple]:
    """``(staff_id, case_id, key)`` of every ``template`` e-mail already queued (for the given
    cases), read in one query: each reminder and each day's digest goes out once."""
    query = select(OutboundEmail.recipient_staff_id, OutboundEmail.case_id,
                   OutboundEmail.payload).where(OutboundEmail.template == template)
    if case_ids is not None:
        query = query.where(OutboundEmail.case_id.in_(case_ids))
    return {(staff_id, case_id, (payload or {}).get("key"))
            for staff_id, case_id, payload in db.session.execute(query)}


def overdue_cases() -> list[Case]:
    """Cases whose due date has passed (Paris date) and whose clock runs, oldest due first."""
    return list(db.session.scalars(
        select(Case).where(clock_running(),
                           Case.due_on < today_in_paris()).order_by(Case.due_on, Case.id)))


def send_deadline_reminders(today: date | None = None) -> int:
    """Queue a reminder for every case due in exactly 7 or 2 days whose clock runs (not while
    paused for the requester), to its assignee and to every DPO. Returns how many."""
    today = today or today_in_paris()
    targets = [today + timedelta(days=d) for d in REMINDER_DAYS]
    cases = db.session.scalars(select(Case).where(
        clock_running(), Case.due_on.in_(targets))).all()
    dpos = _active_dpos()
    sent = _sent_keys(MailTemplate.STAFF_REMINDER, [case.id for case in cases])
    queued = []
    for case in cases:
        days_left = (case.due_on - today).days
        recipients = {dpo.id: dpo for dpo in dpos}
        if case.assignee is not None and case.assignee.is_active:
            recipients[case.assignee.id] = case.assignee
        key = f"D-{days_left}:{case.due_on.isoformat()}"
        for staff in recipients.values():
            if (staff.id, case.id, key) not in sent:
                queued.append(queue_email(case, MailTemplate.STAFF_REMINDER, staff=staff,
                                          payload={"days_left": days_left, "key": key}))
    commit_and_send(*queued)
    logger.info("queued %d deadline reminders", len(queued))
    return len(queued)


def send_overdue_digest(today: date | None = None) -> int:
    """Queue today's digest of overdue cases to every DPO, if any case is overdue."""
    today = today or today_in_paris()
    if not overdue_cases():
        return 0
    key = f"digest:{today.isoformat()}"
    sent = _sent_keys(MailTemplate.OVERDUE_DIGEST)
    queued = [queue_email(None, MailTemplate.OVERDUE_DIGEST, staff=dpo, payload={"key": key})
              for dpo in _active_dpos()
              if (dpo.id, None, key) not in sent]
    commit_and_send(*queued)
    return len(queued)
