"""Writing and verifying the hash-chained audit trail.

Each event's ``row_hash`` is an HMAC (audit key derived from the master key, which is not in
the database) over its content and the previous event's hash. Editing a row breaks its HMAC,
deleting one breaks the next row's link, and deleting the newest rows disagrees with
``AuditHead``. Someone with write access to the database alone cannot forge a valid chain.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass

from sqlalchemy import select

from .extensions import db
from .keys import derived_key
from .models import ActorType, AuditEvent, AuditHead, Case
from .models.types import utcnow

logger = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64


def _row_digest(key: bytes, event: AuditEvent) -> str:
    content = json.dumps(
        [
            event.prev_hash,
            event.case_id,
            str(event.actor_type),
            event.actor_id,
            event.action,
            event.payload or {},
            event.created_at.isoformat(),
        ],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hmac.new(key, content.encode(), hashlib.sha256).hexdigest()


def record_event(
    action: str,
    *,
    case: Case | None = None,
    actor_type: ActorType = ActorType.SYSTEM,
    actor_id: str | int | None = None,
    payload: dict | None = None,
) -> AuditEvent:
    """Append an event to the chain in the current transaction (the caller commits)."""
    session = db.session
    if case is not None and case.id is None:
        session.flush()
    # Flushing first makes SQLite take its write lock before the head is read, and the row lock
    # on PostgreSQL serialises writers; the unique prev_hash turns any remaining race into an
    # error instead of a silent fork.
    session.flush()
    head = session.execute(
        select(AuditHead).where(AuditHead.id == 1).with_for_update()
    ).scalar_one_or_none()
    event = AuditEvent(
        case_id=case.id if case is not None else None,
        actor_type=actor_type,
        actor_id=str(actor_id) if actor_id is not None else None,
        action=action,
        payload=payload or {},
        created_at=utcnow().replace(microsecond=0),
        prev_hash=head.last_hash if head else GENESIS_HASH,
    )
    event.row_hash = _row_digest(derived_key("audit-chain"), event)
    session.add(event)
    session.flush()
    if head is None:
        session.add(AuditHead(id=1, last_event_id=event.id, last_hash=event.row_hash, count=1))
    else:
        head.last_event_id = event.id
        head.last_hash = event.row_hash
        head.count += 1
    logger.info("audit %s case=%s actor=%s", action, event.case_id, actor_type)
    return event


@dataclass(frozen=True)
class ChainReport:
    """What ``verify_chain`` found: the number of events read and the faults, if any."""

    events: int
    faults: list[str]

    @property
    def ok(self) -> bool:
        return not self.faults


def verify_chain(batch_size: int = 5000) -> ChainReport:
    """Re-compute every link of the chain; report edited, deleted or missing events."""
    key = derived_key("audit-chain")
    faults: list[str] = []
    expected_prev = GENESIS_HASH
    count = 0
    last_id = 0
    while True:
        rows = db.session.scalars(
            select(AuditEvent).where(AuditEvent.id > last_id).order_by(AuditEvent.id)
            .limit(batch_size)
        ).all()
        if not rows:
            break
        for event in rows:
            count += 1
            if event.prev_hash != expected_prev:
                faults.append(f"event {event.id}: link to the previous event is broken "
                              "(an event before it was deleted or altered)")
            if not hmac.compare_digest(_row_digest(key, event), event.row_hash):
                faults.append(f"event {event.id}: content does not match its hash (altered)")
            expected_prev = event.row_hash
            last_id = event.id
        db.session.expunge_all()
    head = db.session.get(AuditHead, 1)
    if head is None:
        if count:
            faults.append("the chain head is missing")
    else:
        if head.last_hash != expected_prev or head.count != count:
            faults.append(
                f"the chain head expects {head.count} events ending at event "
                f"{head.last_event_id}; found {count} (the newest events were deleted or altered)"
            )
    return ChainReport(events=count, faults=faults)
