"""What the requester's status page needs of a case, read in one query instead of one each.

The page shows the case with its clock pauses, the released package, the open question and,
for a request that changes data, its plan. Most cases have none of these four, yet asking for
each one is a round trip to the database and a query to plan: on a page that every requester
reloads, that was most of its cost. Here one statement reads the case row together with the
ids of the other four (correlated subqueries), and only what exists is then loaded, by primary
key. The statement is built once per process: building a SQLAlchemy statement costs more CPU
than running a cached one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from sqlalchemy import Select, bindparam, exists, inspect, select
from sqlalchemy.orm.attributes import set_committed_value

from dsar.cases.requester_actions import open_info_request_query
from dsar.changes.planning import plan_query
from dsar.delivery.release import released_package_query
from dsar.extensions import db
from dsar.models import Case, ChangePlan, ClockPause, ExportPackage, InfoRequest


@dataclass(frozen=True)
class StatusFacts:
    """The rows the status page shows besides the case and its history (None when absent)."""

    package: ExportPackage | None
    question: InfoRequest | None
    plan: ChangePlan | None


def _related_columns():
    """The ids of the case's released package, open question and plan (the statements of
    ``released_package``, ``open_info_request`` and ``plan_of``, reduced to the id), and
    whether it has clock pauses, as correlated subqueries on ``Case``."""
    package = released_package_query(Case.id).with_only_columns(ExportPackage.id)
    question = open_info_request_query(Case.id).with_only_columns(InfoRequest.id)
    plan = plan_query(Case.id).with_only_columns(ChangePlan.id)
    paused = exists().where(ClockPause.case_id == Case.id)
    return (package.scalar_subquery(), question.scalar_subquery(), plan.scalar_subquery(),
            paused)


@cache
def _by_reference() -> Select:
    return select(Case, *_related_columns()).where(Case.reference == bindparam("reference"))


@cache
def _by_id() -> Select:
    return select(*_related_columns()).where(Case.id == bindparam("case_id"))


def _facts(case: Case, package_id, question_id, plan_id, paused) -> StatusFacts:
    if not paused and "pauses" in inspect(case).unloaded:
        # Known to be empty: saves the lazy load that the clock would otherwise make.
        set_committed_value(case, "pauses", [])
    session = db.session
    return StatusFacts(
        package=session.get(ExportPackage, package_id) if package_id is not None else None,
        question=session.get(InfoRequest, question_id) if question_id is not None else None,
        plan=session.get(ChangePlan, plan_id) if plan_id is not None else None,
    )


def _read_only() -> None:
    """On PostgreSQL, the rest of the request's reads outside a transaction when nothing else
    opened one yet: that spares the BEGIN and the ROLLBACK, two of the page's four round
    trips. The page writes nothing, and each statement sees its own snapshot, as under READ
    COMMITTED anyway (history read a moment after the case can only be newer). Not on
    SQLite, whose driver switches in and out of autocommit with PRAGMA statements that cost
    more than the BEGIN they save."""
    if db.engine.dialect.name == "postgresql" and not db.session().in_transaction():
        db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


def case_with_facts(reference: str) -> tuple[Case, StatusFacts] | None:
    """The case with this reference and what its status page shows; None if there is none.
    Meant for a page that only reads: the reads that follow in the request are not in a
    transaction."""
    _read_only()
    row = db.session.execute(_by_reference(), {"reference": reference}).one_or_none()
    if row is None:
        return None
    case = row[0]
    return case, _facts(case, *row[1:])


def facts_of(case: Case) -> StatusFacts:
    """What the status page shows of ``case``, already loaded."""
    return _facts(case, *db.session.execute(_by_id(), {"case_id": case.id}).one())
