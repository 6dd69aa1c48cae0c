"""Tests for dsar.deadlines (legal rules D1, D4, D5): working days and public holidays by
calendar, and the Paris date of a moment.

Every expected date below was worked out by hand from a printed calendar, never copied from the
function.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from dsar import deadlines
from dsar.deadlines import (
    add_months,
    compute_deadlines,
    due_date,
    effective_due_date,
    is_holiday,
    is_working_day,
    next_working_day,
    paris_date,
)

D = date.fromisoformat
FR = "FR"
AM = "FR-ALSACE-MOSELLE"
TODAY = D("2025-12-01")  # pinned so nothing depends on the clock


# ------------------------------------------------------------------------- working days (D4/5)

# fmt: off
WORKING_DAYS = [
    # (day, calendar, working?, why)
    ("2025-05-02", FR, True, "pont Friday after 1 May"),
    ("2025-05-01", FR, False, "Labour Day"),
    ("2025-05-03", FR, False, "Saturday"),
    ("2025-05-04", FR, False, "Sunday"),
    ("2025-06-09", FR, False, "Whit Monday"),
    ("2025-04-18", FR, True, "Good Friday is a working day in FR"),
    ("2025-04-18", AM, False, "... but a holiday in Alsace-Moselle"),
    ("2025-12-26", FR, True, "26 Dec is a working day in FR"),
    ("2025-12-26", AM, False, "... but a holiday in Alsace-Moselle"),
    ("2025-11-11", AM, False, "national holidays apply in Alsace-Moselle too"),
    ("2026-05-14", FR, False, "Ascension 2026"),
    ("2026-04-06", FR, False, "Easter Monday 2026"),
]
# fmt: on


@pytest.mark.parametrize(("day", "cal", "working", "why"), WORKING_DAYS)
def test_is_working_day(day: str, cal: str, working: bool, why: str) -> None:
    assert is_working_day(D(day), cal) is working, why


def test_is_holiday_is_not_about_weekends() -> None:
    assert is_holiday(D("2025-05-01")) is True
    assert is_holiday(D("2025-05-03")) is False  # a Saturday, but no holiday
    assert is_holiday(D("2025-12-26"), AM) is True


def test_next_working_day() -> None:
    assert next_working_day(D("2025-04-07"), FR) == D("2025-04-07")  # Monday: itself
    assert next_working_day(D("2025-04-05"), FR) == D("2025-04-07")  # Saturday
    assert next_working_day(D("2025-04-18"), AM) == D("2025-04-22")  # Good Friday chain
    assert next_working_day(D("2025-12-25")) == D("2025-12-26")  # default calendar is FR


def test_every_due_date_is_the_first_working_day_on_or_after_the_raw_end() -> None:
    # Property check over three years of receipt dates, both calendars, both period lengths.
    day = D("2024-01-01")
    while day <= D("2026-12-31"):
        for cal in (FR, AM):
            for extended in (False, True):
                raw = add_months(day, 3 if extended else 1)
                due = due_date(day, extended=extended, calendar=cal)
                assert raw <= due <= raw + timedelta(days=5)
                assert is_working_day(due, cal)
                for offset in range((due - raw).days):
                    assert not is_working_day(raw + timedelta(days=offset), cal)
        day += timedelta(days=1)


# ---------------------------------------------------------------------------------- calendars


@pytest.mark.parametrize("bad", ["DE", "", "fr", "FR-57", "FR-ALSACE"])
def test_unknown_calendar_raises(bad: str) -> None:
    with pytest.raises(ValueError, match="unknown holiday calendar"):
        due_date(D("2025-03-05"), calendar=bad)
    with pytest.raises(ValueError):
        is_working_day(D("2025-03-05"), bad)
    with pytest.raises(ValueError):
        effective_due_date(D("2025-03-05"), today=TODAY, calendar=bad)
    with pytest.raises(ValueError):
        compute_deadlines(D("2025-03-05"), today=TODAY, calendar=bad)


def test_holidays_are_cached_per_calendar_and_year() -> None:
    deadlines._holidays_in_year.cache_clear()
    for _ in range(200):
        due_date(D("2025-03-05"))
        due_date(D("2025-03-05"), calendar=AM)
    info = deadlines._holidays_in_year.cache_info()
    assert info.misses == 2  # one build for (FR, 2025) and one for (A-M, 2025)
    assert info.hits > 0


def test_due_date_rejects_datetimes() -> None:
    # A datetime must go through paris_date() first (D1); silently using its UTC date is a bug.
    with pytest.raises(TypeError, match="paris_date"):
        due_date(datetime(2025, 3, 31, 22, 30, tzinfo=UTC))


# --------------------------------------------------------------------------- paris_date (D1)

# fmt: off
PARIS_DATES = [
    # (moment, Paris date, why)
    (datetime(2025, 3, 31, 22, 30, tzinfo=UTC), "2025-04-01", "summer (UTC+2): past midnight"),
    (datetime(2025, 3, 31, 21, 59, tzinfo=UTC), "2025-03-31", "summer: 23:59 in Paris"),
    (datetime(2025, 1, 31, 23, 30, tzinfo=UTC), "2025-02-01", "winter (UTC+1): past midnight"),
    (datetime(2025, 1, 31, 22, 59, tzinfo=UTC), "2025-01-31", "winter: 23:59 in Paris"),
    (datetime(2025, 1, 31, 23, 30), "2025-02-01", "naive datetimes are taken as UTC"),
    (datetime(2024, 12, 31, 23, 0, tzinfo=UTC), "2025-01-01", "exactly midnight New Year"),
    (datetime(2025, 3, 30, 0, 30, tzinfo=UTC), "2025-03-30", "DST switch night, 01:30 CET"),
    (datetime(2025, 10, 25, 22, 30, tzinfo=UTC), "2025-10-26", "00:30 CEST on switch-back day"),
    (
        datetime(2025, 6, 30, 23, 30, tzinfo=timezone(timedelta(hours=-5))),
        "2025-07-01",
        "other offsets are converted (04:30Z = 06:30 Paris)",
    ),
]
# fmt: on


@pytest.mark.parametrize(("moment", "expected", "why"), PARIS_DATES)
def test_paris_date(moment: datetime, expected: str, why: str) -> None:
    assert paris_date(moment) == D(expected), why


def test_paris_date_feeds_due_date() -> None:
    # Received 2025-01-31T23:30Z = 1 Feb in Paris -> due 1 Mar 2025 (Sat) -> Mon 3 Mar,
    # whereas the UTC date (31 Jan) would have given 28 Feb.
    assert due_date(paris_date(datetime(2025, 1, 31, 23, 30, tzinfo=UTC))) == D("2025-03-03")
