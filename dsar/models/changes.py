"""Carrying out a right that changes data (erasure first; rectification, restriction and
objection next): the plan the DPO approves, and one step per source that a job carries out.

The plan is data (docs/erasure.md): for each source and collection, what happens to the
records the search found. What it touches is sealed (record keys may be identifiers); the rows
hold only statuses, counts and reasons written by staff."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Date,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dsar.extensions import db
from dsar.models.types import UTCDateTime, enum_column_type, utcnow


class PlanStatus(enum.StrEnum):
    """Where a case's plan stands."""

    DRAFT = "draft"  # built from the search, shown to staff; the DPO may keep more items
    APPROVED = "approved"  # approved by a DPO: the steps run
    CARRIED_OUT = "carried_out"  # every step done; the verification search runs
    VERIFIED = "verified"  # nothing erasable found again: the answer is built
    REMAINS = "remains"  # the verification found what should be gone: back to the DPO


class StepStatus(enum.StrEnum):
    """Where the execution of a plan in one source stands."""

    PENDING = "pending"  # to run (its job is queued, or the sweep will queue it)
    RUNNING = "running"  # a worker holds it (claim number in ``attempts``)
    DONE = "done"
    FAILED = "failed"  # every retry failed: shown to the DPO, who runs it again
    UNSUPPORTED = "unsupported"  # the source cannot do an operation: reported, never skipped
    NOTHING = "nothing"  # nothing to do in this source (nothing found, or everything kept)

    @property
    def finished(self) -> bool:
        return self in FINISHED_STEP_STATUSES


FINISHED_STEP_STATUSES = frozenset(
    {StepStatus.DONE, StepStatus.FAILED, StepStatus.UNSUPPORTED, StepStatus.NOTHING})


class ChangePlan(db.Model):
    """A case's plan: built after the search, approved as a whole by a DPO."""

    __tablename__ = "change_plans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"),
                                         unique=True)
    status: Mapped[PlanStatus] = mapped_column(enum_column_type(PlanStatus, "plan_status"),
                                               default=PlanStatus.DRAFT)
    #: The DPO's further exceptions (Art. 17(3)): ``[{"source", "collection", "exception",
    #: "reason"}]``; the reason is the DPO's words, shown to the person.
    exceptions: Mapped[list] = mapped_column(JSON, default=list)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: What the verification found again, per source and collection (counts only).
    remaining: Mapped[dict] = mapped_column(JSON, default=dict)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: A rectification's corrections and what was refused, sealed (they hold the person's
    #: values): ``{"corrections": [...], "refused": [...]}`` (``dsar.changes.rectification``).
    items_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: An objection's decisions per processing of the register (``dsar.changes.objection``):
    #: ``{processing: {"decision": "stop" | "grounds", "means": "erase" | "restrict",
    #: "text": ...}}``; the text is the DPO's words, shown to the person.
    decisions: Mapped[dict] = mapped_column(JSON, default=dict)
    #: A restriction's lift (Art. 18(3)): announced to the person, then done on ``lift_on``
    #: by a periodic job (``dsar.changes.restriction``).
    lift_on: Mapped[date | None] = mapped_column(Date)
    lift_reason: Mapped[str | None] = mapped_column(Text)
    lift_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    lift_announced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: What the lift did per source (counts and statuses only).
    lift_outcome: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    case = relationship("Case")


class ChangeStep(db.Model):
    """The execution of a case's approved plan in one source."""

    __tablename__ = "change_steps"
    __table_args__ = (UniqueConstraint("case_id", "source"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(40))
    status: Mapped[StepStatus] = mapped_column(enum_column_type(StepStatus, "step_status"),
                                               default=StepStatus.PENDING, index=True)
    #: Sealed JSON of the operations (collections, actions, record keys).
    operations_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: What was done, per collection (``OperationResult.to_json``: counts only).
    outcome: Mapped[list] = mapped_column(JSON, default=list)
    #: The claim number: only the job holding the latest claim records its outcome.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    case = relationship("Case")


class NoticeStatus(enum.StrEnum):
    """How the notice of an erasure to a recipient of the data (Art. 19) ended."""

    PENDING = "pending"  # being sent, or waiting for staff (no address declared)
    NOTIFIED = "notified"
    IMPOSSIBLE = "impossible"  # closed by staff, with the reason
    DISPROPORTIONATE = "disproportionate"  # closed by staff, with the reason


class RecipientNotice(db.Model):
    """The notice of a case's erasure to one recipient of ``register.toml`` (Art. 19)."""

    __tablename__ = "recipient_notices"
    __table_args__ = (UniqueConstraint("case_id", "recipient"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    #: The recipient's key in ``register.toml``.
    recipient: Mapped[str] = mapped_column(String(60))
    status: Mapped[NoticeStatus] = mapped_column(
        enum_column_type(NoticeStatus, "notice_status"), default=NoticeStatus.PENDING)
    #: ``email`` (sent to the address the register declares) or ``staff`` (decided by hand).
    channel: Mapped[str | None] = mapped_column(String(20))
    #: Staff's reason when impossible or disproportionate (shown to the person).
    reason: Mapped[str | None] = mapped_column(Text)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
