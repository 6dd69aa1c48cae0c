"""The legal clock of a case: today's date as it reads it (Europe/Paris), which tests and
demonstrations can freeze, and a case's dates on it (pauses, the one-month mark, the due
date). The rules of the clock themselves are in :mod:`dsar.deadlines`."""

from __future__ import annotations

from datetime import date, timedelta

from flask import current_app
from sqlalchemy import and_, exists, func, select

from dsar import deadlines
from dsar.extensions import db
from dsar.models import CLOCK_RUNNING_STATUSES, Case, CaseStatus, ClockPause
from dsar.models.types import utcnow

#: "Due soon" on the dashboard and in the metrics: within this many days.
DUE_SOON_DAYS = 7


def today_in_paris() -> date:
    """The Europe/Paris calendar date now: the date the legal clock reads. ``CLOCK_TODAY``
    (an ISO date, for tests and demonstrations only) replaces it, so time-dependent jobs are
    tested without waiting."""
    frozen = current_app.config.get("CLOCK_TODAY") if current_app else None
    if frozen:
        return date.fromisoformat(str(frozen))
    return deadlines.paris_date(utcnow())


def pauses_of(case: Case) -> list[tuple[date, date | None]]:
    """The case's clock pauses as ``(first day, last day or None while it lasts)``."""
    return [(pause.started_on, pause.ended_on) for pause in case.pauses]


def case_deadlines(case: Case) -> deadlines.Deadlines:
    """The case's dates today: due date, days left, pauses (what the status page shows)."""
    return deadlines.compute_deadlines(
        case.received_on, extended=case.extended, pauses=pauses_of(case),
        today=today_in_paris(), calendar=case.calendar,
    )


def one_month_deadline(case: Case) -> date:
    """The last day to notify an extension or a refusal (docs/legal-rules.md D6), pauses
    included."""
    return deadlines.extension_deadline(
        case.received_on, pauses=pauses_of(case), today=today_in_paris(),
        calendar=case.calendar,
    )


def open_pause(case: Case) -> ClockPause | None:
    """The pause of ``case`` still open (a doubt about identity waiting for its answer)."""
    return next((p for p in case.pauses if p.ended_on is None), None)


def clock_running():
    """SQL condition: the case's legal clock runs now. Open, not a standing record, and no
    pause open: a case waiting for an answer to a question about its scope still runs, one
    waiting for an answer to a doubt about identity does not (docs/legal-rules.md D8)."""
    paused = exists().where(ClockPause.case_id == Case.id, ClockPause.ended_on.is_(None))
    return and_(Case.status.in_(CLOCK_RUNNING_STATUSES | {CaseStatus.NEEDS_INFO}), ~paused)


def overdue_and_soon(today: date) -> tuple[int, int]:
    """How many cases are past due, and how many fall due within a week: those waiting for
    the requester included, paused or not (a pause for a doubt about identity is shown on
    the row, with the date without it: docs/legal-rules.md D8)."""
    open_cases = Case.status.in_(CLOCK_RUNNING_STATUSES | {CaseStatus.NEEDS_INFO})
    overdue = db.session.scalar(select(func.count()).where(open_cases, Case.due_on < today))
    soon = db.session.scalar(select(func.count()).where(
        open_cases, Case.due_on >= today, Case.due_on <= today + timedelta(days=DUE_SOON_DAYS)))
    return overdue, soon
