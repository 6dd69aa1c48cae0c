"""Carrying out an approved plan (the jobs in ``workers/jobs.py`` call these): one step per
source, then a verification search. Each follows docs/architecture.md, "How a job stays
exactly-once": a step is claimed by raising its attempt number, which then fences its outcome;
the case moves by compare-and-set; a job run twice, or after a worker died, changes nothing
twice (the connectors' operations are idempotent too)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, or_, select, update

from dsar.cases.workflow import StaleTransition, transition
from dsar.changes.notices import open_notices
from dsar.changes.objection import is_direct_marketing
from dsar.changes.plan import plan_of, planned_collections, step_operations
from dsar.changes.rectification import record_statements
from dsar.changes.statements import forget_statements
from dsar.changes.suppression import suppress_case
from dsar.core.audit import record_event
from dsar.core.keys import derived_key
from dsar.extensions import db
from dsar.mail.outbox import commit_and_send
from dsar.models import (
    ActorType,
    Case,
    CaseKind,
    CaseStatus,
    ChangeStep,
    PlanStatus,
    StepStatus,
)
from dsar.models.changes import FINISHED_STEP_STATUSES
from dsar.models.types import utcnow
from dsar.postmortem import plan as postmortem_plan
from dsar.sources.base import OperationUnsupported, SourceError
from dsar.sources.catalog import get_catalog

logger = logging.getLogger(__name__)


#: In a plan's ``remaining``: the source could not be searched again.
UNREACHABLE = "_unreachable"


def hash_key() -> bytes:
    """The key of the keyed hashes anonymisation writes (a purpose of its own)."""
    return derived_key("anonymisation")


def carry_out_step(case_id: int, source: str, *, final_attempt: bool = True,
                   actor_id: str | None = None, now: datetime | None = None) -> str:
    """Carry out the approved plan in one source. Returns ``done``, ``failed``,
    ``unsupported``, or why nothing was done (``already-done``, ``held``, ``superseded``,
    ``not-executing``, ``gone``); raises for RQ's retry while attempts remain."""
    now = now or utcnow()
    step = db.session.scalar(select(ChangeStep).where(ChangeStep.case_id == case_id,
                                                      ChangeStep.source == source))
    case = db.session.get(Case, case_id)
    if step is None or case is None:
        return "gone"
    if case.status is not CaseStatus.EXECUTING:
        db.session.rollback()
        return "not-executing"
    if step.status.finished:
        db.session.rollback()
        return "already-done"
    claim = step.attempts + 1
    lease = now + timedelta(seconds=int(current_app.config["GATHER_TIMEOUT"])
                            + int(current_app.config["GATHER_LEASE_MARGIN"]))
    claimed = db.session.execute(
        update(ChangeStep).where(
            ChangeStep.id == step.id, ChangeStep.attempts == step.attempts,
            or_(ChangeStep.status == StepStatus.PENDING,
                and_(ChangeStep.status == StepStatus.RUNNING, ChangeStep.lease_until < now)))
        .values(status=StepStatus.RUNNING, attempts=claim, started_at=now, lease_until=lease,
                updated_at=now)
        .execution_options(synchronize_session=False)).rowcount
    if claimed != 1:
        db.session.rollback()
        return "held"
    operations = step_operations(step)
    db.session.commit()
    try:
        with get_catalog().connector(source) as connector:
            results = connector.carry_out(operations, hash_key=hash_key())
    except OperationUnsupported as exc:
        return _record(case_id, source, claim, StepStatus.UNSUPPORTED, error=str(exc)[:500],
                       actor_id=actor_id)
    except Exception as exc:
        message = (f"{type(exc).__name__}: {exc}" if isinstance(exc, SourceError)
                   else type(exc).__name__)[:500]
        if not final_attempt:
            _record(case_id, source, claim, StepStatus.PENDING, error=message,
                    actor_id=actor_id)
            raise SourceError(message) from None  # RQ's retry; no foreign text in its log
        return _record(case_id, source, claim, StepStatus.FAILED, error=message,
                       actor_id=actor_id)
    return _record(case_id, source, claim, StepStatus.DONE,
                   outcome=[r.to_json() for r in results], actor_id=actor_id)


def _record(case_id: int, source: str, claim: int, status: StepStatus, *,
            outcome: list | None = None, error: str | None = None,
            actor_id: str | None = None) -> str:
    """Record a step's end, only while ``claim`` still holds it (else ``superseded``)."""
    recorded = db.session.execute(
        update(ChangeStep).where(ChangeStep.case_id == case_id, ChangeStep.source == source,
                                 ChangeStep.status == StepStatus.RUNNING,
                                 ChangeStep.attempts == claim)
        .values(status=status, outcome=outcome or [], error=error, lease_until=None,
                finished_at=utcnow() if status.finished else None, updated_at=utcnow())
        .execution_options(synchronize_session=False)).rowcount
    if recorded != 1:
        db.session.rollback()
        logger.warning("case %s source %s: step handed to another job meanwhile", case_id,
                       source)
        return "superseded"
    if status.finished:
        record_event("plan.step_done" if status is StepStatus.DONE else "plan.step_failed",
                     case=db.session.get(Case, case_id), actor_type=ActorType.WORKER,
                     actor_id=actor_id,
                     payload={"source": source, "status": str(status),
                              "outcome": outcome or [], "error": error})
    db.session.commit()
    return str(status)


def all_steps_finished(case_id: int) -> bool:
    """Whether no step of the case is pending or running (time to verify)."""
    statuses = db.session.scalars(select(ChangeStep.status).where(
        ChangeStep.case_id == case_id)).all()
    return all(s in FINISHED_STEP_STATUSES for s in statuses)


def verify(case_id: int, *, actor_id: str | None = None) -> str:
    """Once every step is finished: search every planned source again. What should be gone
    and is found again sends the case back to the DPO (plan ``remains``, counts per source and
    collection); otherwise the plan is ``verified``. Either way the case returns to review.
    Returns ``verified``, ``remains``, or why nothing was done."""
    case = db.session.get(Case, case_id)
    if case is None or case.status not in (CaseStatus.EXECUTING, CaseStatus.VERIFYING):
        return "not-executing"
    if not all_steps_finished(case_id):
        db.session.rollback()
        return "waiting"
    if case.status is CaseStatus.EXECUTING:
        try:
            transition(case, CaseStatus.VERIFYING, actor_type=ActorType.WORKER,
                       actor_id=actor_id)
        except StaleTransition:
            db.session.rollback()
            return "superseded"
        plan = plan_of(case)
        plan.status = PlanStatus.CARRIED_OUT
        db.session.commit()
    remaining = _found_again(case)
    plan = plan_of(case)
    try:
        transition(case, CaseStatus.REVIEW, actor_type=ActorType.WORKER, actor_id=actor_id,
                   payload={"verified": not remaining})
    except StaleTransition:
        db.session.rollback()
        return "superseded"
    plan.remaining = remaining
    plan.status = PlanStatus.REMAINS if remaining else PlanStatus.VERIFIED
    plan.verified_at = utcnow()
    record_event("plan.verified", case=case, actor_type=ActorType.WORKER, actor_id=actor_id,
                 payload={"remaining": remaining})
    # Art. 19: the recipients are told once the change is done and checked.
    mails = [] if remaining else open_notices(case)
    if not remaining:
        after_verified(case)
    commit_and_send(*mails)
    return "remains" if remaining else "verified"


def after_verified(case: Case) -> None:
    """What each kind leaves behind once its plan is verified (in the caller's transaction):
    an erased person, or one who objected to direct marketing, goes on the suppression list
    (keyed hashes only: not re-imported, not contacted again); a rectification keeps the
    person's statement where a source could not be corrected; an erasure deletes the
    statements the person made before (their values too); a deceased person whose data was
    erased goes on the suppression list by their address (never the requester's)."""
    if case.kind is CaseKind.ERASURE:
        forget_statements(case)
    if case.kind is CaseKind.ERASURE or is_direct_marketing(case):
        suppress_case(case, phones=not is_direct_marketing(case))
    elif case.kind is CaseKind.RECTIFICATION:
        record_statements(case)
    elif case.kind is CaseKind.POSTMORTEM_EXECUTION:
        postmortem_plan.after_verified(case)


def _found_again(case: Case) -> dict[str, dict[str, int]]:
    """Per source and collection, how many records the plan erased or anonymised are still
    there unchanged (``Connector.remaining``: looked up by key where the kind can), beyond
    those the source said it had to keep."""
    remaining: dict[str, dict[str, int]] = {}
    catalog = get_catalog()
    steps = {s.source: s for s in db.session.scalars(
        select(ChangeStep).where(ChangeStep.case_id == case.id))}
    for planned_source in sorted({p.source for p in planned_collections(case)
                                  if p.carried}):
        step = steps.get(planned_source)
        if step is None:
            continue
        operations = {o.collection: o for o in step_operations(step)}
        if not operations:
            continue
        # What the source reported it had to keep (referenced by retained records).
        expected = {o.get("collection"): o.get("kept", 0) for o in step.outcome or []}
        try:
            with catalog.connector(planned_source) as connector:
                again = connector.remaining(list(operations.values()))
        except SourceError:
            # Cannot be checked now (the source is down): the DPO sees it and runs the plan
            # again once it is back; the erasure is never called done unverified.
            remaining[planned_source] = {UNREACHABLE: 1}
            continue
        for collection, count in again.items():
            if count > expected.get(collection, 0):
                remaining.setdefault(planned_source, {})[collection] = \
                    count - expected.get(collection, 0)
    return remaining

