"""What the case page shows of each kind that changes data besides the plan itself: a
rectification's corrections and the pick list of the fields found, an objection's
processings and the DPO's decisions, a restriction's lift."""

from __future__ import annotations

from datetime import timedelta

from flask_babel import force_locale

from dsar.cases.clock import today_in_paris
from dsar.changes import objection, rectification
from dsar.changes.planning import found_collections, plan_of
from dsar.extensions import db
from dsar.models import Case, CaseKind
from dsar.postmortem import heirs, matching
from dsar.postmortem import plan as postmortem_plan
from dsar.postmortem.copy import in_copy
from dsar.sources.catalog import get_catalog


def kind_context(case: Case, can: dict[str, bool]) -> dict:
    """The template's values for ``case``'s kind (empty for the others)."""
    plan = plan_of(case)
    if case.kind is CaseKind.RECTIFICATION:
        items = rectification.items_of(plan)
        return {"corrections": items["corrections"], "refused_corrections": items["refused"],
                "field_words": field_words(case),
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
    if case.kind is CaseKind.POSTMORTEM_EXECUTION:
        return postmortem_context(case, plan, can)
    return {}


def field_words(case: Case) -> dict[str, str]:
    """``source/collection/field`` -> the field in words (``sources.toml``'s field labels)."""
    words = {}
    for source in get_catalog().sources.values():
        for collection in source.collections.values():
            for name in collection.fields:
                words[f"{source.name}/{collection.name}/{name}"] = collection.field_label(
                    name, case.language)
    return words


def postmortem_context(case: Case, plan, can: dict[str, bool]) -> dict:
    """A deceased person's rights: what staff confirmed, which directives decide, the heir's
    requests and the DPO's choices per collection, the reasons a refusal proposes."""
    match = matching.match_of(case)
    with force_locale(case.language):
        reasons = (str(matching.REFUSAL_REASONS[match.outcome])
                   if match and match.outcome in matching.REFUSAL_REASONS else "")
    directive_case = (db.session.get(Case, match.directive_case_id)
                      if match and match.directive_case_id else None)
    collections = []
    decision = postmortem_plan.decision_of(case, plan)
    if match is not None and plan is not None:
        for source, config, count, _ in found_collections(case):
            collections.append({
                "key": postmortem_plan.key_of(source.name, config.name),
                "label": f"{source.label(case.language)} · {config.label(case.language)}",
                "count": count,
                "choice": decision.choice(source.name, config),
                "handed": in_copy(config, decision.handed(source.name, config))})
    return {"deceased": match, "deceased_outcome": matching.OUTCOME_LABELS.get(
                match.outcome) if match else None,
            "directive_case": directive_case,
            "heir_requests": [heirs.HEIR_REQUESTS[r] for r in heirs.requests_of(case.details)],
            "postmortem_collections": collections,
            "postmortem_choices": {c: heirs.CHOICE_LABELS[c]
                                   for c in heirs.allowed_choices(case.details)},
            "postmortem_choice_labels": heirs.CHOICE_LABELS,
            "refusal_proposed": reasons}
