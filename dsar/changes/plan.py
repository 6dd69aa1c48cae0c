"""The plan of a request that changes data: for every source and collection, the records the
search found and what happens to them (``dsar.changes.planning``, per kind), with the exceptions
a DPO adds to an erasure (Art. 17(3)). Built on the fly from the search results until a DPO
approves it; approval seals the operations into one step per source."""

from __future__ import annotations

import json
from collections import defaultdict

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from dsar import pipeline
from dsar.cases.refusals import ActionRefused, required_text
from dsar.cases.workflow import InvalidTransition, transition
from dsar.changes.kinds import after_approval, check_ready, planned_collections
from dsar.changes.planning import (  # noqa: F401 -- the plan's API, re-exported
    EDITABLE,
    PlannedCollection,
    open_plan,
    plan_of,
    searched,
    steps_of,
    write_draft,
)
from dsar.core import storage
from dsar.core.audit import record_event
from dsar.extensions import db
from dsar.mail.outbox import commit_and_send, queue_email
from dsar.models import (
    CHANGE_KINDS,
    ActorType,
    Case,
    CaseKind,
    CaseStatus,
    ChangePlan,
    ChangeStep,
    MailTemplate,
    PlanStatus,
    StaffUser,
    StepStatus,
)
from dsar.models.types import utcnow
from dsar.search import gathering
from dsar.sources.base import Identity, Operation

#: The exceptions of Art. 17(3) a DPO may keep items under, in a DPO's words.
EXCEPTIONS = {
    "expression": _l("Freedom of expression and information"),
    "legal_obligation": _l("A legal obligation, or a task in the public interest"),
    "public_health": _l("Public health"),
    "archiving": _l("Archiving in the public interest, research or statistics"),
    "legal_claims": _l("Establishing, exercising or defending legal claims (e.g. litigation)"),
}


def _editable(case: Case) -> ChangePlan:
    if case.kind not in CHANGE_KINDS or case.status is not CaseStatus.REVIEW:
        raise ActionRefused(_l("This action is not possible while the case is in this state."))
    plan = open_plan(case)
    if plan.status not in (PlanStatus.DRAFT, PlanStatus.REMAINS):
        raise ActionRefused(_l("This plan was already approved."))
    return plan


def keep(case: Case, staff: StaffUser, *, source: str, collection: str, exception: str,
         reason: str) -> None:
    """A DPO keeps a collection under an Art. 17(3) exception, with their reason (shown to
    the person in the certificate). Caller checks the role and commits."""
    plan = _editable(case)
    if case.kind is not CaseKind.ERASURE:
        raise ActionRefused(_l("This action is not possible for this kind of request."))
    if exception not in EXCEPTIONS:
        raise ActionRefused(_l("Choose the exception the items are kept under."))
    reason = required_text(reason, _l("Please write why these items are kept."))
    if not any(p.source == source and p.collection == collection
               for p in planned_collections(case, plan)):
        raise ActionRefused(_l("Nothing of this person was found there."))
    write_draft(plan, exceptions=[e for e in plan.exceptions
                                  if (e["source"], e["collection"]) != (source, collection)] + [
        {"source": source, "collection": collection, "exception": exception,
         "reason": reason}])
    record_event("plan.item_kept", case=case, actor_type=ActorType.STAFF, actor_id=staff.id,
                 payload={"source": source, "collection": collection,
                          "exception": exception})


def draft_plan(case_id: int) -> bool:
    """After the search of a request that changes data: open its plan (a draft the DPO
    reviews) instead of an answer package. False for the kinds answered with a copy."""
    case = db.session.get(Case, case_id)
    if case is None or case.kind not in CHANGE_KINDS:
        return False
    open_plan(case)
    db.session.commit()
    return True


def approve(case: Case, staff: StaffUser | None) -> list[str]:
    """A DPO approves the plan as it stands (``staff`` None: the system, for an objection to
    direct marketing, honoured without anyone's decision): its operations are sealed into one
    step per source, the case moves to ``executing``; returns the sources whose step is to
    run (queue them after the commit, which the caller does)."""
    plan = _editable(case)
    version = plan.updated_at  # what is sealed below: an edit since makes the approval fail
    check_ready(case, plan)
    by_source: dict[str, list[PlannedCollection]] = defaultdict(list)
    for planned in planned_collections(case, plan, with_keys=True):
        by_source[planned.source].append(planned)
    identities = {row.source: gathering.row_input(row) for row in searched(case)}
    steps = {s.source: s for s in db.session.scalars(
        select(ChangeStep).where(ChangeStep.case_id == case.id))}
    to_run = []
    for source, planned in sorted(by_source.items()):
        operations = [Operation(p.collection, p.action, p.keys, p.anonymize,
                                identities.get(source, Identity()), values=p.values)
                      for p in planned if p.carried]
        step = steps.get(source) or ChangeStep(case_id=case.id, source=source, attempts=0)
        db.session.add(step)
        step.operations_sealed = storage.seal(_operations_json(operations),
                                              _context(case.id, source))
        step.status = StepStatus.PENDING if operations else StepStatus.NOTHING
        step.outcome, step.error, step.lease_until = [], None, None
        if operations:
            to_run.append(source)
    actor = ActorType.STAFF if staff else ActorType.SYSTEM
    approved = db.session.execute(
        update(ChangePlan).where(ChangePlan.id == plan.id, ChangePlan.status.in_(EDITABLE),
                                 ChangePlan.updated_at == version)
        .values(status=PlanStatus.APPROVED, approved_by_id=staff.id if staff else None,
                approved_at=utcnow(), remaining={}, updated_at=utcnow())
        .execution_options(synchronize_session=False)).rowcount
    if approved != 1:
        raise ActionRefused(_l("The plan changed while you were approving it: please look at "
                               "it again."))
    db.session.refresh(plan)
    payload = {"sources": len(by_source), "steps": len(to_run)}
    try:
        transition(case, CaseStatus.EXECUTING, actor_type=actor,
                   actor_id=staff.id if staff else None, payload=payload)
    except InvalidTransition:
        raise ActionRefused(
            _l("This action is not possible while the case is in this state.")) from None
    after_approval(case)
    record_event("plan.approved", case=case, actor_type=actor,
                 actor_id=staff.id if staff else None,
                 payload={"sources": sorted(by_source), "steps": to_run,
                          "kept": len(plan.exceptions)})
    return to_run


def _context(case_id: int, source: str) -> str:
    return f"change_steps:{case_id}:{source}:operations"


def _operations_json(operations: list[Operation]) -> bytes:
    return json.dumps([{"collection": o.collection, "action": o.action, "keys": list(o.keys),
                        "anonymize": dict(o.anonymize), "identity": o.identity.to_json(),
                        "values": {k: dict(v) for k, v in o.values.items()}}
                       for o in operations], sort_keys=True).encode()


def step_operations(step: ChangeStep) -> list[Operation]:
    """The operations sealed into ``step`` at approval."""
    if step.operations_sealed is None:
        return []
    data = json.loads(storage.unseal(step.operations_sealed, _context(step.case_id,
                                                                      step.source)))
    return [Operation(o["collection"], o["action"], tuple(o["keys"]), o["anonymize"],
                      Identity.from_json(o["identity"]), values=o.get("values") or {})
            for o in data]


def keep_action(case: Case, staff: StaffUser, form) -> None:
    """The case page's "keep" action (DPO only)."""
    source, _, collection = (form.get("source_collection") or "").partition("/")
    keep(case, staff, source=source, collection=collection,
         exception=form.get("exception") or "", reason=form.get("reason"))
    db.session.commit()


def approve_action(case: Case, staff: StaffUser | None, form=None) -> None:
    """The case page's "approve" action (DPO only): approve, commit, queue the steps (or the
    verification at once when no source has anything to do)."""
    to_run = approve(case, staff)
    # The person is told it is under way (the answer letter follows); an objection to direct
    # marketing is done within the minute: its answer says it all.
    commit_and_send(*([] if staff is None else [queue_email(case,
                                                            MailTemplate.CHANGE_UNDER_WAY)]))
    for source in to_run:
        pipeline.enqueue_step(case.id, source)
    if not to_run:
        pipeline.enqueue_verification(case.id)
