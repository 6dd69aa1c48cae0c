"""The plan of a request that changes data: for every source and collection, the records the
search found and what happens to them, from each collection's ``erasure`` policy in
``sources.toml`` and the exceptions a DPO adds (Art. 17(3)). Built on the fly from the search
results until a DPO approves it; approval seals the operations into one step per source."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from dsar import pipeline
from dsar.cases.refusals import ActionRefused, required_text
from dsar.cases.staff_actions import move_case
from dsar.core import storage
from dsar.core.audit import record_event
from dsar.extensions import db
from dsar.mail.outbox import commit_and_send, queue_email
from dsar.models import (
    CHANGE_KINDS,
    ActorType,
    Case,
    CaseStatus,
    ChangePlan,
    ChangeStep,
    GatherStatus,
    MailTemplate,
    PlanStatus,
    SourceResult,
    StaffUser,
    StepStatus,
)
from dsar.models.types import utcnow
from dsar.search import gathering
from dsar.sources.base import Identity, Operation
from dsar.sources.catalog import get_catalog

#: The exceptions of Art. 17(3) a DPO may keep items under, in a DPO's words.
EXCEPTIONS = {
    "expression": _l("Freedom of expression and information"),
    "legal_obligation": _l("A legal obligation, or a task in the public interest"),
    "public_health": _l("Public health"),
    "archiving": _l("Archiving in the public interest, research or statistics"),
    "legal_claims": _l("Establishing, exercising or defending legal claims (e.g. litigation)"),
}


@dataclass(frozen=True)
class PlannedCollection:
    """What the plan does to one collection of one source."""

    source: str
    source_label: str
    collection: str
    collection_label: str
    count: int
    #: ``delete``, ``anonymize``, ``redact`` (files) or ``retain``.
    action: str
    anonymize: dict = field(default_factory=dict)
    basis: str | None = None
    until: str | None = None
    #: A DPO's exception (a key of :data:`EXCEPTIONS`) and their reason, when kept by them.
    exception: str | None = None
    reason: str | None = None
    #: The records' keys (only when asked for: ``planned_collections(with_keys=True)``).
    keys: tuple[str, ...] = ()

    @property
    def kept(self) -> bool:
        return self.action == "retain"


def plan_of(case: Case) -> ChangePlan | None:
    """The case's plan row, None before the search ends."""
    return db.session.scalar(select(ChangePlan).where(ChangePlan.case_id == case.id))


def open_plan(case: Case) -> ChangePlan:
    """The case's plan, created (as a draft) if it has none; caller commits."""
    plan = plan_of(case)
    if plan is None:
        plan = ChangePlan(case_id=case.id, status=PlanStatus.DRAFT, exceptions=[], remaining={})
        db.session.add(plan)
        db.session.flush()
    return plan


def steps_of(case: Case) -> list[ChangeStep]:
    """The case's steps, by source."""
    return list(db.session.scalars(select(ChangeStep).where(ChangeStep.case_id == case.id)
                                   .order_by(ChangeStep.source)))


def draft_plan(case_id: int) -> bool:
    """After the search of a request that changes data: open its plan (a draft the DPO
    reviews) instead of an answer package. False for the kinds answered with a copy."""
    case = db.session.get(Case, case_id)
    if case is None or case.kind not in CHANGE_KINDS:
        return False
    open_plan(case)
    db.session.commit()
    return True


def planned_collections(case: Case, plan: ChangePlan | None = None, *,
                        with_keys: bool = False) -> list[PlannedCollection]:
    """Every collection where the search found the person, and what the plan does there.
    The counts come from the search rows; the records' keys (``with_keys``: what approval
    seals) mean reading every stored result through, which only approval needs."""
    plan = plan or plan_of(case)
    kept = {(e["source"], e["collection"]): e for e in (plan.exceptions if plan else [])}
    catalog = get_catalog()
    planned = []
    for row in _searched(case):
        source = catalog.sources.get(row.source)
        if source is None:
            continue
        keys: dict[str, list[str]] = defaultdict(list)
        if with_keys:
            for record in gathering.iter_records(row):
                keys[record["collection"]].append(record["key"])
        counts = ({name: len(found) for name, found in keys.items()} if with_keys
                  else {name: n for name, n in (row.counts or {}).items() if n})
        for name, count in sorted(counts.items()):
            config = source.collections.get(name)
            if config is None:
                continue
            policy = config.erasure
            action = policy.strategy
            if action != "retain" and source.kind == "files":
                action = "redact"  # a log line is masked in place, never removed alone
            exception = kept.get((row.source, name))
            planned.append(PlannedCollection(
                source=row.source, source_label=source.label(case.language), collection=name,
                collection_label=config.label(case.language), count=count,
                action="retain" if exception else action,
                # A delete carries the map too: a record retained ones still reference is
                # anonymised instead (dsar.sources.sql_changes).
                anonymize=dict(policy.anonymize) if action in ("anonymize", "delete") else {},
                basis=policy.retain_basis if action == "retain" else None,
                until=policy.retain_until if action == "retain" else None,
                exception=exception["exception"] if exception else None,
                reason=exception["reason"] if exception else None,
                keys=tuple(keys.get(name, ()))))
    return planned


def _searched(case: Case) -> list[SourceResult]:
    return list(db.session.scalars(select(SourceResult).where(
        SourceResult.case_id == case.id, SourceResult.status == GatherStatus.DONE)
        .order_by(SourceResult.source)))


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
    if exception not in EXCEPTIONS:
        raise ActionRefused(_l("Choose the exception the items are kept under."))
    reason = required_text(reason, _l("Please write why these items are kept."))
    if not any(p.source == source and p.collection == collection
               for p in planned_collections(case, plan)):
        raise ActionRefused(_l("Nothing of this person was found there."))
    plan.exceptions = [e for e in plan.exceptions
                       if (e["source"], e["collection"]) != (source, collection)] + [
        {"source": source, "collection": collection, "exception": exception,
         "reason": reason}]
    record_event("plan.item_kept", case=case, actor_type=ActorType.STAFF, actor_id=staff.id,
                 payload={"source": source, "collection": collection,
                          "exception": exception})


def approve(case: Case, staff: StaffUser) -> list[str]:
    """A DPO approves the plan as it stands: its operations are sealed into one step per
    source, the case moves to ``executing``; returns the sources whose step is to run (queue
    them after the commit, which this function does)."""
    plan = _editable(case)
    by_source: dict[str, list[PlannedCollection]] = defaultdict(list)
    for planned in planned_collections(case, plan, with_keys=True):
        by_source[planned.source].append(planned)
    identities = {row.source: gathering.row_input(row) for row in _searched(case)}
    steps = {s.source: s for s in db.session.scalars(
        select(ChangeStep).where(ChangeStep.case_id == case.id))}
    to_run = []
    for source, planned in sorted(by_source.items()):
        operations = [Operation(p.collection, p.action, p.keys, p.anonymize,
                                identities.get(source, Identity()))
                      for p in planned if not p.kept]
        step = steps.get(source) or ChangeStep(case_id=case.id, source=source, attempts=0)
        db.session.add(step)
        step.operations_sealed = storage.seal(_operations_json(operations),
                                              _context(case.id, source))
        step.status = StepStatus.PENDING if operations else StepStatus.NOTHING
        step.outcome, step.error, step.lease_until = [], None, None
        if operations:
            to_run.append(source)
    plan.status, plan.approved_by_id, plan.approved_at = (PlanStatus.APPROVED, staff.id,
                                                          utcnow())
    plan.remaining = {}
    move_case(case, CaseStatus.EXECUTING, staff,
              {"sources": len(by_source), "steps": len(to_run)})
    record_event("plan.approved", case=case, actor_type=ActorType.STAFF, actor_id=staff.id,
                 payload={"sources": sorted(by_source), "steps": to_run,
                          "kept": len(plan.exceptions)})
    return to_run


def _context(case_id: int, source: str) -> str:
    return f"change_steps:{case_id}:{source}:operations"


def _operations_json(operations: list[Operation]) -> bytes:
    return json.dumps([{"collection": o.collection, "action": o.action, "keys": list(o.keys),
                        "anonymize": dict(o.anonymize), "identity": o.identity.to_json()}
                       for o in operations], sort_keys=True).encode()


def step_operations(step: ChangeStep) -> list[Operation]:
    """The operations sealed into ``step`` at approval."""
    if step.operations_sealed is None:
        return []
    data = json.loads(storage.unseal(step.operations_sealed, _context(step.case_id,
                                                                      step.source)))
    return [Operation(o["collection"], o["action"], tuple(o["keys"]), o["anonymize"],
                      Identity.from_json(o["identity"])) for o in data]


def keep_action(case: Case, staff: StaffUser, form) -> None:
    """The case page's "keep" action (DPO only)."""
    source, _, collection = (form.get("source_collection") or "").partition("/")
    keep(case, staff, source=source, collection=collection,
         exception=form.get("exception") or "", reason=form.get("reason"))
    db.session.commit()


def approve_action(case: Case, staff: StaffUser, form=None) -> None:
    """The case page's "approve" action (DPO only): approve, commit, queue the steps (or the
    verification at once when no source has anything to do)."""
    to_run = approve(case, staff)
    # The person is told it is under way, and what is kept and why (the certificate follows).
    commit_and_send(queue_email(case, MailTemplate.CHANGE_UNDER_WAY))
    for source in to_run:
        pipeline.enqueue_step(case.id, source)
    if not to_run:
        pipeline.enqueue_verification(case.id)
