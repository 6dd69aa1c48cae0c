"""Post-mortem directives (Loi Informatique et Libertés, art. 85): what a living person wants
done with their data after their death, and whom they designate to see to it. Every version
is kept with its date (a later version supersedes, a revocation ends them), sealed: the choices,
instructions and the designated person's name and address are personal data. A keyed hash of
the person's identifiers lets staff find the directives of someone who died."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dsar.extensions import db
from dsar.models.types import UTCDateTime, enum_column_type, utcnow


class DirectiveStatus(enum.StrEnum):
    """Where one version of a person's directives stands."""

    IN_FORCE = "in_force"
    SUPERSEDED = "superseded"  # a later version replaced it (its date still tells)
    REVOKED = "revoked"  # this version records the revocation: none is in force after it


class DirectiveVersion(db.Model):
    """One version of a directive case's directives."""

    __tablename__ = "directive_versions"
    __table_args__ = (UniqueConstraint("case_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[DirectiveStatus] = mapped_column(
        enum_column_type(DirectiveStatus, "directive_status"))
    #: Sealed JSON ``{"categories": {name: erase|hand_over|keep}, "instructions",
    #: "designated": {"name", "email"}}`` (empty for a revocation).
    content_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DirectiveKey(db.Model):
    """A keyed hash of one identifier of the person who left directives (e-mail address,
    customer number): how staff find them when the person has died."""

    __tablename__ = "directive_keys"
    __table_args__ = (UniqueConstraint("case_id", "kind", "digest"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    digest: Mapped[str] = mapped_column(String(64), index=True)


class DeceasedMatch(db.Model):
    """What staff confirmed of the deceased person an execution case is about, and which
    directives (if any) decide it: the deceased's identifiers (sealed: the search runs on them,
    never on the requester's address), the date of death, and the outcome of the matching
    (``dsar.postmortem.matching.OUTCOMES``)."""

    __tablename__ = "deceased_matches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"),
                                         unique=True)
    #: Sealed JSON ``{"email": ..., "customer_number": ...}``.
    identity_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    date_of_death: Mapped[date] = mapped_column(Date)
    outcome: Mapped[str] = mapped_column(String(20))
    directive_case_id: Mapped[int | None] = mapped_column(
        ForeignKey("cases.id", ondelete="SET NULL"))
    directive_version: Mapped[int | None] = mapped_column(Integer)
    confirmed_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL"))
    confirmed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
