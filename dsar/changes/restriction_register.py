"""The restriction register (issue 14, Art. 18): while a person's data is restricted, the
organisation's tools must leave it out of what they process. dsar keeps the person's e-mail
address and phone numbers here, keyed like the suppression list
(:mod:`dsar.changes.suppression`): the same normalisation, an HMAC-SHA-256 under another
purpose of the master key (``restriction``), so the table names nobody and its digests match
nothing in the suppression list's.

An entry belongs to one restriction case (unique on kind, digest and case) and stays in force
until that case's restriction is lifted (``lifted_at``): a person restricted by two cases
stays restricted until both are lifted. The tools ask ``dsar restriction check`` or
``POST /api/restriction/check``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from dsar.changes.suppression import InvalidAddress, case_values, insert_once, keyed_digest
from dsar.core.audit import record_event
from dsar.extensions import db
from dsar.models import Case
from dsar.models.registers import RestrictionEntry
from dsar.models.suppression import SuppressionKind
from dsar.models.types import utcnow

#: The master key's purpose for this register's digests.
PURPOSE = "restriction"


def digest(kind: SuppressionKind | str, value: Any) -> str:
    """The keyed hash stored for ``value`` (64 hexadecimal digits). Raises
    :class:`~dsar.changes.suppression.InvalidAddress` for a value that cannot be one."""
    return keyed_digest(PURPOSE, kind, value)


def is_restricted(kind: SuppressionKind | str, value: Any) -> bool:
    """Whether ``value`` (an e-mail address or phone number, as typed) is restricted by any
    case whose restriction is not lifted. Raises
    :class:`~dsar.changes.suppression.InvalidAddress` for a value that cannot be one."""
    kind = SuppressionKind(kind)
    found = db.session.scalar(select(RestrictionEntry.id).where(
        RestrictionEntry.kind == kind, RestrictionEntry.digest == digest(kind, value),
        RestrictionEntry.lifted_at.is_(None)).limit(1))
    return found is not None


def restrict_case(case: Case) -> int:
    """Put the person of a restriction case in the register: the case's e-mail address and
    the phone number(s) it holds. Idempotent: returns how many entries are new (0 the second
    time, even from two processes at once); an audit event counts them when there are any.
    A malformed phone number is skipped (nothing could match it). The caller commits."""
    added = {SuppressionKind.EMAIL.value: 0, SuppressionKind.PHONE.value: 0}
    if case.id is None:
        db.session.flush()
    for kind, value in case_values(case):
        try:
            value_digest = digest(kind, value)
        except InvalidAddress:
            continue
        added[kind.value] += insert_once(
            RestrictionEntry, {"kind": kind, "digest": value_digest, "case_id": case.id},
            ("kind", "digest", "case_id"))
    if any(added.values()):
        record_event("restriction.added", case=case, payload={"added": added})
    return sum(added.values())


def lift_case(case: Case) -> int:
    """Lift the restriction of ``case``: its entries are marked lifted now (entries of the
    person's other restriction cases stay in force). Idempotent: returns how many entries
    this call lifted (0 the second time); an audit event counts them when there are any. The
    caller commits."""
    lifted = db.session.execute(
        update(RestrictionEntry)
        .where(RestrictionEntry.case_id == case.id, RestrictionEntry.lifted_at.is_(None))
        .values(lifted_at=utcnow()).execution_options(synchronize_session=False)).rowcount
    if lifted:
        record_event("restriction.lifted", case=case, payload={"lifted": lifted})
    return lifted

