"""Tests for dsar.deadlines (legal rules rule D8): clock pauses, the effective due date they give,
and the deadlines a case shows.

Every expected date below was worked out by hand from a printed calendar, never copied from the
function.
"""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import pytest

from dsar.deadlines import (
    Deadlines,
    compute_deadlines,
    due_date,
    effective_due_date,
    extension_deadline,
    pause_days,
)

D = date.fromisoformat
FR = "FR"
AM = "FR-ALSACE-MOSELLE"
TODAY = D("2025-12-01")  # irrelevant for closed pauses; pinned so nothing depends on the clock


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
        extension_target=None,  # 5 Apr + 2 months = 5 Jun: the unpaused date, not shown
        paused_days=2,
    )
    # 31 Oct 2025: the target (Fri 30 Jan 2026) is earlier than the law's Mon 2 Feb: shown.
    got = compute_deadlines(D("2025-10-31"), extended=True, today=TODAY)
    assert (got.unpaused_due, got.extension_target) == (D("2026-02-02"), D("2026-01-30"))


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
