"""Text to a column's value, for the ``sql`` connector: an identifier the person gave (a
search) or a record's key the search wrote (a plan's operations), checked strictly so that
``"01"`` never selects row 1 and ``"abc"`` never reaches an integer column; a new value an
update writes (:func:`column_value`); and a column's value as JSON (:func:`json_value`)."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any

INT_RE = re.compile(r"^[+-]?[0-9]+$")
NUMBER_RE = re.compile(r"^[+-]?[0-9]+(\.[0-9]+)?$")


def parse_key(key: str, columns: Sequence[Any]) -> Iterator[tuple]:
    """The column values ``key`` may stand for: for several columns, one tuple per way of
    cutting it at its colons that the types accept (a value may hold one: a time, a URL)."""
    cuts = [i for i, char in enumerate(key) if char == ":"]
    for chosen in itertools.combinations(cuts, len(columns) - 1):
        bounds = [-1, *chosen, len(key)]
        parts = [key[a + 1:b] for a, b in itertools.pairwise(bounds)]
        try:
            yield tuple(_parse(c, p) for c, p in zip(columns, parts, strict=True))
        except (ValueError, TypeError, ArithmeticError):  # InvalidOperation too
            continue  # not this cut, or no such value


def converter(column_: Any) -> Callable[[str], Any]:
    """How an identifier or a key part (text) becomes a value of ``column_``'s type: a
    function raising ``ValueError`` (or ``TypeError``, ``decimal.InvalidOperation``) for
    text that can be no value of it (``"abc"`` for an integer column; never a yes/no)."""
    python_type = column_type(column_)
    if python_type is bool:  # an identifier is never a yes/no column
        return lambda text: _checked(text, None)
    if python_type in (int, float, Decimal):
        pattern = INT_RE if python_type is int else NUMBER_RE
        return lambda text: python_type(_checked(text, pattern))
    return uuid.UUID if python_type is uuid.UUID else str


def _checked(text: str, pattern: re.Pattern[str] | None) -> str:
    # Python's own parsers are laxer than an identifier should be ("4_2", " 42", "nan").
    if pattern is None or not pattern.match(text):
        raise ValueError("no value of this column's type")
    return text


def column_type(column_: Any) -> type | None:
    """The Python type of ``column_``'s values, None for a type SQLAlchemy does not know."""
    try:
        return column_.type.python_type
    except NotImplementedError:
        return None  # a type SQLAlchemy does not know: compared as text


def _parse(column_: Any, text: str) -> Any:
    """A key part as the column's value: as :func:`converter`, dates and times too (a
    composite key may hold one; ``str()`` wrote it in ISO form)."""
    python_type = column_type(column_)
    if python_type in (dt.datetime, dt.date, dt.time):
        return python_type.fromisoformat(text)
    return converter(column_)(text)


def column_value(column_: Any, value: Any) -> Any:
    """A new value (JSON: text, number, yes/no, null; a TOML date) as a value of
    ``column_``'s type, for an update: text converted as :func:`converter` and
    :func:`_parse` do (``"1990-03-02"`` into a DATE column, ``"42"`` into an integer one), a
    yes/no from ``true``/``1``/``"true"``/``"1"`` and their opposites. Raises ``ValueError``
    (or ``TypeError``, ``decimal.InvalidOperation``) for a value that can be none of the
    column's (``"abc"`` for an integer, ``1.5`` for a whole number)."""
    if value is None:
        return None
    python_type = column_type(column_)
    if python_type is None or (python_type in (dict, list) and isinstance(value, dict | list)):
        return value  # a type SQLAlchemy does not know, or a JSON column: as given
    if isinstance(value, dict | list):
        raise TypeError("not a single value")
    if python_type is bool:
        return _yes_no(value)
    if python_type in (dt.datetime, dt.date, dt.time):
        if isinstance(value, python_type) and not (python_type is dt.date
                                                   and isinstance(value, dt.datetime)):
            return value
        if not isinstance(value, str):
            raise TypeError("not a date or time")
        return python_type.fromisoformat(value.strip())
    if python_type in (int, float, Decimal):
        if isinstance(value, bool):
            return python_type(int(value))  # a flag kept in a number column
        if isinstance(value, int | float):
            if python_type is int and value != int(value):
                raise ValueError("not a whole number")
            return python_type(str(value)) if python_type is Decimal else python_type(value)
        return converter(column_)(str(value).strip())
    if python_type is uuid.UUID:
        return uuid.UUID(str(value))
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()  # a date into a text column (SQLite's dates are text)
    return str(value).lower() if isinstance(value, bool) else str(value)


def _yes_no(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    text = value.strip().lower() if isinstance(value, str) else None
    if text in ("1", "true"):
        return True
    if text in ("0", "false"):
        return False
    raise ValueError("not a yes/no")


def json_value(value: Any) -> Any:
    """A database value as a JSON value (dates as ISO 8601, decimals and UUIDs as text)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value if not isinstance(v, bytes | memoryview)]
    return str(value)  # Decimal, UUID, timedelta, IP addresses, enums…
