"""Comparing a value a source holds with the value a change wants it to hold: whether an
update, a restriction or an unsubscription is already done (a second run changes nothing),
and what the verification still finds undone."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

_TRUE, _FALSE = frozenset({"1", "true"}), frozenset({"0", "false"})
_NUMBER_RE = re.compile(r"^[+-]?[0-9]+(\.[0-9]+)?$")


def same_value(stored: Any, wanted: Any) -> bool:
    """Whether a value as a source returns it already is ``wanted`` (an update's new value, a
    restriction's flag), leniently for type: a yes/no is ``True`` = ``1`` = ``"1"`` =
    ``"true"``; a number equals its text (``1.5`` and ``"1.50"``); a date or time compares
    as ISO text (``2024-01-02 10:00`` and ``2024-01-02T10:00`` alike). Text against text stays
    exact: ``"007"`` is not ``"7"``."""
    if stored is None or wanted is None:
        return stored is None and wanted is None
    if isinstance(stored, bool) or isinstance(wanted, bool):
        return _truth(stored) is not None and _truth(stored) == _truth(wanted)
    numbers = [v for v in (stored, wanted) if isinstance(v, int | float | Decimal)]
    if numbers:
        if len(numbers) == 2:
            return Decimal(str(stored)) == Decimal(str(wanted))
        text = wanted if numbers[0] is stored else stored
        return (isinstance(text, str) and bool(_NUMBER_RE.match(text.strip()))
                and Decimal(text.strip()) == Decimal(str(numbers[0])))
    return _iso_text(stored) == _iso_text(wanted)


def _truth(value: Any) -> bool | None:
    """A yes/no read leniently; None for a value that is neither."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower() if isinstance(value, str) else None
    return True if text in _TRUE else False if text in _FALSE else None


def _iso_text(value: Any) -> str:
    # A date or time as the ISO text JSON carries; SQLite's "2024-01-02 10:00:00" too.
    if isinstance(value, dt.date | dt.time):
        value = value.isoformat()
    text = str(value)
    return text.replace(" ", "T", 1) if _DATETIME_RE.match(text) else text


_DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}")
