"""What a plan does, collection by collection: the pieces every kind that changes data builds
its plan from (``dsar.changes.kinds`` puts them together per kind), from the search results and
the case's own choices (the DPO's exceptions of an erasure, a rectification's corrections, an
objection's decisions), until a DPO approves it; approval then seals the operations
(``dsar.changes.plan.approve``).

An action a connector carries out is one of ``dsar.sources.base.OPERATION_ACTIONS``; three more
are never sent to a source, only reported: ``retain`` (kept, Art. 17(3)), ``not_restrictable``
(the source declares no way to restrict: the answer says so), ``statement`` (the source cannot
be corrected: the person's statement is kept instead, Art. 16), ``left`` (a deceased person's
data their directives, or the DPO for an heir, leave as it is: LIL art. 85)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, select, update
from sqlalchemy.orm.attributes import set_committed_value

from dsar.cases.refusals import ActionRefused
from dsar.extensions import db
from dsar.models import (
    Case,
    ChangePlan,
    ChangeStep,
    GatherStatus,
    PlanStatus,
    SourceResult,
)
from dsar.models.types import utcnow
from dsar.search import gathering
from dsar.sources.catalog import get_catalog

#: Actions reported but never sent to a connector.
REPORTED_ONLY = frozenset({"retain", "not_restrictable", "statement", "left"})


@dataclass(frozen=True)
class PlannedCollection:
    """What the plan does to one collection of one source."""

    source: str
    source_label: str
    collection: str
    collection_label: str
    count: int
    #: ``delete``, ``anonymize``, ``redact`` (files), ``update``, ``restrict``,
    #: ``unsubscribe``; or one of :data:`REPORTED_ONLY`.
    action: str
    anonymize: dict = field(default_factory=dict)
    basis: str | None = None
    until: str | None = None
    #: A DPO's exception (a key of ``plan.EXCEPTIONS``) and their reason, when kept by them.
    exception: str | None = None
    reason: str | None = None
    #: The records' keys (only when asked for: ``planned_collections(with_keys=True)``).
    keys: tuple[str, ...] = ()
    #: ``update``: record key -> {field: new value} (a rectification's corrections).
    values: dict = field(default_factory=dict)

    @property
    def kept(self) -> bool:
        """Kept under a legal basis or a DPO's exception (an erasure's partial refusal)."""
        return self.action == "retain"

    @property
    def carried(self) -> bool:
        """Whether a connector carries this out (else it is only reported)."""
        return self.action not in REPORTED_ONLY


def plan_query(case_id) -> Select:
    """The statement of :func:`plan_of` for ``case_id`` (a value or a column, for a
    correlated subquery)."""
    return select(ChangePlan).where(ChangePlan.case_id == case_id)


def plan_of(case: Case) -> ChangePlan | None:
    """The case's plan row, None before the search ends."""
    return db.session.scalar(plan_query(case.id))


def open_plan(case: Case) -> ChangePlan:
    """The case's plan, created (as a draft) if it has none; caller commits."""
    plan = plan_of(case)
    if plan is None:
        plan = ChangePlan(case_id=case.id, status=PlanStatus.DRAFT, exceptions=[], remaining={},
                          decisions={}, lift_outcome={})
        db.session.add(plan)
        db.session.flush()
    return plan


#: The statuses in which a plan may still change (staff prepare it; the DPO approves it).
EDITABLE = (PlanStatus.DRAFT, PlanStatus.REMAINS)


def write_draft(plan: ChangePlan, **values) -> None:
    """Write ``values`` into a plan still being prepared: a compare-and-set on its status, so
    that an edit landing after an approval (which sealed the plan as it was) is refused
    rather than reported as done without having run. Caller commits."""
    values["updated_at"] = utcnow()
    written = db.session.execute(
        update(ChangePlan).where(ChangePlan.id == plan.id, ChangePlan.status.in_(EDITABLE))
        .values(**values).execution_options(synchronize_session=False)).rowcount
    if written != 1:
        raise ActionRefused(_l("This plan was already approved."))
    for name, value in values.items():
        set_committed_value(plan, name, value)


def steps_of(case: Case) -> list[ChangeStep]:
    """The case's steps, by source."""
    return list(db.session.scalars(select(ChangeStep).where(ChangeStep.case_id == case.id)
                                   .order_by(ChangeStep.source)))


def searched(case: Case) -> list[SourceResult]:
    """The case's finished searches, by source."""
    return list(db.session.scalars(select(SourceResult).where(
        SourceResult.case_id == case.id, SourceResult.status == GatherStatus.DONE)
        .order_by(SourceResult.source)))


def found_collections(case: Case, *, with_keys: bool = False
                      ) -> list[tuple[Any, Any, int, tuple[str, ...]]]:
    """(source config, collection config, count, keys) of every collection where the search
    found the person. The counts come from the search rows; the records' keys (``with_keys``:
    what approval seals) mean reading every stored result through, which only approval needs."""
    catalog = get_catalog()
    found = []
    for row in searched(case):
        source = catalog.sources.get(row.source)
        if source is None:
            continue
        keys: dict[str, list[str]] = defaultdict(list)
        if with_keys:
            for record in gathering.iter_records(row):
                keys[record["collection"]].append(record["key"])
        counts = ({name: len(k) for name, k in keys.items()} if with_keys
                  else {name: n for name, n in (row.counts or {}).items() if n})
        for name, count in sorted(counts.items()):
            config = source.collections.get(name)
            if config is not None:
                found.append((source, config, count, tuple(keys.get(name, ()))))
    return found


def _base(case: Case, source, config, count: int, keys: tuple[str, ...]) -> dict:
    return {"source": source.name, "source_label": source.label(case.language),
            "collection": config.name, "collection_label": config.label(case.language),
            "count": count, "keys": keys}


def erased(case: Case, plan: ChangePlan | None, source, config, count: int,
           keys: tuple[str, ...]) -> PlannedCollection:
    """A collection under its ``erasure`` policy (``sources.toml``), or kept under a DPO's
    exception."""
    policy = config.erasure
    action = policy.strategy
    if action != "retain" and source.kind == "files":
        action = "redact"  # a log line is masked in place, never removed alone
    exception = next((e for e in (plan.exceptions if plan else [])
                      if (e["source"], e["collection"]) == (source.name, config.name)), None)
    return PlannedCollection(
        **_base(case, source, config, count, keys),
        action="retain" if exception else action,
        # A delete carries the map too: a record retained ones still reference is
        # anonymised instead (dsar.sources.sql_changes).
        anonymize=dict(policy.anonymize) if action in ("anonymize", "delete") else {},
        basis=policy.retain_basis if action == "retain" else None,
        until=policy.retain_until if action == "retain" else None,
        exception=exception["exception"] if exception else None,
        reason=exception["reason"] if exception else None)



def restricted(case: Case, source, config, count: int, keys: tuple[str, ...]
               ) -> PlannedCollection:
    """A collection restricted where the source declares how (``operations.restrict``),
    reported as not restrictable elsewhere."""
    can = get_catalog().supports(source.name, config.name, "restrict")
    return PlannedCollection(**_base(case, source, config, count, keys),
                             action="restrict" if can else "not_restrictable")

