"""Tests for dsar.deadlines (legal rules D2-D7): the due date, one month or extended, in
mainland France and in Alsace-Moselle, the extension's target, and adding months.

Every expected date below was worked out by hand from a printed calendar (weekday of the raw
period end, then the French public holidays of that year), never copied from the function.
"""

from __future__ import annotations

from datetime import date

import pytest

from dsar.deadlines import add_months, due_date, extension_target

D = date.fromisoformat
FR = "FR"
AM = "FR-ALSACE-MOSELLE"


# --------------------------------------------------------------------------- legal rules examples

# fmt: off
LEGAL_EXAMPLES = [
    # (received, extended, due) -- verbatim from docs/legal-rules.md
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
    # (received, one-month due, extension target, extended due, why). The target starts from
    # the UNADJUSTED one-month end (D2, D3), then D4 once: never later than the law's date.
    ("2025-03-05", "2025-04-07", "2025-06-05", "2025-06-05",
     "5 Apr (Sat, not rolled) + 2 months = Thu 5 Jun: the extended due date itself"),
    ("2025-10-31", "2025-12-01", "2026-01-30", "2026-02-02",
     "30 Nov (clamped) + 2 months = Fri 30 Jan, earlier than 31 Jan (Sat) -> Mon 2 Feb"),
    ("2025-01-31", "2025-02-28", "2025-04-28", "2025-04-30",
     "month-end clamp loses days: target Mon 28 Apr is earlier than 30 Apr"),
    ("2025-12-31", "2026-02-02", "2026-03-31", "2026-03-31",
     "31 Jan (Sat, not rolled) + 2 months = Tue 31 Mar: the same"),
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
    # The one-month end (Fri 18 Apr 2025, Good Friday in A-M) is not rolled before the two
    # further months: Wed 18 Jun in both calendars. The holidays count at the end only: 26 Dec
    # (St Stephen's Day in A-M) -> Mon 29 Dec there, while FR keeps Fri 26 Dec.
    assert extension_target(D("2025-03-18"), calendar=AM) == D("2025-06-18")
    assert extension_target(D("2025-03-18"), calendar=FR) == D("2025-06-18")
    assert extension_target(D("2025-09-26"), calendar=AM) == D("2025-12-29")
    assert extension_target(D("2025-09-26"), calendar=FR) == D("2025-12-26")


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
