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

from dsar.extensions import db
from dsar.models import Case, ChangePlan, ClockPause, ExportPackage, InfoRequest


@dataclass(frozen=True)
class StatusFacts:
    """The rows the status page shows besides the case and its history (None when absent)."""

    package: ExportPackage | None
    question: InfoRequest | None
    plan: ChangePlan | None


def _related_columns():
    """The ids of the case's released package, open question and plan, and whether it has
    clock pauses, as correlated subqueries on ``Case``."""
    package = (select(ExportPackage.id)
               .where(ExportPackage.case_id == Case.id, ExportPackage.released_at.is_not(None))
               .order_by(ExportPackage.id.desc()).limit(1).scalar_subquery())
    question = (select(InfoRequest.id)
                .where(InfoRequest.case_id == Case.id, InfoRequest.answered_at.is_(None))
                .order_by(InfoRequest.id.desc()).limit(1).scalar_subquery())
    plan = select(ChangePlan.id).where(ChangePlan.case_id == Case.id).scalar_subquery()
    paused = exists().where(ClockPause.case_id == Case.id)
    return package, question, plan, paused


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
