"""Writing and verifying the hash-chained audit trail.

Each event's ``row_hash`` is an HMAC (audit key derived from the master key, which is not in
the database) over its content and the previous event's hash. Editing a row breaks its HMAC,
deleting one breaks the next row's link, and deleting the newest rows disagrees with
``AuditHead``, whose ``signature`` (an HMAC under its own audit sub-key) stops anyone without the
key from re-pointing it. A missing, unsigned or wrongly signed head is a fault, and the
application never signs a head it did not sign itself: only ``dsar audit seal`` does, on an
operator's word. What the database alone cannot prove (that it was not rolled back to an earlier
copy, or emptied and started again) the anchors outside it do (``audit_anchor.py``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache, lru_cache
from types import SimpleNamespace

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import bindparam, func, select, update

from dsar.core.keys import derived_key
from dsar.extensions import db
from dsar.models import ActorType, AuditEvent, AuditHead, Case
from dsar.models.types import utcnow

logger = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
HEAD_ID = 1


def audit_subkey(label: str) -> bytes:
    """A key of its own for ``label`` ("audit-head", "audit-anchor"), derived from the audit
    key, so that no row hash can ever pass for a head signature or an anchor's MAC."""
    return _subkey(derived_key("audit-chain"), label)


@lru_cache(maxsize=8)
def _subkey(chain_key: bytes, label: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=f"dsar {label}".encode()).derive(chain_key)


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


def head_signature(head: AuditHead) -> str:
    """The HMAC (audit-head key) over the head's id, count, last event id and last hash."""
    message = f"{head.id}|{head.count}|{head.last_event_id}|{head.last_hash}"
    return hmac.new(audit_subkey("audit-head"), message.encode(), hashlib.sha256).hexdigest()


def head_signed(head: AuditHead | None) -> bool:
    """Whether ``head`` carries the signature this deployment's key gives it."""
    return (head is not None and head.signature is not None
            and hmac.compare_digest(head.signature, head_signature(head)))


def record_event(
    action: str,
    *,
    case: Case | None = None,
    actor_type: ActorType = ActorType.SYSTEM,
    actor_id: str | int | None = None,
    payload: dict | None = None,
) -> int:
    """Append an event to the chain in the current transaction (the caller commits); returns
    its id.

    The event and the head are written as plain statements, not through the session's unit of
    work: every request that changes anything writes one, and a flush of its own for each
    cost more than the statements themselves."""
    session = db.session
    # Flushing first writes what the event refers to (a new case gets its id) and makes SQLite
    # take its write lock before the head is read; the row lock on PostgreSQL serialises
    # writers; the unique prev_hash turns any remaining race into an error instead of a
    # silent fork.
    session.flush()
    connection = session.connection()
    head = connection.execute(_locked_head_query()).one_or_none()
    lost = head is None
    if lost:
        # A deployment's chain starts with the signed empty head ``dsar init`` writes. No head
        # means it was deleted (with or without the events): the head is rebuilt unsigned, so
        # "the trail was wiped and the application wrote again" stays a fault, not a fresh,
        # intact-looking chain.
        head, trusted = _head_after_loss(), False
    else:
        # A head the application did not sign (upgraded, re-pointed, forged) stays unsigned
        # or wrongly signed however many events follow: signing it here would launder it.
        trusted = head_signed(head)
    event = SimpleNamespace(
        case_id=case.id if case is not None else None,
        actor_type=actor_type,
        actor_id=str(actor_id) if actor_id is not None else None,
        action=action,
        payload=payload or {},
        created_at=utcnow().replace(microsecond=0),
        prev_hash=head.last_hash,
    )
    event.row_hash = _row_digest(derived_key("audit-chain"), event)
    event_id = connection.execute(_insert_event_statement(), vars(event)).inserted_primary_key[0]
    moved = SimpleNamespace(id=HEAD_ID, last_event_id=event_id, last_hash=event.row_hash,
                            count=head.count + 1, signature=head.signature)
    if trusted:
        moved.signature = head_signature(moved)
    if lost:
        connection.execute(AuditHead.__table__.insert(), vars(moved))
    else:
        written = connection.execute(_update_head_statement(), {
            "head_id": HEAD_ID, "last_event_id": moved.last_event_id,
            "last_hash": moved.last_hash, "count": moved.count, "signature": moved.signature})
        if written.rowcount != 1:  # deleted under the lock this transaction holds: never
            raise RuntimeError("the audit chain's head vanished while an event was written")
    # A head the session holds (``dsar audit seal`` signs one) must not be written back over
    # this one, nor read as it was.
    held = session.identity_map.get(session.identity_key(AuditHead, HEAD_ID))
    if held is not None:
        session.expire(held)
    logger.info("audit %s case=%s actor=%s", action, event.case_id, actor_type)
    return event_id


@cache
def _locked_head_query():
    # Statements built once: every change writes an event.
    return select(AuditHead.__table__).where(AuditHead.id == HEAD_ID).with_for_update()


@cache
def _insert_event_statement():
    return AuditEvent.__table__.insert()


@cache
def _update_head_statement():
    # Without values: the SET clause is made of the columns the parameters name.
    table = AuditHead.__table__
    return table.update().where(table.c.id == bindparam("head_id"))


def _head_after_loss() -> SimpleNamespace:
    """A new, unsigned head after the newest event (or at the start of an empty chain)."""
    last = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).first()
    if last is None:
        return SimpleNamespace(last_hash=GENESIS_HASH, count=0, signature=None)
    count = db.session.scalar(select(func.count(AuditEvent.id)))
    return SimpleNamespace(last_hash=last.row_hash, count=count, signature=None)


def start_chain() -> bool:
    """Write the signed head of an empty chain (``dsar init`` on a new database), so that a
    missing head is a fault even before the first event. Returns False if there was one or
    the trail is not empty (the caller commits)."""
    if db.session.get(AuditHead, HEAD_ID) is not None:
        return False
    if db.session.scalar(select(AuditEvent.id).limit(1)) is not None:
        return False
    head = AuditHead(id=HEAD_ID, last_event_id=0, last_hash=GENESIS_HASH, count=0)
    head.signature = head_signature(head)
    db.session.add(head)
    return True


@dataclass(frozen=True)
class Anchor:
    """One line of an anchor file: the head as it was at ``at``."""

    line: int
    at: str
    count: int
    last_event_id: int
    last_hash: str


@dataclass(frozen=True)
class ChainReport:
    """What ``verify_chain`` found: the number of events read and the faults, if any."""

    events: int
    faults: list[str]
    anchors: int = 0
    #: Codes of what is wrong with the head (``missing``, ``unsigned``, ``bad_signature``,
    #: ``mismatch``); the same faults are in ``faults`` in words.
    head_problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.faults


def verify_chain(batch_size: int = 5000, anchors: Iterable[Anchor] = ()) -> ChainReport:
    """Re-compute every link of the chain; report edited, deleted or missing events, a head
    that is missing, unsigned or disagrees, and any ``anchors`` the chain no longer holds."""
    walk = _walk(batch_size, list(anchors))
    head = db.session.get(AuditHead, HEAD_ID)
    problems = _head_problems(head, walk)
    return ChainReport(events=walk.count, faults=walk.faults + [m for _, m in problems],
                       anchors=walk.anchors, head_problems=[code for code, _ in problems])


@dataclass
class _Walk:
    count: int = 0
    last_id: int = 0
    last_hash: str = GENESIS_HASH
    anchors: int = 0
    faults: list[str] = field(default_factory=list)


def _walk(batch_size: int, anchors: list[Anchor]) -> _Walk:
    key = derived_key("audit-chain")
    walk = _Walk(anchors=len(anchors))
    # An anchor of an empty chain holds for any chain; the others name an event that must
    # still be there, at the same position, with the same hash.
    pending: dict[int, list[Anchor]] = {}
    for anchor in anchors:
        if anchor.count:
            pending.setdefault(anchor.last_event_id, []).append(anchor)
    while True:
        rows = db.session.scalars(
            select(AuditEvent).where(AuditEvent.id > walk.last_id).order_by(AuditEvent.id)
            .limit(batch_size)
        ).all()
        if not rows:
            break
        for event in rows:
            walk.count += 1
            if event.prev_hash != walk.last_hash:
                walk.faults.append(f"event {event.id}: link to the previous event is broken "
                                   "(an event before it was deleted or altered)")
            if not hmac.compare_digest(_row_digest(key, event), event.row_hash):
                walk.faults.append(f"event {event.id}: content does not match its hash (altered)")
            for anchor in pending.pop(event.id, ()):
                if anchor.count != walk.count or anchor.last_hash != event.row_hash:
                    walk.faults.append(
                        f"{_anchor_name(anchor)} expects event {anchor.last_event_id} to be "
                        f"number {anchor.count} in the chain; it is number {walk.count}, "
                        + ("with the same hash" if anchor.last_hash == event.row_hash
                           else "with another hash") + " (events before it were deleted or "
                        "the chain was rewritten since)")
            walk.last_hash = event.row_hash
            walk.last_id = event.id
        db.session.expunge_all()
    for anchored in pending.values():
        for anchor in anchored:
            walk.faults.append(f"{_anchor_name(anchor)} expects {anchor.count} events ending at "
                               f"event {anchor.last_event_id}, which is gone (events were "
                               "deleted since)")
    return walk


def _anchor_name(anchor: Anchor) -> str:
    return f"the anchor of {anchor.at} (line {anchor.line})"


def _head_problems(head: AuditHead | None, walk: _Walk) -> list[tuple[str, str]]:
    if head is None:
        return [("missing", "the chain head is missing (the newest events or the whole trail "
                            "were deleted)")]
    problems = []
    if head.signature is None:
        problems.append(("unsigned", "the chain head is not signed: either the database was "
                         "upgraded from a version without signed heads (check it, then run "
                         "`dsar audit seal`), or the head was replaced outside the application"))
    elif not head_signed(head):
        problems.append(("bad_signature", "the chain head's signature is wrong (the head was "
                         "changed outside the application)"))
    if head.last_hash != walk.last_hash or head.count != walk.count:
        problems.append(("mismatch", f"the chain head expects {head.count} events ending at "
                         f"event {head.last_event_id}; found {walk.count} (the newest events "
                         "were deleted or altered)"))
    return problems


class ChainNotSealed(Exception):
    """``seal_head`` refused: the events themselves, or the anchors, show faults."""

    def __init__(self, faults: list[str]):
        super().__init__("; ".join(faults))
        self.faults = faults


def seal_head(anchors: Iterable[Anchor] = ()) -> ChainReport | None:
    """Sign a head that the application did not sign (an upgraded database, or one repaired
    after an incident) to match the events as they are, and record it in the chain. Refused
    when an event is altered, a link broken or an anchor no longer held: those are not the
    head's fault. Returns the report of what was sealed, or None if the head was in order.
    The caller commits."""
    # Take the write lock (SQLite) or the head's row lock (PostgreSQL) before reading, so
    # no event slips in between the check and the signature.
    db.session.execute(update(AuditHead).where(AuditHead.id == HEAD_ID)
                       .values(count=AuditHead.count))
    walk = _walk(5000, list(anchors))
    if walk.faults:
        raise ChainNotSealed(walk.faults)
    head = db.session.get(AuditHead, HEAD_ID)
    problems = _head_problems(head, walk)
    if not problems:
        return None
    if head is None:
        head = AuditHead(id=HEAD_ID)
        db.session.add(head)
    head.count, head.last_event_id, head.last_hash = walk.count, walk.last_id, walk.last_hash
    head.signature = head_signature(head)
    codes = [code for code, _ in problems]
    record_event("audit.head_sealed", payload={"head": codes, "events": walk.count})
    return ChainReport(events=walk.count, faults=[m for _, m in problems], anchors=walk.anchors,
                       head_problems=codes)
