"""Today's date as the legal clock reads it (Europe/Paris), which tests and demonstrations can
freeze. The rules of the clock themselves are in :mod:`dsar.deadlines`."""

from __future__ import annotations

from datetime import date

from flask import current_app

from dsar import deadlines
from dsar.models.types import utcnow


def today_in_paris() -> date:
    """The Europe/Paris calendar date now: the date the legal clock reads. ``CLOCK_TODAY``
    (an ISO date, for tests and demonstrations only) replaces it, so time-dependent jobs are
    tested without waiting."""
    frozen = current_app.config.get("CLOCK_TODAY") if current_app else None
    if frozen:
        return date.fromisoformat(str(frozen))
    return deadlines.paris_date(utcnow())
