"""The suppression list (issue 13, point 6): once a person's data is erased, their e-mail
address and phone numbers go on a list the organisation's tools check before importing or
contacting anyone, so the erased person does not come back through the next CSV import.

The list holds a keyed hash of each value, never the value: HMAC-SHA-256 under the master
key's purpose ``suppression`` of the normalised value (an e-mail address stripped and
lower-cased; a phone number reduced to its digits, French numbers to their ten national
digits, so ``+33 6 12 48 90 37`` and ``06.12.48.90.37`` are one number). Whoever reads the
table learns nobody's address; checking one needs the key, i.e. this application
(``dsar suppression check``, ``POST /api/suppression/check``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from dsar.core.audit import record_event
from dsar.core.keys import derived_key
from dsar.exports.contacts import normal_phone as phone_digits
from dsar.extensions import db
from dsar.models import Case
from dsar.models.suppression import SuppressionEntry, SuppressionKind
from dsar.sources.base import normalize_identifier

#: The longest e-mail address a mailbox can have (RFC 5321's path limit).
MAX_EMAIL_LENGTH = 254
#: What a phone number may be written with; its digits are what count.
_PHONE_TEXT = re.compile(r"\+?[\d \u00a0().-]+")
#: An address with one @, something on each side, no space.
_EMAIL_TEXT = re.compile(r"[^@\s]+@[^@\s]+")
#: E.164 numbers have at most 15 digits; fewer than 8 is no reachable number.
_PHONE_DIGITS = range(8, 16)


class InvalidAddress(ValueError):
    """The value is not an e-mail address or phone number that could be on the list. The
    message never repeats the value."""


def normal_value(kind: SuppressionKind | str, value: Any) -> str:
    """``value`` as it is hashed: an e-mail address stripped and lower-cased, a phone number
    as :func:`dsar.exports.contacts.normal_phone` writes it. Raises :class:`InvalidAddress`
    for an empty or malformed value."""
    kind = SuppressionKind(kind)
    # Strip, and None for an empty value, as the search compares identifiers.
    text = normalize_identifier(kind.value, value)
    if text is None:
        raise InvalidAddress(f"an empty {kind.value}")
    if kind is SuppressionKind.EMAIL:
        text = text.lower()
        if len(text) > MAX_EMAIL_LENGTH or not _EMAIL_TEXT.fullmatch(text):
            raise InvalidAddress("not an e-mail address")
        return text
    if not _PHONE_TEXT.fullmatch(text):
        raise InvalidAddress("not a phone number")
    number = phone_digits(text)
    if len(number.lstrip("+")) not in _PHONE_DIGITS:
        raise InvalidAddress("not a phone number")
    return number


def kind_of(address: str) -> SuppressionKind:
    """Whether a value someone typed is an e-mail address (it has an @) or a phone number."""
    return SuppressionKind.EMAIL if "@" in address else SuppressionKind.PHONE


def digest(kind: SuppressionKind | str, value: Any) -> str:
    """The keyed hash stored for ``value`` (64 hexadecimal digits); the kind is part of the
    message, so an e-mail address and a phone number never share a digest."""
    return keyed_digest("suppression", kind, value)


def keyed_digest(purpose: str, kind: SuppressionKind | str, value: Any) -> str:
    """HMAC-SHA-256 of ``kind:normalised value`` under the master key's ``purpose``: the
    suppression list's, the restriction register's and the supplementary statements' keys
    (another purpose, another digest: one table's digests say nothing of another's)."""
    kind = SuppressionKind(kind)
    message = f"{kind.value}:{normal_value(kind, value)}".encode()
    return hmac.new(derived_key(purpose), message, hashlib.sha256).hexdigest()


def is_suppressed(kind: SuppressionKind | str, value: Any) -> bool:
    """Whether ``value`` (an e-mail address or phone number, as typed) is on the list.
    Raises :class:`InvalidAddress` for a value that cannot be one."""
    kind = SuppressionKind(kind)
    found = db.session.scalar(select(SuppressionEntry.id).where(
        SuppressionEntry.kind == kind, SuppressionEntry.digest == digest(kind, value)))
    return found is not None


def add(kind: SuppressionKind | str, value: Any, *, case: Case | None = None) -> bool:
    """Put ``value`` on the list (the caller's transaction; the caller commits). Returns
    False when it was there already: adding twice, or from two processes at once, leaves one
    row. Raises :class:`InvalidAddress` for a value that cannot be one."""
    kind = SuppressionKind(kind)
    return _insert_once(kind, digest(kind, value), case.id if case is not None else None)


def suppress_case(case: Case, *, phones: bool = True) -> int:
    """Put the person of a case on the list: the requester's e-mail address (the one whose
    control they proved, which the search started from) and, unless ``phones`` is False, the
    phone number(s) the case holds (an erasure's, which staff checked; an objection to
    marketing is honoured on the confirmed address alone). Idempotent: returns how many
    entries are new (0 the second time); an audit event counts them when there are any. A
    malformed phone number the requester typed is skipped: nothing could match it."""
    added = {SuppressionKind.EMAIL.value: 0, SuppressionKind.PHONE.value: 0}
    if case.id is None:
        db.session.flush()
    for kind, value in case_values(case):
        if kind is SuppressionKind.PHONE and not phones:
            continue
        try:
            added[kind.value] += _insert_once(kind, digest(kind, value), case.id)
        except InvalidAddress:
            continue
    if any(added.values()):
        record_event("suppression.added", case=case, payload={"added": added})
    return sum(added.values())


def case_values(case: Case) -> Iterable[tuple[SuppressionKind, str]]:
    """The person's e-mail address and phone number(s) a case holds, as given (the
    suppression list's and the restriction register's entries of a case)."""
    yield SuppressionKind.EMAIL, case.email_normalized or case.requester_email
    phones = (case.identifiers or {}).get("phone")
    for phone in phones if isinstance(phones, list | tuple) else [phones]:
        if phone:
            yield SuppressionKind.PHONE, phone


def _insert_once(kind: SuppressionKind, value_digest: str, case_id: int | None) -> bool:
    """Insert one entry unless (kind, digest) exists; True if this call inserted it."""
    return insert_once(SuppressionEntry, {"kind": kind, "digest": value_digest,
                                          "case_id": case_id}, ("kind", "digest"))


def insert_once(model: type, values: dict[str, Any], unique: tuple[str, ...]) -> bool:
    """Insert one row of ``model`` unless a row with the same ``unique`` columns (a unique
    constraint of its table) exists; True if this call inserted it. An INSERT … ON CONFLICT
    DO NOTHING: a concurrent insert of the same row neither fails nor doubles, and the
    caller's transaction stays usable. Shared by the suppression list and the restriction
    register."""
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # another database: check first (a race then fails on the unique constraint)
        exists = db.session.scalar(select(model.id).filter_by(
            **{column: values[column] for column in unique}))
        if exists is None:
            db.session.add(model(**values))
            db.session.flush()
        return exists is None
    # RETURNING rather than the row count, which psycopg gives as -1 for such an INSERT.
    table = model.__table__
    statement = insert(table).values(**values).on_conflict_do_nothing(
        index_elements=list(unique)).returning(table.c.id)
    return db.session.execute(statement).scalar() is not None
