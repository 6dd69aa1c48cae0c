"""The request (case) and its clock pauses."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
    select,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, object_session, relationship

from dsar.deadlines import CALENDARS
from dsar.extensions import db
from dsar.models.audit import AuditEvent
from dsar.models.checks import value_check
from dsar.models.enums import CLOSED_STATUSES, STANDING_STATUSES, CaseKind, CaseStatus, Channel
from dsar.models.types import UTCDateTime, enum_column_type, utcnow

#: The WHERE of the dashboard's partial indexes: the cases waiting for work (standing records,
#: post-mortem directives, have a list of their own). ``dsar.staff.dashboard.open_clause()`` writes
#: the same values, in the same order, into its SQL: SQLite uses a partial index only when the
#: query repeats the index's WHERE term (bound parameters never match).
OPEN_CASES_SQL = "status IN (" + ", ".join(
    f"'{s.value}'" for s in CaseStatus
    if s not in CLOSED_STATUSES and s not in STANDING_STATUSES) + ")"

#: The audit action that flags a case as possibly excessive (``dsar.cases.intake``); its
#: payload's ``requests_in_24h`` is the count the intake saw.
POSSIBLY_EXCESSIVE_EVENT = "case.possibly_excessive"
#: The WHERE of the dashboard's "possibly excessive" index, per dialect, as SQLAlchemy writes
#: ``Case.possibly_excessive.is_(True)`` (SQLite uses a partial index only for the same term).
EXCESSIVE_SQL = {"sqlite": "possibly_excessive IS 1", "postgresql": "possibly_excessive IS true"}
#: The WHERE of the index of answers released in part whose follow-up is still to do
#: (``dsar.delivery.partial.to_follow_up`` repeats it: SQLite needs the same term).
TO_FOLLOW_UP_SQL = "missing_sources IS NOT NULL AND follow_up_at IS NULL"


class Case(db.Model):
    """One data-subject-rights request, from receipt to answer."""

    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_status_due_on", "status", "due_on"),
        Index("ix_cases_email_received", "email_normalized", "received_at"),
        Index("ix_cases_due_on_id", "due_on", "id"),
        # The dashboard's default list (open cases by due date) and its kind filter: only the
        # open cases are indexed, so the first page never walks past the closed ones.
        Index("ix_cases_open_due_on_id", "due_on", "id",
              sqlite_where=text(OPEN_CASES_SQL), postgresql_where=text(OPEN_CASES_SQL)),
        Index("ix_cases_open_kind_due_on_id", "kind", "due_on", "id",
              sqlite_where=text(OPEN_CASES_SQL), postgresql_where=text(OPEN_CASES_SQL)),
        # The dashboard's "possibly excessive" filter: few cases, found without a walk.
        Index("ix_cases_excessive_due_on_id", "due_on", "id",
              sqlite_where=text(EXCESSIVE_SQL["sqlite"]),
              postgresql_where=text(EXCESSIVE_SQL["postgresql"])),
        # Answers released in part whose follow-up is still to do (few, listed apart).
        Index("ix_cases_to_follow_up", "closed_at", "id",
              sqlite_where=text(TO_FOLLOW_UP_SQL), postgresql_where=text(TO_FOLLOW_UP_SQL)),
        # The clock cannot run on a calendar ``dsar.deadlines`` does not know.
        value_check("case_calendar", "calendar", CALENDARS),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: Public reference such as ``DSR-7KQ2-M9XD``: random, never sequential.
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    kind: Mapped[CaseKind] = mapped_column(enum_column_type(CaseKind, "case_kind"))
    status: Mapped[CaseStatus] = mapped_column(
        enum_column_type(CaseStatus, "case_status"), default=CaseStatus.SUBMITTED
    )
    channel: Mapped[Channel] = mapped_column(
        enum_column_type(Channel, "case_channel"), default=Channel.PORTAL
    )
    #: The requester's language for every page and e-mail of the case ("fr" or "en").
    language: Mapped[str] = mapped_column(String(8), default="fr")

    #: The person whose data the request is about, as they gave it.
    requester_name: Mapped[str] = mapped_column(String(200))
    #: Contact address (the representative's when a representative files).
    requester_email: Mapped[str] = mapped_column(String(254))
    #: Lower-cased address, for matching, search and per-address rate limits.
    email_normalized: Mapped[str] = mapped_column(String(254))
    #: Set when someone files on the person's behalf (legal rules §3: the mandate is recorded).
    representative_name: Mapped[str | None] = mapped_column(String(200))
    #: Identifiers the requester gave to match them in sources (customer number, phone…).
    identifiers: Mapped[dict] = mapped_column(JSON, default=dict)
    #: What the kind of request needs (data to correct, ground, receiving controller…).
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    #: The requester's free text.
    message: Mapped[str | None] = mapped_column(Text)

    #: When the request reached an official channel (legal rules D1); set once, never changed.
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Europe/Paris calendar date of ``received_at``: day 0 of the clock.
    received_on: Mapped[date] = mapped_column(Date)
    #: Holiday calendar of the clock ("FR" or "FR-ALSACE-MOSELLE").
    calendar: Mapped[str] = mapped_column(String(24), default="FR")
    #: The current legal due date (extension and closed pauses included); indexed for the
    #: dashboard, recomputed by ``dsar.cases.workflow.refresh_due_date`` whenever its inputs change.
    due_on: Mapped[date] = mapped_column(Date)
    extended: Mapped[bool] = mapped_column(Boolean, default=False)
    extension_reason: Mapped[str | None] = mapped_column(Text)
    extended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    #: The staff member in charge; None while unassigned.
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), index=True)
    #: The original case when this one repeats it (same person, same kind, open).
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    identity_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: "checked on D by U, method M": what remains once the proof documents are deleted.
    identity_note: Mapped[str | None] = mapped_column(Text)
    #: Art. 12(5): the DPO's written justification; never set automatically.
    manifestly_unfounded: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Filed when its address had filed more than ``RATELIMIT_INTAKE_PER_EMAIL_PER_DAY``
    #: requests in 24 hours: a sign for staff, never a refusal (Art. 12(5) is the DPO's call).
    #: The database's default only, so that a row written without it (an older schema's
    #: tests, a script) is simply not flagged.
    possibly_excessive: Mapped[bool] = mapped_column(Boolean, server_default=false())
    unfounded_justification: Mapped[str | None] = mapped_column(Text)
    #: Reasons of a full refusal (status ``rejected``) or of a partial one (case goes on).
    refusal_reasons: Mapped[str | None] = mapped_column(Text)
    partial_refusal_reasons: Mapped[str | None] = mapped_column(Text)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The sources an answer was released without (None: none): the case is then answered in
    #: part, never plainly completed, until the DPO records the follow-up
    #: (``dsar.delivery.partial``).
    missing_sources: Mapped[list | None] = mapped_column(JSON(none_as_null=True))
    follow_up_note: Mapped[str | None] = mapped_column(Text)
    follow_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When the retention period's purge removed its personal data (``dsar.cases.retention``).
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Random per-case salt of the status and confirmation links (rotating it revokes them).
    token_salt: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    assignee = relationship("StaffUser", foreign_keys=[assignee_id])
    duplicate_of = relationship("Case", remote_side=[id], foreign_keys=[duplicate_of_id])
    pauses: Mapped[list[ClockPause]] = relationship(
        back_populates="case", order_by="ClockPause.started_on", cascade="all, delete-orphan"
    )
    proofs: Mapped[list[IdentityProof]] = relationship(  # noqa: F821
        back_populates="case", order_by="IdentityProof.id", cascade="all, delete-orphan"
    )

    @property
    def excessive_count(self) -> int | None:
        """How many requests from this address the intake counted in 24 hours when it flagged
        this one (from the audit trail, which outlives the address); None when not flagged."""
        session = object_session(self)
        if not self.possibly_excessive or session is None:
            return None
        payload = session.scalar(
            select(AuditEvent.payload).where(AuditEvent.case_id == self.id,
                                             AuditEvent.action == POSSIBLY_EXCESSIVE_EVENT)
            .order_by(AuditEvent.id).limit(1))
        return (payload or {}).get("requests_in_24h")

    @property
    def answered_in_part(self) -> bool:
        """Whether the answer was released without some sources (``missing_sources``)."""
        return bool(self.missing_sources)

    def __repr__(self) -> str:
        return f"<Case {self.id} {self.kind} {self.status}>"


class ClockPause(db.Model):
    """A suspension of the clock while staff wait for information (docs/legal-rules.md D8)."""

    __tablename__ = "clock_pauses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    #: The Paris date the question was sent.
    started_on: Mapped[date] = mapped_column(Date)
    #: The Paris date the answer arrived; None while the clock is paused.
    ended_on: Mapped[date | None] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(Text)

    case: Mapped[Case] = relationship(back_populates="pauses")
