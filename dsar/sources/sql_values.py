"""Text to a column's value, for the ``sql`` connector: an identifier the person gave (a
search) or a record's key the search wrote (a plan's operations), checked strictly so that
``"01"`` never selects row 1 and ``"abc"`` never reaches an integer column."""

from __future__ import annotations

import datetime as dt
import itertools
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
