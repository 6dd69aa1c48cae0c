"""Objection (Art. 21).

- **Direct marketing** (Art. 21(2)–(3)): honoured without any balancing and without waiting for
  staff. Once the person confirms their address, the case is taken up by the system: searched,
  its plan (``unsubscribe`` wherever a source declares it) approved, carried out and verified,
  the address put on the suppression list, the answer letter built and released. Nothing is
  disclosed: the letter says where the person was unsubscribed, not what was held.
- **Other processing** (Art. 21(1)), based on legitimate interests or a public task: the DPO
  decides per processing of the register, either stop (its data erased or restricted through
  the same machinery) or compelling legitimate grounds, written, which the person receives
  with the Art. 12(4) remedies.
"""

from __future__ import annotations

import logging

from flask_babel import force_locale, gettext
from flask_babel import lazy_gettext as _l

from dsar.cases.refusals import ActionRefused, required_text
from dsar.changes.planning import (
    PlannedCollection,
    erased,
    found_collections,
    open_plan,
    restricted,
    write_draft,
)
from dsar.core.audit import record_event
from dsar.extensions import db
from dsar.models import ActorType, Case, CaseKind, CaseStatus, ChangePlan, PlanStatus, StaffUser
from dsar.sources.catalog import get_catalog

logger = logging.getLogger(__name__)

#: The legal bases an objection under Art. 21(1) applies to (Art. 6(1)(e) and (f)).
OBJECTABLE_BASES = frozenset({"legitimate_interests", "public_task", "public_interest"})
#: A DPO's decisions on one processing, and how a stop is carried out.
DECISIONS = {"stop": _l("Stop: the processing ends for this person"),
             "grounds": _l("Go on: compelling legitimate grounds (written below)")}
MEANS = {"erase": _l("by erasing the data it uses"),
         "restrict": _l("by restricting the data it uses (kept, not used)")}


def is_direct_marketing(case: Case) -> bool:
    """Whether ``case`` objects to direct marketing (the portal's choice)."""
    return (case.kind is CaseKind.OBJECTION
            and (case.details or {}).get("objection_target") == "direct_marketing")


def concerned_processings(case: Case, found) -> list:
    """The processings of the register based on legitimate interests or a public task that
    use a source where the search found the person (what Art. 21(1) lets them object to)."""
    sources = {source.name for source, *_ in found}
    return [p for p in get_catalog().register.for_sources(sources)
            if p.legal_basis in OBJECTABLE_BASES]


def processing_label(processing, language: str) -> str:
    """A processing's purpose in words, in ``language``."""
    return (processing.purposes.get(language) or processing.purposes.get("fr")
            or processing.name)


def planned_objection(case: Case, plan: ChangePlan | None, found) -> list[PlannedCollection]:
    """Direct marketing: ``unsubscribe`` wherever a collection found declares it. Other: the
    collections of the sources of each processing the DPO stopped, erased (per their erasure
    policy) or restricted."""
    catalog = get_catalog()
    if is_direct_marketing(case):
        return [PlannedCollection(source=s.name, source_label=s.label(case.language),
                                  collection=c.name, collection_label=c.label(case.language),
                                  count=n, keys=k, action="unsubscribe")
                for s, c, n, k in found if catalog.supports(s.name, c.name, "unsubscribe")]
    decisions = (plan.decisions if plan else None) or {}
    means: dict[str, str] = {}
    for processing in concerned_processings(case, found):
        decision = decisions.get(processing.name) or {}
        if decision.get("decision") == "stop":
            for source in processing.sources:
                # Erasing wins over restricting where two stopped processings share a source.
                if means.get(source) != "erase":
                    means[source] = decision.get("means", "restrict")
    planned = []
    for s, c, n, k in found:
        if s.name not in means:
            continue
        going_on = continuing(case, s.name, decisions)
        if going_on:
            # Another processing (a contract, a legal duty, grounds the DPO upheld) still needs
            # this data: stopping one purpose must not erase or freeze it for the others.
            planned.append(PlannedCollection(
                source=s.name, source_label=s.label(case.language), collection=c.name,
                collection_label=c.label(case.language), count=n, keys=k, action="retain",
                basis=shared_basis(case, going_on)))
            continue
        planned.append(erased(case, None, s, c, n, k) if means[s.name] == "erase"
                       else restricted(case, s, c, n, k))
    return planned


def continuing(case: Case, source: str, decisions: dict) -> list:
    """The processings of the register that use ``source`` and go on: any not stopped by the
    DPO (not objectable, undecided, or kept for compelling grounds)."""
    return [p for p in get_catalog().register.processing.values()
            if source in p.sources
            and (decisions.get(p.name) or {}).get("decision") != "stop"]


def shared_basis(case: Case, going_on: list) -> str:
    """Why data of a stopped processing is kept: the processings that still use it, in the
    person's language."""
    with force_locale(case.language):
        return gettext("Also used for a processing that continues: %(purposes)s",
                       purposes="; ".join(processing_label(p, case.language)
                                          for p in going_on))


def decide(case: Case, staff: StaffUser, *, processing: str, decision: str, means: str,
           text: str | None) -> None:
    """A DPO decides on one processing: stop (erase or restrict) or go on for compelling
    legitimate grounds, written (given to the person). Caller checks the role and commits."""
    if case.kind is not CaseKind.OBJECTION or case.status is not CaseStatus.REVIEW \
            or is_direct_marketing(case):
        raise ActionRefused(_l("This action is not possible while the case is in this state."))
    plan = open_plan(case)
    if plan.status not in (PlanStatus.DRAFT, PlanStatus.REMAINS):
        raise ActionRefused(_l("This plan was already approved."))
    names = {p.name for p in concerned_processings(case, found_collections(case))}
    if processing not in names:
        raise ActionRefused(_l("The person's data is not used by this processing."))
    if decision not in DECISIONS:
        raise ActionRefused(_l("Choose whether the processing stops or goes on."))
    entry = {"decision": decision}
    if decision == "grounds":
        entry["text"] = required_text(text, _l("Please write the compelling legitimate "
                                               "grounds."))
    else:
        if means not in MEANS:
            raise ActionRefused(_l("Choose how the processing is stopped."))
        entry["means"] = means
        if (text or "").strip():
            entry["text"] = required_text(text, _l("Please write the compelling legitimate "
                                                   "grounds."))
    write_draft(plan, decisions={**(plan.decisions or {}), processing: entry})
    record_event("plan.objection_decided", case=case, actor_type=ActorType.STAFF,
                 actor_id=staff.id, payload={"processing": processing, "decision": decision,
                                             "means": entry.get("means")})


def check_ready(case: Case, plan: ChangePlan) -> None:
    """An objection to other processing is approved once each processing concerned has the
    DPO's decision (direct marketing needs none)."""
    if is_direct_marketing(case):
        return
    undecided = [p for p in concerned_processings(case, found_collections(case))
                 if p.name not in (plan.decisions or {})]
    if undecided:
        raise ActionRefused(_l("Decide on every processing concerned before approving."))


def decide_action(case: Case, staff: StaffUser, form) -> None:
    """The case page's "decide" action on an objection (DPO only)."""
    decide(case, staff, processing=form.get("processing") or "",
           decision=form.get("decision") or "", means=form.get("means") or "",
           text=form.get("text"))
    db.session.commit()
