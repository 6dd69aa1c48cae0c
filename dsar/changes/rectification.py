"""Rectification (Art. 16): staff map each correction the person asked for to the fields the
search found (a pick list of the records' fields, several fields for one correction), with the
new value; what cannot be matched is refused with a reason. A DPO approves; the sources that can
be changed are updated by the connectors (``update``), the others keep a supplementary
statement (Art. 16, "complete") given with every later copy of the person's data.

The corrections hold the person's values (old and new): they are sealed on the plan
(``ChangePlan.items_sealed``), never written in clear to the database, a log or an event."""

from __future__ import annotations

import json
import secrets
from collections import defaultdict
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from dsar.cases.refusals import ActionRefused, required_text
from dsar.changes.planning import PlannedCollection, open_plan, searched, write_draft
from dsar.core import storage
from dsar.core.audit import record_event
from dsar.extensions import db
from dsar.models import ActorType, Case, CaseKind, CaseStatus, ChangePlan, PlanStatus, StaffUser
from dsar.search import gathering
from dsar.sources.catalog import get_catalog

#: The longest new value staff may type (a name, an address, a date).
VALUE_MAX = 500
#: How many records of one collection the pick list offers, and how many choices in all.
PICK_PER_COLLECTION = 25
PICK_MAX = 400


@dataclass(frozen=True)
class Target:
    """One field of one record the search found: what a correction can change."""

    source: str
    collection: str
    key: str
    field: str
    value: object
    label: str

    @property
    def token(self) -> str:
        """The pick list's value (a record key may hold any character: it goes last)."""
        return json.dumps([self.source, self.collection, self.field, self.key])


def _context(case_id: int) -> str:
    return f"change_plans:{case_id}:items"


def items_of(plan: ChangePlan | None) -> dict:
    """The plan's corrections and refusals: ``{"corrections": [...], "refused": [...]}``."""
    if plan is None or plan.items_sealed is None:
        return {"corrections": [], "refused": []}
    return json.loads(storage.unseal(plan.items_sealed, _context(plan.case_id)))


def _store(plan: ChangePlan, items: dict) -> None:
    write_draft(plan, items_sealed=storage.seal(json.dumps(items, sort_keys=True).encode(),
                                                _context(plan.case_id)))


def targets(case: Case) -> list[Target]:
    """The pick list: each declared field of each record found, with its value, labelled
    "source · collection · field". Not the excluded fields, nor those that tie a record to
    others (its id, the identifiers it yields, the links it is followed by): changing one
    would hand the record to someone else."""
    catalog = get_catalog()
    found: list[tuple[int, int, Target]] = []  # (record's rank in its collection, order, …)
    for row in searched(case):
        source = catalog.sources.get(row.source)
        if source is None:
            continue
        per_collection: dict[str, int] = defaultdict(int)
        for record in gathering.iter_records(row):
            config = source.collections.get(record["collection"])
            if config is None or per_collection[config.name] >= PICK_PER_COLLECTION:
                continue
            rank = per_collection[config.name]
            per_collection[config.name] += 1
            links = {"id", *config.exclude, *config.yields.values(),
                     *(config.options.get("follow") or {})}
            for name, value in (record.get("fields") or {}).items():
                if name not in config.fields or name in links:
                    continue
                found.append((rank, len(found), Target(
                    source.name, config.name, str(record["key"]), name, value,
                    f"{source.label(case.language)} · {config.label(case.language)} · "
                    f"{config.field_label(name, case.language)}")))
    # The first records of every collection before the next ones of any: a long access log
    # (sources come by name) must not push the account or the invoices out of the list.
    kept = sorted(found, key=lambda t: t[:2])[:PICK_MAX]
    return [t for _, _, t in sorted(kept, key=lambda t: t[1])]


def _editable(case: Case) -> ChangePlan:
    if case.kind is not CaseKind.RECTIFICATION or case.status is not CaseStatus.REVIEW:
        raise ActionRefused(_l("This action is not possible while the case is in this state."))
    plan = open_plan(case)
    if plan.status not in (PlanStatus.DRAFT, PlanStatus.REMAINS):
        raise ActionRefused(_l("This plan was already approved."))
    return plan


def add_correction(case: Case, staff: StaffUser, chosen: list[str], new_value: str) -> int:
    """Map one of the person's corrections to the fields ``chosen`` (pick-list tokens) with
    the new value; a field already mapped takes the new value. Returns how many fields."""
    plan = _editable(case)
    new_value = (new_value or "").strip()
    if not new_value:
        raise ActionRefused(_l("Please write what the data should say."))
    if len(new_value) > VALUE_MAX:
        raise ActionRefused(_l("Please keep this under %(max)d characters.", max=VALUE_MAX))
    offered = {t.token: t for t in targets(case)}
    picked = [offered[token] for token in dict.fromkeys(chosen) if token in offered]
    if not picked or len(picked) != len(set(chosen)):
        raise ActionRefused(_l("Choose the data to correct among what was found."))
    items = items_of(plan)
    places = {(t.source, t.collection, t.key, t.field) for t in picked}
    items["corrections"] = [c for c in items["corrections"] if (
        c["source"], c["collection"], c["key"], c["field"]) not in places]
    group = secrets.token_hex(4)
    for t in picked:
        items["corrections"].append({
            "id": group, "source": t.source, "collection": t.collection, "key": t.key,
            "field": t.field, "old": None if t.value is None else str(t.value),
            "new": new_value})
    _store(plan, items)
    record_event("plan.correction_added", case=case, actor_type=ActorType.STAFF,
                 actor_id=staff.id, payload={"fields": sorted(
                     {f"{t.source}.{t.collection}.{t.field}" for t in picked})})
    return len(picked)


def refuse_correction(case: Case, staff: StaffUser, what: str, reason: str) -> None:
    """A DPO refuses (part of) what the person asked to correct, with the reason the answer
    gives them (Art. 12(4)): a value that is not inaccurate, a field that could not be found."""
    plan = _editable(case)
    what = required_text(what, _l("Please say which correction is refused."))
    reason = required_text(reason, _l("Please give the reasons for the refusal."))
    items = items_of(plan)
    items["refused"].append({"id": secrets.token_hex(4), "what": what, "reason": reason})
    _store(plan, items)
    record_event("plan.correction_refused", case=case, actor_type=ActorType.STAFF,
                 actor_id=staff.id)


def remove_item(case: Case, staff: StaffUser, item_id: str, *, refusal: bool = False) -> None:
    """Take a correction (every field mapped with it) out of the plan, or with ``refusal``
    a DPO's refusal (who may do which is the caller's check: a refusal is the DPO's)."""
    plan = _editable(case)
    items = items_of(plan)
    name = "refused" if refusal else "corrections"
    kept = [i for i in items[name] if i["id"] != item_id]
    if len(kept) == len(items[name]):
        raise ActionRefused(_l("This correction is no longer in the plan."))
    _store(plan, {**items, name: kept})
    record_event("plan.refusal_removed" if refusal else "plan.correction_removed", case=case,
                 actor_type=ActorType.STAFF, actor_id=staff.id)


def check_ready(case: Case, plan: ChangePlan) -> None:
    """A rectification is approved once each correction asked for is mapped or refused."""
    items = items_of(plan)
    if not items["corrections"] and not items["refused"]:
        raise ActionRefused(_l("Map the corrections asked for to the data found, or refuse "
                               "them with a reason, before approving."))


def planned_corrections(case: Case, plan: ChangePlan | None) -> list[PlannedCollection]:
    """Per source and collection, the records to update (``update``: key -> {field: new}),
    or ``statement`` where the source cannot be changed."""
    catalog = get_catalog()
    grouped: dict[tuple[str, str], dict[str, dict]] = defaultdict(lambda: defaultdict(dict))
    for c in items_of(plan)["corrections"]:
        grouped[(c["source"], c["collection"])][c["key"]][c["field"]] = c["new"]
    planned = []
    for (source_name, collection), values in sorted(grouped.items()):
        source = catalog.sources.get(source_name)
        config = source.collections.get(collection) if source else None
        if config is None:
            continue
        can = catalog.supports(source_name, collection, "update")
        planned.append(PlannedCollection(
            source=source_name, source_label=source.label(case.language),
            collection=collection, collection_label=config.label(case.language),
            count=len(values), action="update" if can else "statement",
            keys=tuple(sorted(values)), values={k: dict(v) for k, v in values.items()}))
    return planned


def record_statements(case: Case) -> int:
    """Once verified: keep the person's statement for every correction a source could not
    take (given with every later copy of their data). Idempotent."""
    from dsar.changes.statements import record_statement

    plan = open_plan(case)
    where = {(p.source, p.collection) for p in planned_corrections(case, plan)
             if p.action == "statement"}
    recorded = 0
    for c in items_of(plan)["corrections"]:
        if (c["source"], c["collection"]) in where:
            record_statement(case, source=c["source"], collection=c["collection"],
                             key=c["key"], field=c["field"], old=c["old"], new=c["new"])
            recorded += 1
    return recorded


def correct_action(case: Case, staff: StaffUser, form) -> None:
    """The case page's "correct" action (agents and DPOs prepare)."""
    add_correction(case, staff, form.getlist("targets"), form.get("new_value"))
    db.session.commit()


def refuse_action(case: Case, staff: StaffUser, form) -> None:
    """The case page's "refuse a correction" action (DPO)."""
    refuse_correction(case, staff, form.get("what"), form.get("reason"))
    db.session.commit()


def remove_action(case: Case, staff: StaffUser, form) -> None:
    """The case page's "remove a correction" action (agents and DPOs)."""
    remove_item(case, staff, form.get("item_id") or "")
    db.session.commit()


def remove_refusal_action(case: Case, staff: StaffUser, form) -> None:
    """The case page's "withdraw a refusal" action (DPO only, as refusing is)."""
    remove_item(case, staff, form.get("item_id") or "", refusal=True)
    db.session.commit()
