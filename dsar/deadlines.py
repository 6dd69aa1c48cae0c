"""Legal response deadlines for data-subject requests (GDPR Art. 12(3)).

This module implements rules D1-D8 of docs/legal-rules.md:

* D1 -- Day 0 is the Europe/Paris calendar date on which the request reached any official
  channel (:func:`paris_date`).
* D2 -- Day 0 is not counted.
* D3 -- one month ends on the same day-of-month in the next month, or on the last day of that
  month when that day does not exist (:func:`add_months`).
* D4 -- an end day falling on a Saturday, Sunday or public holiday moves to the next day that is
  none of these (:func:`next_working_day`).
* D5 -- public holidays come from the maintained ``holidays`` library: metropolitan France
  (calendar ``"FR"``) or Alsace-Moselle (``"FR-ALSACE-MOSELLE"``, which adds Good Friday and
  26 December). A "pont" day is an ordinary working day.
* D6 -- the one-month date is also the last day to notify an extension or a refusal
  (:func:`extension_deadline`).
* D7 -- the extended deadline is receipt + 3 months computed as one period
  (:func:`due_date` with ``extended=True``); the "one-month end + 2 months" reading is kept as
  an internal target (:func:`extension_target`).
* D8 -- identity pauses suspend the clock (:func:`pause_days`, :func:`effective_due_date`).

All functions are pure and work on :class:`datetime.date` values; holiday look-ups are cached
per calendar and year because dashboards call them for very many cases.
"""

from __future__ import annotations

import calendar as _calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

__all__ = [
    "CALENDARS",
    "DEFAULT_CALENDAR",
    "PARIS",
    "Deadlines",
    "Pause",
    "add_months",
    "compute_deadlines",
    "due_date",
    "effective_due_date",
    "extension_deadline",
    "extension_target",
    "is_holiday",
    "is_working_day",
    "next_working_day",
    "paris_date",
    "pause_days",
]

PARIS = ZoneInfo("Europe/Paris")

DEFAULT_CALENDAR = "FR"

#: Supported calendar names -> ``subdiv`` argument of :class:`holidays.France`.
#: ``None`` is metropolitan France; ``"57"`` (Moselle) carries the Alsace-Moselle local law
#: holidays (Good Friday and 26 December), which are identical in Bas-Rhin and Haut-Rhin.
_SUBDIVISIONS: dict[str, str | None] = {
    "FR": None,
    "FR-ALSACE-MOSELLE": "57",
}

#: The calendar names accepted by every ``calendar=`` argument of this module.
CALENDARS: tuple[str, ...] = tuple(_SUBDIVISIONS)

#: One identity pause: (date the question was sent, date the answer arrived or ``None`` if the
#: pause is still open).
Pause = tuple[date, date | None]

_ONE_MONTH = 1
_EXTENDED_MONTHS = 3  # Art. 12(3): one month + "two further months", as one period (D7).
_EXTENSION_FURTHER_MONTHS = 2


# --------------------------------------------------------------------------- calendars (D4, D5)


def _check_calendar(calendar: str) -> str | None:
    """Return the ``holidays`` subdivision for *calendar*, or raise :class:`ValueError`."""
    try:
        return _SUBDIVISIONS[calendar]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown holiday calendar {calendar!r}; expected one of {', '.join(CALENDARS)}"
        ) from None


@lru_cache(maxsize=1024)
def _holidays_in_year(calendar: str, year: int) -> frozenset[date]:
    """Immutable, cached set of the public holidays of *year* in *calendar* (D5).

    This is the holiday cache of the module (one entry per calendar and year). It is built from
    a single-year ``holidays.France`` object and frozen, so concurrent requests never share a
    ``holidays`` object that mutates itself when it lazily expands to new years, and a
    ``frozenset`` membership test is the cheapest look-up on hot paths. An unknown calendar
    raises :class:`ValueError`.
    """
    subdiv = _check_calendar(calendar)
    return frozenset(holidays.France(years=year, subdiv=subdiv).keys())


def is_holiday(day: date, calendar: str = DEFAULT_CALENDAR) -> bool:
    """Return whether *day* is a public holiday in *calendar* (D5)."""
    day = _as_date(day, "day")
    return day in _holidays_in_year(calendar, day.year)


def is_working_day(day: date, calendar: str = DEFAULT_CALENDAR) -> bool:
    """Return whether *day* is neither a Saturday, a Sunday nor a public holiday (D4, D5).

    A "pont" (a working day squeezed between a holiday and a weekend) is a working day.
    An unknown calendar raises :class:`ValueError`.
    """
    day = _as_date(day, "day")
    holidays_of_year = _holidays_in_year(calendar, day.year)  # validates calendar
    return day.weekday() < 5 and day not in holidays_of_year


def next_working_day(day: date, calendar: str = DEFAULT_CALENDAR) -> date:
    """Return *day* itself if it is a working day, else the next working day (D4).

    Repeats as needed, so a holiday followed by a weekend (or a weekend followed by a holiday
    such as Easter Monday or Whit Monday) rolls over all of them.
    """
    day = _as_date(day, "day")
    while not is_working_day(day, calendar):
        day += timedelta(days=1)
    return day


# ----------------------------------------------------------------------------- dates (D1, D3)


def _as_date(value: date, name: str) -> date:
    """Reject datetimes (and non-dates): a datetime must go through :func:`paris_date` (D1)."""
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError(
            f"{name} must be a datetime.date (not {type(value).__name__}); "
            "convert instants with paris_date() first"
        )
    return value


def paris_date(moment: datetime) -> date:
    """Return the Europe/Paris calendar date of *moment* (D1: this date is Day 0).

    *moment* should be timezone-aware; a naive datetime is taken to be in UTC (how the database
    stores timestamps). Example: 2025-03-31T22:30Z is 2025-04-01 in Paris (CEST, UTC+2) and
    2025-01-31T23:30Z is 2025-02-01 (CET, UTC+1).
    """
    if not isinstance(moment, datetime):
        raise TypeError(f"moment must be a datetime.datetime, not {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(PARIS).date()


def add_months(day: date, months: int) -> date:
    """Return the same day-of-month *months* months later (D3), clamped to the month end.

    2025-01-31 + 1 month is 2025-02-28; 2024-01-30 + 1 month is 2024-02-29 (leap year).
    *months* may be zero or negative. No weekend/holiday adjustment is made here.
    """
    day = _as_date(day, "day")
    index = day.year * 12 + (day.month - 1) + months
    year, month0 = divmod(index, 12)
    month = month0 + 1
    last = _calendar.monthrange(year, month)[1]
    return date(year, month, min(day.day, last))


def _period_end(received_on: date, extended: bool) -> date:
    """Raw end of the period (D2 + D3), before any D4 roll-forward."""
    return add_months(received_on, _EXTENDED_MONTHS if extended else _ONE_MONTH)


# ------------------------------------------------------------------------ deadlines (D2-D7)


def due_date(
    received_on: date, *, extended: bool = False, calendar: str = DEFAULT_CALENDAR
) -> date:
    """Return the last day to answer a request received on *received_on* (Day 0).

    One month (D2, D3), or three months as a single period when *extended* (D7: Art. 12(3)
    "two further months" read as receipt + 3 months), then rolled forward past weekends and
    public holidays of *calendar* (D4, D5). Pauses are not considered here; see
    :func:`effective_due_date`.

    Examples: 2025-08-31 -> 2025-09-30; 2025-03-05 -> 2025-04-07 (5 April is a Saturday);
    2025-03-05 extended -> 2025-06-05.

    Raises :class:`ValueError` for an unknown calendar and :class:`TypeError` if
    *received_on* is a datetime (convert it with :func:`paris_date`).
    """
    _check_calendar(calendar)
    return next_working_day(_period_end(_as_date(received_on, "received_on"), extended), calendar)


def extension_target(received_on: date, *, calendar: str = DEFAULT_CALENDAR) -> date:
    """Return the internal "one-month end + 2 months" target of D7.

    The **unadjusted** end of the first month (D2, D3: no weekend roll yet), plus two months
    with D3, then D4 once. docs/legal-rules.md keeps this reading only as an internal target,
    shown where it differs from the legal extended deadline ``due_date(received_on,
    extended=True)``; month-end clamping makes it earlier, never later. Examples: received
    2025-10-31 -> 2025-11-30 -> 2026-01-30 (Friday), while the extended due date is Monday
    2026-02-02; received 2025-03-05 -> 2025-04-05 -> 2025-06-05, the same as the extended due
    date. (Built from the weekend-adjusted one-month date, as it once was, it gave 2025-06-10:
    later than the law's 2025-06-05.)
    """
    _check_calendar(calendar)
    one_month = _period_end(_as_date(received_on, "received_on"), False)
    return next_working_day(add_months(one_month, _EXTENSION_FURTHER_MONTHS), calendar)


# --------------------------------------------------------------------------------- pauses (D8)


def _pause_intervals(pauses: Iterable[Pause], today: date) -> list[tuple[date, date]]:
    """Validate *pauses* and return them as half-open ``[start, end)`` date intervals."""
    today = _as_date(today, "today")
    intervals: list[tuple[date, date]] = []
    for pause in pauses:
        start, end = pause
        start = _as_date(start, "pause start")
        if end is None:
            # Open pause: suspended up to today; a question "sent" in the future has not yet
            # suspended anything.
            end = max(today, start)
        else:
            end = _as_date(end, "pause end")
            if end < start:
                raise ValueError(f"pause ends ({end}) before it starts ({start})")
        intervals.append((start, end))
    return intervals


def pause_days(pauses: Iterable[Pause], *, today: date) -> int:
    """Return the number of calendar days the clock was suspended (D8).

    Each pause is ``(sent, answered)``: the date the request for more information was sent and
    the date the answer arrived, or ``None`` while no answer has arrived.

    Interpretation of "suspended from the day the question is sent to the day the answer
    arrives": a pause counts ``answered - sent`` days. The day the question is sent still counts
    as a running day (the clock stops at its end) and the day the answer arrives is, like Day 0
    under D2, not counted: the clock restarts the day after. So a question sent on Monday and
    answered on Wednesday suspends 2 days; an answer on the same day suspends 0 days.

    An open pause counts ``today - sent`` days (0 if *sent* is after *today*). Pauses are
    merged as half-open intervals ``[sent, answered)`` so overlapping pauses never count a day
    twice (back-to-back pauses simply add up). A closed pause whose answer predates its
    question raises :class:`ValueError`.
    """
    intervals = sorted(_pause_intervals(pauses, today))
    total = 0
    current_start: date | None = None
    current_end: date | None = None
    for start, end in intervals:
        if current_end is None or start > current_end:
            if current_start is not None and current_end is not None:
                total += (current_end - current_start).days
            current_start, current_end = start, end
        elif end > current_end:
            current_end = end
    if current_start is not None and current_end is not None:
        total += (current_end - current_start).days
    return total


def _shifted_due(received_on: date, extended: bool, paused: int, calendar: str) -> date:
    """D8: raw (pre-D4) period end + *paused* calendar days, then D4."""
    return next_working_day(_period_end(received_on, extended) + timedelta(days=paused), calendar)


def effective_due_date(
    received_on: date,
    *,
    extended: bool = False,
    pauses: Iterable[Pause] = (),
    today: date,
    calendar: str = DEFAULT_CALENDAR,
) -> date:
    """Return the due date once identity pauses are taken into account (D8).

    Interpretation of "new end = unpaused end + paused calendar days, then D4": the "unpaused
    end" is the *raw* end of the period (D2 + D3, before the D4 roll-forward); the paused days
    are added to it and D4 is applied once, at the end. Adding them to the already rolled
    due date would count a weekend/holiday roll-forward twice: received 2025-03-05, raw end
    Saturday 2025-04-05 (due Monday 04-07); with a 2-day pause the raw end + 2 is Monday
    2025-04-07 (not Wednesday 04-09).

    With no pauses (or only zero-length ones) this equals :func:`due_date`.
    """
    _check_calendar(calendar)
    received_on = _as_date(received_on, "received_on")
    return _shifted_due(received_on, extended, pause_days(pauses, today=today), calendar)


def extension_deadline(
    received_on: date,
    *,
    pauses: Iterable[Pause] = (),
    today: date,
    calendar: str = DEFAULT_CALENDAR,
) -> date:
    """Return the last day to notify an extension (with reasons) or a refusal (D6).

    This is the one-month deadline, including identity pauses:
    ``effective_due_date(received_on, extended=False, ...)``.
    """
    return effective_due_date(
        received_on, extended=False, pauses=pauses, today=today, calendar=calendar
    )


# ------------------------------------------------------------------------------------ display


@dataclass(frozen=True, slots=True)
class Deadlines:
    """The deadlines of one request, for display (status page, dashboards).

    ``due`` is the effective due date (pauses included, D8); ``unpaused_due`` is what it would
    be without pauses (always shown, D8). ``extension_target`` is the internal
    "one-month end + 2 months" date of D7, set only for an extended request and only where it
    differs from the unpaused extended due date; otherwise ``None``.
    """

    received_on: date
    due: date
    unpaused_due: date
    extended: bool
    extension_target: date | None
    paused_days: int


def compute_deadlines(
    received_on: date,
    *,
    extended: bool = False,
    pauses: Iterable[Pause] = (),
    today: date,
    calendar: str = DEFAULT_CALENDAR,
) -> Deadlines:
    """Compute all displayable deadlines of a request received on *received_on*."""
    _check_calendar(calendar)
    received_on = _as_date(received_on, "received_on")
    paused = pause_days(pauses, today=today)
    unpaused = due_date(received_on, extended=extended, calendar=calendar)
    due = _shifted_due(received_on, extended, paused, calendar) if paused else unpaused
    target: date | None = None
    if extended:
        candidate = extension_target(received_on, calendar=calendar)
        if candidate != unpaused:
            target = candidate
    return Deadlines(
        received_on=received_on,
        due=due,
        unpaused_due=unpaused,
        extended=bool(extended),
        extension_target=target,
        paused_days=paused,
    )
