"""What the search of each source found for a case (docs/architecture.md).

One row per (case, source), rewritten by each round of the search. The identifiers a source is
searched with are stored sealed (AES-GCM), the records found in the encrypted blob store; the
row itself holds only ids, counts, a keyed digest and the status, so the dashboard and the
sweep read it without decrypting anything.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dsar.extensions import db
from dsar.models.types import UTCDateTime, enum_column_type, utcnow


class GatherStatus(enum.StrEnum):
    """Where the search of one source stands."""

    PENDING = "pending"  # to run (its job is queued, or the sweep will queue it)
    RUNNING = "running"  # a worker holds it until ``lease_until``
    DONE = "done"
    FAILED = "failed"  # every retry failed; staff may run it again
    SKIPPED = "skipped"  # no identifier of the types this source is searched by

    @property
    def finished(self) -> bool:
        return self in FINISHED_GATHER_STATUSES


FINISHED_GATHER_STATUSES = frozenset(
    {GatherStatus.DONE, GatherStatus.FAILED, GatherStatus.SKIPPED})


class SourceResult(db.Model):
    """The search of one source for one case."""

    __tablename__ = "source_results"
    __table_args__ = (UniqueConstraint("case_id", "source"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    #: The source's name in ``sources.toml``.
    source: Mapped[str] = mapped_column(String(40))
    #: The round of the search that last (re)planned this source: a later round searches
    #: again with identifiers other sources yielded.
    round: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[GatherStatus] = mapped_column(
        enum_column_type(GatherStatus, "gather_status"), default=GatherStatus.PENDING,
        index=True)
    #: Sealed JSON of the identifiers to search with (never stored in clear).
    input_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: Keyed hash of those identifiers: tells whether a later round brings anything new.
    input_digest: Mapped[str | None] = mapped_column(String(64))
    #: Encrypted blob of the records found and the identifiers they carry.
    result_blob_id: Mapped[str | None] = mapped_column(String(40))
    #: SHA-256 of the result's canonical JSON: the same search gives the same sum.
    result_sha256: Mapped[str | None] = mapped_column(String(64))
    record_count: Mapped[int | None] = mapped_column(Integer)
    #: Records per collection (names and counts only).
    counts: Mapped[dict] = mapped_column(JSON, default=dict)
    #: How many times a worker started this search (all rounds).
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: The last failure, as shown to staff: what failed, never with which identifier.
    error: Mapped[str | None] = mapped_column(Text)
    #: A worker that dies mid-search holds it until then; the sweep then hands it on.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    case = relationship("Case")

    def __repr__(self) -> str:
        return f"<SourceResult case={self.case_id} {self.source} {self.status} r{self.round}>"
