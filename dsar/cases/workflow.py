"""The case state machine: creating a case and changing its status, each audited in the
same transaction as the change (docs/architecture.md)."""

from __future__ import annotations

import logging
from datetime import date, datetime
from functools import cache

from flask import current_app
from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from dsar import deadlines
from dsar.cases.clock import pauses_of, today_in_paris
from dsar.cases.proofs import delete_after_move
from dsar.core.audit import record_event
from dsar.core.tokens import new_reference, new_token_salt
from dsar.extensions import db
from dsar.models import ActorType, Case, CaseKind, CaseStatus, Channel, IdentityProof
from dsar.models.types import utcnow

logger = logging.getLogger(__name__)

S = CaseStatus
#: Every allowed move. Any open case can be rejected or withdrawn; only a never-confirmed case
#: expires.
TRANSITIONS: dict[CaseStatus, frozenset[CaseStatus]] = {
    # (And verified straight from submitted for a request with no address to confirm:
    # ``move_allowed``, the one move that depends on the case, not only its status.)
    S.SUBMITTED: frozenset({S.CONFIRMED, S.EXPIRED, S.WITHDRAWN, S.REJECTED}),
    S.CONFIRMED: frozenset({S.VERIFIED, S.NEEDS_INFO, S.RECORDED, S.WITHDRAWN, S.REJECTED}),
    S.NEEDS_INFO: frozenset({S.CONFIRMED, S.VERIFIED, S.WITHDRAWN, S.REJECTED}),
    S.VERIFIED: frozenset({S.IN_PROGRESS, S.NEEDS_INFO, S.WITHDRAWN, S.REJECTED}),
    S.IN_PROGRESS: frozenset({S.REVIEW, S.WITHDRAWN, S.REJECTED}),
    S.REVIEW: frozenset({S.COMPLETED, S.IN_PROGRESS, S.EXECUTING, S.WITHDRAWN, S.REJECTED}),
    # Kinds that change data (docs/erasure.md): the approved plan runs, then is verified;
    # verified, or something found again, the case is back in review for the DPO.
    S.EXECUTING: frozenset({S.VERIFYING, S.REVIEW, S.WITHDRAWN, S.REJECTED}),
    S.VERIFYING: frozenset({S.REVIEW, S.WITHDRAWN, S.REJECTED}),
    # Post-mortem directives (docs/postmortem.md): recorded once the address is confirmed,
    # a standing record until the person revokes them (withdrawn).
    S.RECORDED: frozenset({S.WITHDRAWN, S.REJECTED}),
    S.COMPLETED: frozenset(),
    S.REJECTED: frozenset(),
    S.WITHDRAWN: frozenset(),
    S.EXPIRED: frozenset(),
}


class InvalidTransition(Exception):
    """A status change the state machine does not allow."""

    def __init__(self, current: CaseStatus, target: CaseStatus):
        super().__init__(f"cannot go from {current} to {target}")
        self.current = current
        self.target = target


class StaleTransition(InvalidTransition):
    """The case left the status the change was decided from (another worker or agent moved
    it first): nothing was changed, and the caller's transaction is to be rolled back."""


def waits_for_staff(case: Case) -> bool:
    """Whether ``case`` has no address to confirm: filed by staff from another channel
    without an e-mail address, it waits for staff to check the identity by other means."""
    return case.channel is not Channel.PORTAL and not (case.requester_email or "").strip()


def move_allowed(case: Case, target: CaseStatus) -> bool:
    """Whether the state machine lets ``case`` go to ``target``: ``TRANSITIONS``, except that
    a submitted case is verified without confirmation only when there is no address to
    confirm (every other case confirms its address by the e-mailed link first)."""
    current = CaseStatus(case.status)
    if target in TRANSITIONS[current]:
        return True
    return current is S.SUBMITTED and target is S.VERIFIED and waits_for_staff(case)


def refresh_due_date(case: Case, *, today: date | None = None) -> None:
    """Recompute ``case.due_on`` from receipt, extension and pauses (docs/legal-rules.md D2–D8)."""
    case.due_on = deadlines.effective_due_date(
        case.received_on,
        extended=case.extended,
        pauses=pauses_of(case),
        today=today or today_in_paris(),
        calendar=case.calendar,
    )


@cache
def _reference_query():
    # Built once: every filing runs it (building a statement costs more than running it).
    return select(Case.id).where(Case.reference == bindparam("reference"))


def _unused_reference() -> str:
    for _ in range(20):
        reference = new_reference()
        if db.session.scalar(_reference_query(), {"reference": reference}) is None:
            return reference
    raise RuntimeError("could not find a free reference")  # 39 bits: never in practice


def reference_taken(error: IntegrityError) -> bool:
    """Whether ``error`` is the cases' unique reference refusing a second case: the reference
    drawn was already in use (PostgreSQL names the constraint, SQLite the column)."""
    constraint = getattr(getattr(error.orig, "diag", None), "constraint_name", None)
    return (constraint == "uq_cases_reference"
            or str(error.orig) == "UNIQUE constraint failed: cases.reference")


def create_case(*, proofs: list[IdentityProof] | None = None, **fields) -> Case:
    """Open a case with its due date and a ``case.created`` audit event (caller commits).
    ``fields`` are those of :func:`open_case`."""
    case = open_case(proofs=proofs, **fields)
    record_created(case, proofs)
    return case


def open_case(
    *,
    kind: CaseKind,
    requester_name: str,
    requester_email: str,
    language: str,
    channel: Channel = Channel.PORTAL,
    identifiers: dict | None = None,
    details: dict | None = None,
    message: str | None = None,
    representative_name: str | None = None,
    received_at: datetime | None = None,
    proofs: list[IdentityProof] | None = None,
    reference: str | None = None,
) -> Case:
    """Open a case with its due date, added to the session but not yet audited: the caller
    records :func:`record_created` in the same transaction (which writes the case), and
    commits. Without ``reference`` one is drawn and looked up first; a caller that gives one
    handles :func:`reference_taken` itself."""
    received_at = received_at or utcnow()
    case = Case(
        reference=reference or _unused_reference(),
        kind=kind,
        status=CaseStatus.SUBMITTED,
        channel=channel,
        language=language,
        requester_name=requester_name,
        requester_email=requester_email,
        email_normalized=requester_email.strip().lower(),
        representative_name=representative_name or None,
        identifiers=identifiers or {},
        details=details or {},
        message=message or None,
        received_at=received_at,
        received_on=deadlines.paris_date(received_at),
        calendar=current_app.config["LEGAL_CALENDAR"],
        token_salt=new_token_salt(),
    )
    case.proofs.extend(proofs or [])
    refresh_due_date(case, today=case.received_on)
    # Not flushed here: the caller's next flush writes the case together with what it added
    # meanwhile (the portal's confirmation e-mail), in one unit of work rather than two.
    db.session.add(case)
    return case


def record_created(case: Case, proofs: list[IdentityProof] | None) -> None:
    """The ``case.created`` audit event of ``case`` (opened by :func:`open_case` with
    ``proofs``)."""
    db.session.flush()  # writes the case, if nothing did yet: its id and its proofs' ids
    record_event(
        "case.created",
        case=case,
        actor_type=ActorType.REQUESTER,
        payload={
            "kind": str(case.kind),
            "channel": str(case.channel),
            "language": case.language,
            # From the list given, not ``case.proofs``: reading that collection back after
            # the flush would load it again from the database.
            "proofs": [p.id for p in proofs or []],
            "representative": bool(case.representative_name),
        },
    )
    logger.info("case %s created kind=%s", case.id, case.kind)


def transition(
    case: Case,
    target: CaseStatus,
    *,
    actor_type: ActorType,
    actor_id: str | int | None = None,
    payload: dict | None = None,
) -> None:
    """Move ``case`` to ``target`` if the state machine allows it, and audit the move.

    Raises ``InvalidTransition`` otherwise, leaving the case unchanged, and
    ``StaleTransition`` when the case is no longer in the status it was read in (someone
    moved it meanwhile). The caller commits, so the change and its audit event land together
    or not at all.
    """
    current = CaseStatus(case.status)
    if not move_allowed(case, target):
        raise InvalidTransition(current, target)
    now = utcnow()
    # A compare-and-set, not a read then a write: of two workers (or agents) that both saw the
    # case in ``current``, one moves it and the other changes nothing (SQLite ignores
    # SELECT … FOR UPDATE; on PostgreSQL the second waits for the first, then finds no row).
    moved = db.session.execute(
        update(Case).where(Case.id == case.id, Case.status == current)
        .values(status=target, updated_at=now)
        .execution_options(synchronize_session=False)).rowcount
    if moved != 1:
        raise StaleTransition(current, target)
    set_committed_value(case, "status", target)
    set_committed_value(case, "updated_at", now)
    if target is CaseStatus.CONFIRMED and case.confirmed_at is None:
        case.confirmed_at = now
    if not target.is_open:
        case.closed_at = now
    # Identity documents go as soon as they have served (docs/legal-rules.md §3), whatever the path.
    deleted = delete_after_move(case, target, today_in_paris().isoformat())
    record_event(
        "case.status_changed",
        case=case,
        actor_type=actor_type,
        actor_id=actor_id,
        payload={"from": str(current), "to": str(target), **(payload or {}),
                 **({"proofs_deleted": deleted} if deleted else {})},
    )
    logger.info("case %s %s -> %s", case.id, current, target)
