"""Each kind's plan, put together from the pieces of ``dsar.changes.planning``: an erasure by
each collection's erasure policy and the DPO's exceptions; a restriction wherever a source can
restrict; a rectification from its corrections; an objection from its target and decisions; a
deceased person's rights from their directives or an heir's requests (``dsar.postmortem.plan``)."""

from __future__ import annotations

from dsar.changes import objection, rectification
from dsar.changes.planning import PlannedCollection, erased, found_collections, plan_of, restricted
from dsar.changes.restriction_register import restrict_case
from dsar.models import Case, CaseKind, ChangePlan
from dsar.postmortem import plan as postmortem_plan


def planned_collections(case: Case, plan: ChangePlan | None = None, *,
                        with_keys: bool = False) -> list[PlannedCollection]:
    """Every collection the plan of ``case`` touches or reports, and what it does there."""
    plan = plan or plan_of(case)
    if case.kind is CaseKind.RECTIFICATION:
        return rectification.planned_corrections(case, plan)
    found = found_collections(case, with_keys=with_keys)
    if case.kind is CaseKind.RESTRICTION:
        return [restricted(case, s, c, n, k) for s, c, n, k in found]
    if case.kind is CaseKind.OBJECTION:
        return objection.planned_objection(case, plan, found)
    if case.kind is CaseKind.POSTMORTEM_EXECUTION:
        return postmortem_plan.planned_postmortem(case, plan, found)
    return [erased(case, plan, s, c, n, k) for s, c, n, k in found]


def check_ready(case: Case, plan: ChangePlan) -> None:
    """Refuse (``ActionRefused``) to approve a plan its kind has not finished preparing."""
    if case.kind is CaseKind.RECTIFICATION:
        rectification.check_ready(case, plan)
    elif case.kind is CaseKind.OBJECTION:
        objection.check_ready(case, plan)


def after_approval(case: Case) -> None:
    """What a kind does the moment its plan is approved (in the approval's transaction): a
    restriction puts the person on the register at once, before the sources are flagged (the
    register is what the organisation's tools ask, Art. 18)."""
    if case.kind is CaseKind.RESTRICTION:
        restrict_case(case)
    elif case.kind is CaseKind.POSTMORTEM_EXECUTION:
        postmortem_plan.after_approval(case)
