"""What the case page shows of each kind that changes data besides the plan itself: a
rectification's corrections and the pick list of the fields found, an objection's
processings and the DPO's decisions, a restriction's lift."""

from __future__ import annotations

from datetime import timedelta

from dsar.cases.clock import today_in_paris
from dsar.changes import objection, rectification
from dsar.changes.planning import found_collections, plan_of
from dsar.models import Case, CaseKind


def kind_context(case: Case, can: dict[str, bool]) -> dict:
    """The template's values for ``case``'s kind (empty for the others)."""
    plan = plan_of(case)
    if case.kind is CaseKind.RECTIFICATION:
        items = rectification.items_of(plan)
        return {"corrections": items["corrections"], "refused_corrections": items["refused"],
                # Reading every record found: only when the pick list is offered.
                "targets": rectification.targets(case) if can.get("correct") else []}
    if case.kind is CaseKind.OBJECTION:
        marketing = objection.is_direct_marketing(case)
        processings = [] if marketing or plan is None else [
            (p.name, objection.processing_label(p, case.language),
             (plan.decisions or {}).get(p.name))
            for p in objection.concerned_processings(case, found_collections(case))]
        return {"objection_marketing": marketing, "processings": processings,
                "objection_decisions": objection.DECISIONS, "objection_means": objection.MEANS}
    if case.kind is CaseKind.RESTRICTION:
        return {"lift_earliest": today_in_paris() + timedelta(days=1)}
    return {}
