"""The CHECK constraints of the closed vocabularies, written once from the Python values.

The models declare them (``__table_args__``) and the migrations create them with the same SQL,
so the database refuses a value the code does not know, whichever way the schema was built.
Columns typed with :func:`dsar.models.types.enum_column_type` get theirs from SQLAlchemy's
``Enum``, in the same form; this module serves the plain string columns and narrowed lists.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import CheckConstraint


def in_list_sql(column: str, values: Iterable[str]) -> str:
    """``column IN ('a', 'b')``: the condition of a CHECK, values in the order given.

    The values are the code's own identifiers (enum members, calendar names): a quote in one
    is a programming error, refused rather than escaped."""
    values = [str(v) for v in values]
    if not values or any("'" in v for v in values):
        raise ValueError(f"not a list of plain values for {column}: {values!r}")
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def value_check(name: str, column: str, values: Iterable[str]) -> CheckConstraint:
    """A named CHECK that ``column`` holds one of ``values``, for a model's ``__table_args__``.

    ``name`` is the short name: the metadata's naming convention makes it
    ``ck_<table>_<name>``, the name a migration gives the same constraint."""
    return CheckConstraint(in_list_sql(column, values), name=name)
