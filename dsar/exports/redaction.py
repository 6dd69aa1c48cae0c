"""Other people's data in an answer: masked, and reported (GDPR Art. 15(4) and 20(4);
docs/legal-rules.md §4: "Other people's data is redacted and the redaction reported").

A person's records are theirs by construction (the search matches exact identifiers only), but
the text in them may name someone else: a support ticket quoting a colleague's address, a
note with a relative's phone number. The e-mail addresses and phone numbers written in text
(:mod:`.contacts`, with the display name written with them) are masked when they are not the
person's own: the address whose control they proved, the identifiers they gave and those their
records yielded, and the values of the structured fields of their own records that hold their
contact details or identify them (:data:`OWN_CATEGORIES`, and the ``match`` and ``yields``
fields). Text is scanned in the fields of category :data:`FREE_TEXT`, in unclassified fields
and in the fields a collection lists as ``third_party`` (docs/sources.md); the other structured
fields are the person's own and are left as they are. Anything else in prose (a bare customer
number, a first name alone) cannot be told apart from the person's own words, and is not
touched.

Masking is deterministic: the same record, the same values to mask and the same marker give
the same output, so what :meth:`Redactions.count` counts before writing is what every writer
then shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext, ngettext

from dsar.exports.contacts import REASONS as REASONS  # the reason codes of a Redaction
from dsar.exports.contacts import mask_value, own_values
from dsar.models import Case, CaseKind, SourceResult
from dsar.search import gathering
from dsar.sources.base import CollectionConfig

#: The category of fields whose text is scanned (besides unclassified and ``third_party``).
FREE_TEXT = "free_text"
UNCLASSIFIED = "unclassified"
#: Categories of structured fields whose values are the person's own contact details and
#: identifiers (with each collection's ``match`` and ``yields`` fields).
OWN_CATEGORIES = frozenset({"contact", "identification"})

#: What allows the masking, by scope: the rights and freedoms of others.
ARTICLES = {"access": lazy_gettext("GDPR Art. 15(4)"),
            "portability": lazy_gettext("GDPR Art. 20(4)")}


class FieldRoles:
    """Which fields of a collection are scanned for other people's data, and which hold the
    person's own values (``config`` None: a collection no longer configured, all scanned)."""

    def __init__(self, config: CollectionConfig | None):
        self.config = config
        if config is None:
            self.own: frozenset[str] = frozenset()
            return
        self.own = frozenset(
            name for name, code in config.fields.items()
            if name not in config.third_party and code != FREE_TEXT
            and (code in OWN_CATEGORIES or name in config.match.values()
                 or name in config.yields.values()))

    def scanned(self, name: str) -> bool:
        """Whether the text of field ``name`` is scanned for other people's data."""
        config = self.config
        if config is None:
            return True
        code = config.fields.get(name, UNCLASSIFIED)
        return code in (FREE_TEXT, UNCLASSIFIED) or name in config.third_party


def person_values(case: Case, rows: Iterable[SourceResult]) -> set[str]:
    """The person's own e-mail addresses and phone numbers among their identifiers: the
    address of the case, the identifiers given (checked by staff when verifying the
    identity) and those the search yielded (read from each result's header). For a deceased
    person's rights, the person is the deceased: what staff confirmed of them, not the
    requester's own details."""
    if case.kind is CaseKind.POSTMORTEM_EXECUTION:
        values: list[Any] = [v for vs in gathering.base_identity(case).values.values()
                             for v in vs]
    else:
        values = [case.email_normalized, case.requester_email,
                  *(case.identifiers or {}).values()]
    for row in rows:
        if row.result_blob_id:
            values += [v for vs in gathering.yielded_identifiers(row).values.values()
                       for v in vs]
    found: set[str] = set()
    for value in values:
        found |= own_values(value)
    return found


def resolve(candidates: set[str], sources: Iterable[tuple[Mapping[str, FieldRoles],
                                                          Iterable[Mapping[str, Any]]]]
            ) -> frozenset[str]:
    """The ``candidates`` (values found in scanned text) that are not the person's: those no
    structured field of theirs holds. ``sources`` gives, per source, each collection's roles
    and its stored records (read one by one; stops early once every candidate is theirs)."""
    left = set(candidates)
    for roles, records in sources:
        if not left:
            break
        for raw in records:
            field_roles = roles.get(raw["collection"])
            if field_roles is None or not field_roles.own:
                continue
            fields = raw.get("fields") or {}
            for name in field_roles.own:
                if fields.get(name) is not None:
                    left -= own_values(fields[name])
            if not left:
                break
    return frozenset(left)


@dataclass(frozen=True)
class Redactor:
    """Masks other people's data in the records of one collection."""

    roles: FieldRoles
    #: The normalised addresses and numbers that are not the person's.
    masked: frozenset[str]
    #: What replaces each piece, in the answer's language.
    marker: str

    def apply(self, fields: Mapping[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """The record's fields with other people's data masked, and (field, reason) for each
        piece masked."""
        out, pieces = {}, []
        for name, value in fields.items():
            if self.roles.scanned(name) and value is not None:
                value, reasons = mask_value(value, self.masked, self.marker)
                pieces += [(name, r) for r in reasons]
            out[name] = value
        return out, pieces


@dataclass(frozen=True)
class Redaction:
    """A piece of another person's data masked in a record (reported as a partial refusal):
    where, and why (:data:`REASONS`), never the value."""

    source: str
    collection: str
    key: str
    field: str
    reason: str


@dataclass(frozen=True)
class RedactedCount:
    """How many pieces were masked in one field of one collection, and why."""

    source: str
    collection: str
    field: str
    reason: str
    count: int


def _pieces(sources: Iterable[Any]) -> Iterator[Redaction]:
    """Every piece masked in ``sources`` (``content.SourceContent``), in the order of the
    records, found by the very calls the writers' masking makes."""
    for source in sources:
        masking = {c.name: c for c in source.collections if c.redactor is not None}
        if not masking:
            continue
        for raw in source.stored():
            collection = masking.get(raw["collection"])
            if collection is not None:
                _, pieces = collection.redactor.apply(collection.selected(raw))
                for name, why in pieces:
                    yield Redaction(source.name, collection.name, str(raw["key"]), name, why)


class Redactions:
    """The pieces of other people's data masked in an answer: counted when the content is
    built (:meth:`count`: what the letter and the package row say), listed one by one on
    demand by reading the records again (``export.json`` lists them): a person's records may
    quote others on every line, and the list is never held."""

    def __init__(self, sources: Iterable[Any] = (), counts: tuple[RedactedCount, ...] = ()):
        self._sources = tuple(sources)
        #: Per source, collection, field and reason, in the order of the records.
        self.counts = counts

    @classmethod
    def count(cls, sources: Iterable[Any]) -> Redactions:
        """Read the records of ``sources`` where something is masked, and count."""
        sources = tuple(s for s in sources
                        if any(c.redactor is not None for c in s.collections))
        counts: dict[tuple[str, str, str, str], int] = {}
        for piece in _pieces(sources):
            where = (piece.source, piece.collection, piece.field, piece.reason)
            counts[where] = counts.get(where, 0) + 1
        return cls(sources, tuple(RedactedCount(*where, n) for where, n in counts.items()))

    def __iter__(self) -> Iterator[Redaction]:
        if self.counts:
            yield from _pieces(self._sources)

    def __len__(self) -> int:
        return sum(c.count for c in self.counts)

    def __bool__(self) -> bool:
        return bool(self.counts)

    def __repr__(self) -> str:
        return f"Redactions({len(self)} pieces)"


def redaction_notice(count: int, scope: str, marker: str, complaint_url: str) -> str:
    """The partial refusal the redactions are, for the person: why, how they show, and the
    remedies (call inside the case's locale)."""
    return ngettext(
        "To protect the rights and freedoms of other people (%(article)s), we masked their "
        "data written in your records (an e-mail address or a phone number, with the name "
        "written with it) in %(num)d place. It is replaced by “%(marker)s” and listed here. "
        "This is a partial refusal of your request: you may lodge a complaint with the CNIL "
        "(%(url)s) and bring an action before the courts (GDPR Art. 79).",
        "To protect the rights and freedoms of other people (%(article)s), we masked their "
        "data written in your records (e-mail addresses or phone numbers, with the names "
        "written with them) in %(num)d places. Each is replaced by “%(marker)s” and listed "
        "here. This is a partial refusal of your request: you may lodge a complaint with the "
        "CNIL (%(url)s) and bring an action before the courts (GDPR Art. 79).",
        count, article=str(ARTICLES[scope]), marker=marker, url=complaint_url)
