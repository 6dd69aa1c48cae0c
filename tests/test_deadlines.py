"""Tests for dsar.deadlines (LEGAL.md rules D1-D8).

Every expected date below was worked out by hand from a printed calendar (weekday of the raw
period end, then the French public holidays of that year), never copied from the function.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from dsar import deadlines
from dsar.deadlines import (
    Deadlines,
    add_months,
    compute_deadlines,
    due_date,
    effective_due_date,
    extension_deadline,
    extension_target,
    is_holiday,
    is_working_day,
    next_working_day,
    paris_date,
    pause_days,
)

D = date.fromisoformat
FR = "FR"
AM = "FR-ALSACE-MOSELLE"
TODAY = D("2025-12-01")  # irrelevant for closed pauses; pinned so nothing depends on the clock


# --------------------------------------------------------------------------- LEGAL.md examples

# fmt: off
LEGAL_EXAMPLES = [
    # (received, extended, due) -- verbatim from LEGAL.md
    ("2025-08-31", False, "2025-09-30"),
    ("2025-03-05", False, "2025-04-07"),  # 5 Apr is a Saturday
    ("2025-07-15", False, "2025-08-18"),  # 15 Aug holiday, then the weekend
    ("2024-01-31", False, "2024-02-29"),
    ("2025-03-05", True, "2025-06-05"),  # extended
]
# fmt: on


@pytest.mark.parametrize(("received", "extended", "expected"), LEGAL_EXAMPLES)
def test_legal_examples(received: str, extended: bool, expected: str) -> None:
    assert due_date(D(received), extended=extended) == D(expected)


# ------------------------------------------------------------------- one-month table, FR (D2-D5)

# fmt: off
ONE_MONTH_FR = [
    # (received, due, why)
    # month ends (D3)
    ("2025-03-31", "2025-04-30", "31 -> 30-day month, clamped; Wed"),
    ("2025-05-31", "2025-06-30", "31 -> 30 June, Mon"),
    ("2025-10-30", "2025-12-01", "30 Nov 2025 is a Sunday -> Mon 1 Dec"),
    ("2025-01-30", "2025-02-28", "30 -> no 30 Feb, clamp to 28 (Fri)"),
    ("2025-01-29", "2025-02-28", "29 -> no 29 Feb in 2025, clamp to 28 (Fri)"),
    ("2025-02-28", "2025-03-28", "same day-of-month, NOT end of month (Fri)"),
    # leap years
    ("2024-01-29", "2024-02-29", "leap year: 29 Feb exists (Thu)"),
    ("2024-01-30", "2024-02-29", "leap year: clamp 30 -> 29 Feb (Thu)"),
    ("2023-01-31", "2023-02-28", "non-leap year: clamp to 28 Feb (Tue)"),
    ("2100-01-31", "2100-03-01", "2100 not leap: 28 Feb 2100 is a Sunday -> Mon 1 Mar"),
    ("2024-02-29", "2024-03-29", "29 Feb -> 29 Mar; Good Friday is no holiday in FR"),
    # year end
    ("2025-12-15", "2026-01-15", "December -> January across the year (Thu)"),
    ("2025-12-01", "2026-01-02", "1 Jan 2026 (Thu) holiday -> Fri 2 Jan (a pont, working)"),
    ("2025-11-25", "2025-12-26", "25 Dec 2025 (Thu) -> Fri 26 Dec (working in FR)"),
    ("2026-11-25", "2026-12-28", "25 Dec 2026 (Fri) then weekend -> Mon 28 Dec"),
    ("2026-12-31", "2027-02-01", "31 Jan 2027 is a Sunday -> Mon 1 Feb"),
    # weekends (D4)
    ("2025-10-15", "2025-11-17", "15 Nov 2025 is a Saturday -> Mon 17"),
    ("2025-10-16", "2025-11-17", "16 Nov 2025 is a Sunday -> Mon 17"),
    ("2025-03-01", "2025-04-01", "Day 0 on a Saturday does not matter (Tue end)"),
    # every metropolitan public holiday as the end day (D5)
    ("2025-03-21", "2025-04-22", "Easter Monday 21 Apr 2025 -> Tue 22"),
    ("2026-03-06", "2026-04-07", "Easter Monday 6 Apr 2026 -> Tue 7"),
    ("2025-04-01", "2025-05-02", "1 May 2025 (Thu) -> Fri 2 May"),
    ("2025-04-08", "2025-05-09", "8 May 2025 (Thu) -> Fri 9 May"),
    ("2025-04-29", "2025-05-30", "Ascension 29 May 2025 (Thu) -> Fri 30 (pont, working)"),
    ("2026-04-14", "2026-05-15", "Ascension 14 May 2026 (Thu) -> Fri 15"),
    ("2025-05-09", "2025-06-10", "Whit Monday 9 Jun 2025 -> Tue 10"),
    ("2026-04-25", "2026-05-26", "Whit Monday 25 May 2026 -> Tue 26"),
    ("2025-06-14", "2025-07-15", "14 Jul 2025 (Mon) -> Tue 15"),
    ("2024-07-15", "2024-08-16", "15 Aug 2024 (Thu) -> Fri 16"),
    ("2024-10-01", "2024-11-04", "1 Nov 2024 (Fri) then weekend -> Mon 4"),
    ("2025-10-11", "2025-11-12", "11 Nov 2025 (Tue) -> Wed 12"),
    # (1 Jan and 25 Dec are covered in the year-end block above)
    # chains (D4 "repeat as needed")
    ("2025-03-19", "2025-04-22", "Sat 19, Sun 20, Easter Monday 21 Apr -> Tue 22"),
    ("2025-05-07", "2025-06-10", "Sat 7, Sun 8, Whit Monday 9 Jun -> Tue 10"),
    # "pont" days are working days
    ("2025-04-02", "2025-05-02", "Fri 2 May 2025, pont after 1 May, is a working day"),
    ("2025-10-10", "2025-11-10", "Mon 10 Nov 2025, pont before 11 Nov, is a working day"),
    ("2026-06-13", "2026-07-13", "Mon 13 Jul 2026, pont before 14 Jul, is a working day"),
]
# fmt: on


@pytest.mark.parametrize(("received", "expected", "why"), ONE_MONTH_FR)
def test_one_month_due_date_fr(received: str, expected: str, why: str) -> None:
    assert due_date(D(received)) == D(expected), why
    assert due_date(D(received), calendar=FR) == D(expected), why


# ---------------------------------------------------------------------------- Alsace-Moselle

# fmt: off
ALSACE_VS_FR = [
    # (received, extended, due FR, due Alsace-Moselle, why)
    ("2025-03-18", False, "2025-04-18", "2025-04-22", "Good Friday 18 Apr, weekend, Easter Mon"),
    ("2025-11-26", False, "2025-12-26", "2025-12-29", "26 Dec 2025 (Fri) -> weekend -> Mon 29"),
    ("2025-11-25", False, "2025-12-26", "2025-12-29", "25 Dec (Thu), 26 Dec too in A-M -> Mon 29"),
    ("2024-02-29", False, "2024-03-29", "2024-04-02", "Good Friday 29 Mar 2024 + Easter Mon 1 Apr"),
    ("2025-09-25", True, "2025-12-26", "2025-12-29", "extended: 25 Dec, then 26 Dec in A-M"),
    ("2025-08-31", False, "2025-09-30", "2025-09-30", "ordinary Tuesday: identical in both"),
    ("2025-07-15", False, "2025-08-18", "2025-08-18", "15 Aug is common to both calendars"),
    ("2026-11-25", False, "2026-12-28", "2026-12-28", "26 Dec 2026 is a Saturday anyway"),
]
# fmt: on


@pytest.mark.parametrize(("received", "extended", "fr", "alsace", "why"), ALSACE_VS_FR)
def test_alsace_moselle_vs_fr(
    received: str, extended: bool, fr: str, alsace: str, why: str
) -> None:
    assert due_date(D(received), extended=extended, calendar=FR) == D(fr), why
    assert due_date(D(received), extended=extended, calendar=AM) == D(alsace), why


# ---------------------------------------------------------------------------------- extension

# fmt: off
EXTENDED = [
    # (received, extended due, why) -- receipt + 3 months as one period (D7)
    ("2025-03-05", "2025-06-05", "LEGAL example (Thu)"),
    ("2025-11-30", "2026-03-02", "30 Feb 2026 -> clamp 28 Feb (Sat) -> Sun 1 Mar -> Mon 2"),
    ("2024-11-29", "2025-02-28", "clamp 29 -> 28 Feb 2025 (not leap), Fri"),
    ("2023-11-30", "2024-02-29", "leap year clamp 30 -> 29 Feb 2024 (Thu)"),
    ("2025-10-31", "2026-02-02", "31 Jan 2026 (Sat) -> Sun -> Mon 2 Feb"),
    ("2025-09-25", "2025-12-26", "25 Dec (Thu) -> Fri 26"),
    ("2025-01-31", "2025-04-30", "31 -> 30 Apr (Wed)"),
    ("2025-12-31", "2026-03-31", "across the year, 31 Mar 2026 (Tue)"),
    ("2025-03-09", "2025-06-10", "Mon 9 Jun 2025 is Whit Monday -> Tue 10"),
]
# fmt: on


@pytest.mark.parametrize(("received", "expected", "why"), EXTENDED)
def test_extended_due_date(received: str, expected: str, why: str) -> None:
    assert due_date(D(received), extended=True) == D(expected), why


# fmt: off
EXTENSION_TARGETS = [
    # (received, one-month due, extension target, extended due, why)
    ("2025-03-05", "2025-04-07", "2025-06-10", "2025-06-05",
     "7 Jun (Sat), 8 Sun, 9 Whit Monday -> Tue 10: later than the extended due date"),
    ("2025-01-31", "2025-02-28", "2025-04-28", "2025-04-30",
     "month-end clamp loses days: target Mon 28 Apr is earlier than 30 Apr"),
    ("2025-12-31", "2026-02-02", "2026-04-02", "2026-03-31",
     "one month rolls 31 Jan (Sat) to 2 Feb; + 2 months = Thu 2 Apr"),
    ("2025-11-30", "2025-12-30", "2026-03-02", "2026-03-02",
     "same result: 30 Dec + 2 months -> 28 Feb (Sat) -> Mon 2 Mar"),
    ("2025-08-31", "2025-09-30", "2025-12-01", "2025-12-01",
     "same result: 30 Nov (Sun) -> Mon 1 Dec"),
]
# fmt: on


@pytest.mark.parametrize(
    ("received", "one_month", "target", "extended_due", "why"), EXTENSION_TARGETS
)
def test_extension_target(
    received: str, one_month: str, target: str, extended_due: str, why: str
) -> None:
    assert due_date(D(received)) == D(one_month), why
    assert extension_target(D(received)) == D(target), why
    assert due_date(D(received), extended=True) == D(extended_due), why


def test_extension_target_alsace_moselle() -> None:
    # one month: 18 Mar 2025 -> Fri 18 Apr, Good Friday in A-M -> Tue 22 Apr;
    # + 2 months -> Sun 22 Jun 2025 -> Mon 23 Jun. In FR: 18 Apr + 2 months -> Wed 18 Jun.
    assert extension_target(D("2025-03-18"), calendar=AM) == D("2025-06-23")
    assert extension_target(D("2025-03-18"), calendar=FR) == D("2025-06-18")


# ------------------------------------------------------------------------------- add_months

# fmt: off
ADD_MONTHS = [
    ("2025-01-31", 1, "2025-02-28", "clamp"),
    ("2024-01-31", 1, "2024-02-29", "leap clamp"),
    ("2000-01-31", 1, "2000-02-29", "2000 is a leap year (divisible by 400)"),
    ("2100-01-29", 1, "2100-02-28", "2100 is not (divisible by 100)"),
    ("2025-01-31", 13, "2026-02-28", "more than a year"),
    ("2025-03-31", -1, "2025-02-28", "negative months clamp too"),
    ("2025-12-15", 1, "2026-01-15", "year roll"),
    ("2025-11-30", 3, "2026-02-28", "one 3-month period, not 3 chained months"),
    ("2024-02-29", 12, "2025-02-28", "29 Feb + 1 year"),
    ("2025-04-05", 0, "2025-04-05", "zero months; no weekend adjustment here (Sat)"),
]
# fmt: on


@pytest.mark.parametrize(("day", "months", "expected", "why"), ADD_MONTHS)
def test_add_months(day: str, months: int, expected: str, why: str) -> None:
    assert add_months(D(day), months) == D(expected), why


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


# ------------------------------------------------------------------------------ pauses (D8)

# fmt: off
PAUSE_DAYS = [
    # (pauses, today, expected days, why)
    ([], "2025-03-20", 0, "no pause"),
    ([("2025-03-10", "2025-03-12")], "2025-03-20", 2, "sent Mon, answered Wed = 2 days"),
    ([("2025-03-10", "2025-03-10")], "2025-03-20", 0, "answered the same day"),
    ([("2025-03-10", None)], "2025-03-15", 5, "open pause counts up to today"),
    ([("2025-03-10", None)], "2025-03-10", 0, "open pause started today"),
    ([("2025-03-25", None)], "2025-03-15", 0, "open pause dated after today counts nothing"),
    (
        [("2025-03-10", "2025-03-15"), ("2025-03-12", "2025-03-20")],
        "2025-03-30", 10, "overlap merged: [10, 20) = 10, not 5 + 8",
    ),
    (
        [("2025-03-10", "2025-03-20"), ("2025-03-12", "2025-03-14")],
        "2025-03-30", 10, "contained pause adds nothing",
    ),
    (
        [("2025-03-10", "2025-03-12"), ("2025-03-12", "2025-03-15")],
        "2025-03-30", 5, "back-to-back pauses add up",
    ),
    (
        [("2025-03-10", "2025-03-11"), ("2025-03-01", "2025-03-03")],
        "2025-03-30", 3, "disjoint and unsorted",
    ),
    (
        [("2025-03-10", None), ("2025-03-15", "2025-03-25")],
        "2025-03-20", 15, "open pause overlapping a closed one: [10, 25)",
    ),
    (
        [("2025-03-10", "2025-03-12"), ("2025-03-10", "2025-03-12")],
        "2025-03-30", 2, "duplicate pause counted once",
    ),
]
# fmt: on


@pytest.mark.parametrize(("pauses", "today", "expected", "why"), PAUSE_DAYS)
def test_pause_days(pauses: list, today: str, expected: int, why: str) -> None:
    parsed = [(D(s), None if e is None else D(e)) for s, e in pauses]
    assert pause_days(parsed, today=D(today)) == expected, why
    assert pause_days(iter(parsed), today=D(today)) == expected, why  # any iterable


def test_pause_ending_before_it_starts_is_rejected() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        pause_days([(D("2025-03-12"), D("2025-03-10"))], today=TODAY)


# fmt: off
EFFECTIVE = [
    # (received, extended, pauses, today, calendar, effective due, unpaused due, why)
    ("2025-03-10", False, [("2025-03-17", "2025-03-19")], TODAY, FR, "2025-04-14", "2025-04-10",
     "raw end Thu 10 Apr + 2 = Sat 12 -> Mon 14 (shifted end on a weekend)"),
    ("2025-04-28", False, [("2025-05-05", "2025-05-06")], TODAY, FR, "2025-05-30", "2025-05-28",
     "raw end Wed 28 May + 1 = Ascension 29 -> Fri 30 (shifted end on a holiday)"),
    ("2025-03-05", False, [("2025-03-10", "2025-03-12")], TODAY, FR, "2025-04-07", "2025-04-07",
     "D8 reading: raw end Sat 5 Apr + 2 = Mon 7 Apr (rolled due + 2 would be Wed 9)"),
    ("2025-03-10", False, [("2025-03-20", None)], D("2025-03-25"), FR, "2025-04-15",
     "2025-04-10", "open pause: 5 days to today -> Tue 15 Apr"),
    ("2025-03-10", False, [("2025-03-20", "2025-03-24"), ("2025-03-22", "2025-03-27")], TODAY,
     FR, "2025-04-17", "2025-04-10", "overlap merged: [20, 27) = 7 days -> Thu 17 Apr"),
    ("2025-03-05", True, [("2025-03-10", "2025-03-13")], TODAY, FR, "2025-06-10", "2025-06-05",
     "extended: Thu 5 Jun + 3 = Sun 8, Whit Monday 9 -> Tue 10"),
    ("2025-03-14", False, [("2025-03-20", "2025-03-24")], TODAY, FR, "2025-04-18", "2025-04-14",
     "Mon 14 Apr + 4 = Good Friday 18 Apr: working in FR"),
    ("2025-03-14", False, [("2025-03-20", "2025-03-24")], TODAY, AM, "2025-04-22", "2025-04-14",
     "... but in Alsace-Moselle -> Sat, Sun, Easter Monday -> Tue 22"),
    ("2025-03-05", False, [("2025-03-10", "2025-03-10")], TODAY, FR, "2025-04-07", "2025-04-07",
     "zero-length pause changes nothing"),
]
# fmt: on


@pytest.mark.parametrize(
    ("received", "extended", "pauses", "today", "cal", "expected", "unpaused", "why"), EFFECTIVE
)
def test_effective_due_date(
    received: str,
    extended: bool,
    pauses: list,
    today: date,
    cal: str,
    expected: str,
    unpaused: str,
    why: str,
) -> None:
    parsed = [(D(s), None if e is None else D(e)) for s, e in pauses]
    got = effective_due_date(
        D(received), extended=extended, pauses=parsed, today=today, calendar=cal
    )
    assert got == D(expected), why
    assert due_date(D(received), extended=extended, calendar=cal) == D(unpaused), why
    shown = compute_deadlines(
        D(received), extended=extended, pauses=parsed, today=today, calendar=cal
    )
    assert (shown.due, shown.unpaused_due) == (D(expected), D(unpaused)), why


def test_d8_reading_adds_pause_to_the_raw_end_not_to_the_rolled_due_date() -> None:
    # Received Wed 5 Mar 2025: raw end Sat 5 Apr, unpaused due Mon 7 Apr. Question sent Mon
    # 10 Mar, answered Wed 12 Mar = 2 days. Raw end + 2 = Mon 7 Apr (working): the weekend the
    # unpaused date rolled over is absorbed by the pause. The other reading (rolled due date
    # + 2 days = Wed 9 Apr) would count that weekend twice.
    pauses = [(D("2025-03-10"), D("2025-03-12"))]
    got = effective_due_date(D("2025-03-05"), pauses=pauses, today=TODAY)
    assert got == D("2025-04-07")
    assert got != D("2025-04-09")


def test_effective_due_date_without_pauses_equals_due_date() -> None:
    day = D("2025-01-01")
    while day <= D("2025-12-31"):
        for extended in (False, True):
            assert effective_due_date(day, extended=extended, today=TODAY) == due_date(
                day, extended=extended
            )
        day += timedelta(days=1)


def test_extension_deadline_is_the_one_month_effective_due_date() -> None:
    # D6: even for a request later extended, the extension must be notified by the one-month
    # date, which identity pauses do push back (D8).
    assert extension_deadline(D("2025-03-05"), today=TODAY) == D("2025-04-07")
    pauses = [(D("2025-03-17"), D("2025-03-19"))]
    # received Mon 10 Mar: raw end Thu 10 Apr + 2 = Sat 12 -> Mon 14 Apr
    assert extension_deadline(D("2025-03-10"), pauses=pauses, today=TODAY) == D("2025-04-14")
    # Alsace-Moselle: 18 Mar -> Good Friday 18 Apr -> Tue 22 Apr
    assert extension_deadline(D("2025-03-18"), today=TODAY, calendar=AM) == D("2025-04-22")


# ------------------------------------------------------------------------- compute_deadlines


def test_compute_deadlines_extended_with_pause_and_target() -> None:
    pauses = [(D("2025-03-10"), D("2025-03-12"))]
    got = compute_deadlines(D("2025-03-05"), extended=True, pauses=pauses, today=TODAY)
    assert got == Deadlines(
        received_on=D("2025-03-05"),
        due=D("2025-06-10"),  # Thu 5 Jun + 2 = Sat 7 -> Sun 8 -> Whit Monday 9 -> Tue 10
        unpaused_due=D("2025-06-05"),
        extended=True,
        extension_target=D("2025-06-10"),  # differs from the unpaused 5 Jun, so shown
        paused_days=2,
    )


def test_compute_deadlines_target_hidden_where_it_does_not_differ() -> None:
    # 31 Aug 2025: extended and "one month + 2 months" both give Mon 1 Dec 2025.
    got = compute_deadlines(D("2025-08-31"), extended=True, today=TODAY)
    assert got.due == got.unpaused_due == D("2025-12-01")
    assert got.extension_target is None


def test_compute_deadlines_one_month_has_no_target() -> None:
    got = compute_deadlines(D("2025-03-05"), today=TODAY)
    assert got == Deadlines(D("2025-03-05"), D("2025-04-07"), D("2025-04-07"), False, None, 0)


def test_compute_deadlines_open_pause() -> None:
    # received Mon 10 Mar 2025, question 20 Mar still unanswered on 25 Mar: 5 days.
    pauses = [(D("2025-03-20"), None)]
    got = compute_deadlines(D("2025-03-10"), pauses=pauses, today=D("2025-03-25"))
    assert (got.due, got.unpaused_due, got.paused_days) == (D("2025-04-15"), D("2025-04-10"), 5)


def test_deadlines_is_frozen() -> None:
    got = compute_deadlines(D("2025-03-05"), today=TODAY)
    with pytest.raises(dataclasses.FrozenInstanceError):
        got.due = D("2030-01-01")  # type: ignore[misc]
