"""What staff write on a case besides its status: internal notes and questions to the
requester."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dsar.extensions import db
from dsar.models.checks import value_check
from dsar.models.enums import INFO_RESUME_STATUSES, CaseStatus
from dsar.models.types import UTCDateTime, enum_column_type, utcnow


class CaseNote(db.Model):
    """An internal note; never shown to the requester."""

    __tablename__ = "case_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    author = relationship("StaffUser")


class InfoRequest(db.Model):
    """A question to the requester. Only a reasonable doubt about their identity, recorded
    with its reason, pauses the clock, from ``asked_at`` until ``answered_at`` (``pause``,
    legal rules D8); any other question (scope, clarification) leaves it running."""

    __tablename__ = "info_requests"
    # Narrower than the case's statuses: only where the state machine returns from needs_info.
    __table_args__ = (value_check("resume_status", "resume_status", INFO_RESUME_STATUSES),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    asked_by_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    question: Mapped[str] = mapped_column(Text)
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: The status to return to once answered (``confirmed`` or ``verified``).
    resume_status: Mapped[CaseStatus] = mapped_column(
        enum_column_type(CaseStatus, "resume_status", constraint=False))
    pause_id: Mapped[int | None] = mapped_column(ForeignKey("clock_pauses.id"))
    answer: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The proof uploaded with the answer, if any.
    answer_proof_id: Mapped[int | None] = mapped_column(ForeignKey("identity_proofs.id"))

    asked_by = relationship("StaffUser")
    pause = relationship("ClockPause")
