"""Column helpers shared by the models."""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from sqlalchemy import DateTime, Enum, TypeDecorator


def utcnow() -> datetime:
    """The current instant, timezone-aware in UTC."""
    return datetime.now(UTC)


def enum_column_type(enum_cls: type[enum.Enum], name: str, *, constraint: bool = True) -> Enum:
    """A portable string enum with a CHECK constraint named ``name``: an impossible value
    cannot be stored. ``constraint=False`` when the table declares a narrower CHECK of that
    name itself (``dsar.models.checks.value_check``)."""
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=constraint,
        length=32,
        values_callable=lambda cls: [member.value for member in cls],
        validate_strings=True,
    )


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in and out, on SQLite (which drops the zone) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime given to a UTC column")
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value
