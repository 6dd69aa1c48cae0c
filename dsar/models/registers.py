"""What outlives a rectification or a restriction case: the restriction register, and the
supplementary statements a person made where a source could not be corrected (Art. 16).

Both are keyed like the suppression list (:mod:`dsar.models.suppression`): a keyed hash of the
person's e-mail address or phone number, never the value, so the tables list nobody to whoever
reads them, and answer "is this person restricted?" only for whoever holds the master key."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dsar.extensions import db
from dsar.models.suppression import SuppressionKind
from dsar.models.types import UTCDateTime, enum_column_type, utcnow


class RestrictionEntry(db.Model):
    """One restricted person's e-mail address or phone number (Art. 18), as its keyed hash,
    from one restriction case; in force until ``lifted_at``."""

    __tablename__ = "restriction_entries"
    __table_args__ = (UniqueConstraint("kind", "digest", "case_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[SuppressionKind] = mapped_column(
        enum_column_type(SuppressionKind, "restriction_kind"))
    #: HMAC-SHA-256 of the normalised value (:func:`dsar.changes.suppression.digest`'s
    #: normalisation, the key purpose ``restriction``).
    digest: Mapped[str] = mapped_column(String(64), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"),
                                                index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: When the restriction was lifted (announced to the person beforehand); None: in force.
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SupplementaryStatement(db.Model):
    """A person's statement completing data a source cannot correct (Art. 16, "complete"):
    what they say the field should read, kept with the case and given with every later copy
    of their data (the access answer)."""

    __tablename__ = "supplementary_statements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: Keyed hash of the person's e-mail address (purpose ``statements``): found again by the
    #: next access request of that address.
    email_digest: Mapped[str] = mapped_column(String(64), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"),
                                                index=True)
    source: Mapped[str] = mapped_column(String(40))
    collection: Mapped[str] = mapped_column(String(80))
    #: Sealed JSON: ``{"key", "field", "old", "new"}`` (the person's values).
    statement_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
