"""Supplementary statements (issue 14, GDPR Art. 16: the right "to have incomplete personal
data completed, including by means of providing a supplementary statement"). Where a source
cannot be corrected, the correction the person asked for is kept as their statement and given
with every later copy of their data: each later access answer of their e-mail address lists it
(:mod:`dsar.exports.supplementary`).

A row names the source and collection in clear (they name no one) and keeps the rest sealed:
``{"key", "field", "old", "new"}`` as JSON, under :func:`dsar.core.storage.seal` with a
context recomputed from the row (the e-mail digest, source and collection), so a sealed value
copied to another row does not open. The person is found again by a keyed hash of their
e-mail address (the master key's purpose ``statements``, the suppression list's
normalisation); the row outlives its case (``case_id`` is set to NULL when the case goes), as
the statement must outlive it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import delete, select

from dsar.changes.suppression import InvalidAddress, keyed_digest
from dsar.core import storage
from dsar.core.audit import record_event
from dsar.deadlines import paris_date
from dsar.extensions import db
from dsar.models import Case
from dsar.models.registers import SupplementaryStatement
from dsar.models.suppression import SuppressionKind
from dsar.models.types import utcnow

#: The master key's purpose for the e-mail digests of the statements.
PURPOSE = "statements"


@dataclass(frozen=True)
class Statement:
    """A supplementary statement, opened: where (source, collection, the record's key and
    the field), what the record says (``old``) and what the person states (``new``), the
    day it was recorded, and the reference of the case that recorded it (None once that
    case is deleted)."""

    source: str
    collection: str
    key: str
    field: str
    old: Any
    new: Any
    recorded_on: date
    case_reference: str | None


def email_digest(email: str) -> str:
    """The keyed hash of an e-mail address the statements are found by. Raises
    :class:`~dsar.changes.suppression.InvalidAddress` for a value that is not one."""
    return keyed_digest(PURPOSE, SuppressionKind.EMAIL, email)


def _case_email(case: Case) -> str:
    return case.email_normalized or case.requester_email


def _context(row_digest: str, source: str, collection: str) -> str:
    """The seal's context: from the row's own columns, never its case (which may go)."""
    return f"supplementary_statements:{row_digest}:{source}:{collection}"


def _opened(row: SupplementaryStatement) -> dict[str, Any]:
    return json.loads(storage.unseal(row.statement_sealed,
                                     _context(row.email_digest, row.source, row.collection)))


def _recorded(case_id: int, row_digest: str, source: str, collection: str, key: str,
              field: str) -> SupplementaryStatement | None:
    """The row of this case's statement on ``field`` of record ``key``, if there is one (the
    key and field are sealed: the case's few rows of that collection are opened)."""
    rows = db.session.scalars(select(SupplementaryStatement).where(
        SupplementaryStatement.case_id == case_id, SupplementaryStatement.source == source,
        SupplementaryStatement.collection == collection,
        SupplementaryStatement.email_digest == row_digest).order_by(SupplementaryStatement.id))
    for row in rows:
        opened = _opened(row)
        if (opened["key"], opened["field"]) == (key, field):
            return row
    return None


def record_statement(case: Case, *, source: str, collection: str, key: Any, field: str,
                     old: Any, new: Any) -> SupplementaryStatement:
    """Keep the person's statement that ``field`` of record ``key`` in ``source`` /
    ``collection`` should read ``new`` where it reads ``old``. Idempotent per (case, source,
    collection, key, field): recording it again keeps one row (with the latest ``old`` and
    ``new``). Audited as ``statement.recorded`` (the source and collection, never a value)
    when a row is added or changed. The caller commits. Raises
    :class:`~dsar.changes.suppression.InvalidAddress` if the case's e-mail address is not
    one."""
    if case.id is None:
        db.session.flush()
    row_digest = email_digest(_case_email(case))
    # As stored: default=str states a date or a decimal read from a source as its text.
    data = json.loads(json.dumps({"key": str(key), "field": field, "old": old, "new": new},
                                 default=str))
    row = _recorded(case.id, row_digest, source, collection, data["key"], field)
    if row is not None and _opened(row) == data:
        return row  # recorded already: nothing to change, nothing to audit
    if row is None:
        row = SupplementaryStatement(email_digest=row_digest, case_id=case.id, source=source,
                                     collection=collection)
        db.session.add(row)
    row.statement_sealed = storage.seal(json.dumps(data, sort_keys=True).encode(),
                                        _context(row_digest, source, collection))
    row.created_at = utcnow()
    db.session.flush()
    record_event("statement.recorded", case=case,
                 payload={"source": source, "collection": collection})
    return row


def statements_for_email(email: str) -> list[Statement]:
    """The statements kept for ``email`` (any case of that address), oldest first: one per
    field of a record (source, collection, key, field), the latest recorded. An address
    that cannot be one has none."""
    try:
        row_digest = email_digest(email)
    except InvalidAddress:
        return []
    rows = db.session.execute(
        select(SupplementaryStatement, Case.reference)
        .outerjoin(Case, Case.id == SupplementaryStatement.case_id)
        .where(SupplementaryStatement.email_digest == row_digest)
        .order_by(SupplementaryStatement.created_at, SupplementaryStatement.id)).all()
    found: dict[tuple, Statement] = {}
    for row, reference in rows:
        opened = _opened(row)
        # A later statement on the same field of the same record (a later case, or a
        # concurrent recording) is what the person states now: it replaces the earlier one.
        place = (row.source, row.collection, opened["key"], opened["field"])
        found.pop(place, None)
        found[place] = Statement(
            source=row.source, collection=row.collection, key=opened["key"],
            field=opened["field"], old=opened["old"], new=opened["new"],
            recorded_on=paris_date(row.created_at), case_reference=reference)
    return list(found.values())


def statements_for(case: Case) -> list[Statement]:
    """Every statement kept for the person of ``case`` (by its e-mail address), whichever
    case recorded it."""
    return statements_for_email(_case_email(case))


def forget_statements(case: Case) -> int:
    """Delete every statement kept for the person of ``case`` (an erasure verified: their
    statements hold their values too, and no later copy of their data is to carry them);
    how many. Audited (a count). Caller commits."""
    try:
        wanted = email_digest(_case_email(case))
    except InvalidAddress:
        return 0
    deleted = db.session.execute(delete(SupplementaryStatement).where(
        SupplementaryStatement.email_digest == wanted)
        .execution_options(synchronize_session=False)).rowcount
    if deleted:
        record_event("statement.deleted", case=case, payload={"deleted": deleted})
    return deleted
