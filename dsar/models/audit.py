"""The append-only, hash-chained audit trail (docs/security.md)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from dsar.extensions import db
from dsar.models.enums import ActorType
from dsar.models.types import UTCDateTime, enum_column_type, utcnow


class AuditEvent(db.Model):
    """One thing that happened. Never updated, never deleted; ``dsar audit verify`` checks."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: The case concerned; None for events about the system or staff accounts.
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    actor_type: Mapped[ActorType] = mapped_column(enum_column_type(ActorType, "actor_type"))
    #: Staff user id, worker job id, or None for the requester and the system.
    actor_id: Mapped[str | None] = mapped_column(String(64))
    #: What happened, dotted: ``case.created``, ``case.status_changed``, ``proof.viewed``…
    action: Mapped[str] = mapped_column(String(64))
    #: Details with ids and codes only, never personal data.
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: ``row_hash`` of the previous event; unique, so the chain cannot fork.
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: HMAC of this row's content and ``prev_hash`` under the audit key (not in the database).
    row_hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHead(db.Model):
    """The latest link of the chain, so that deleting the newest events is detected too."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_event_id: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(Integer)
    #: HMAC (audit key) over id, count, last event id and last hash: someone with write
    #: access to the database alone cannot re-point the head after deleting events.
    signature: Mapped[str | None] = mapped_column(String(64))
