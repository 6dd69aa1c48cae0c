"""The suppression list: the e-mail addresses and phone numbers of people whose data was
erased (or who objected to marketing), so the organisation's tools neither re-import nor
contact them again.

Only a keyed hash of each value is stored (HMAC-SHA-256 under the key purpose
``suppression``, :mod:`dsar.changes.suppression`): the table answers "is this address on the
list?" for whoever holds the master key, and lists nobody's address to whoever reads it."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dsar.extensions import db
from dsar.models.types import UTCDateTime, enum_column_type, utcnow


class SuppressionKind(enum.StrEnum):
    """What a suppressed value is (each normalised its own way before hashing)."""

    EMAIL = "email"
    PHONE = "phone"


class SuppressionEntry(db.Model):
    """One suppressed e-mail address or phone number, as its keyed hash."""

    __tablename__ = "suppression_entries"
    __table_args__ = (UniqueConstraint("kind", "digest"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[SuppressionKind] = mapped_column(
        enum_column_type(SuppressionKind, "suppression_kind"))
    #: HMAC-SHA-256 of the normalised value, 64 hexadecimal digits; never the value itself.
    digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: The erasure case that put it here; None for a manual entry (``dsar suppression add``).
    #: The entry outlives the case: erasing the person is why it exists.
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"),
                                                index=True)
