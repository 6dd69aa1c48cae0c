"""What an answer to an access or portability request contains: a plain data model every
renderer reads (the JSON and CSV writers, the PDF report).

:func:`build_content` gathers, for one case: the case's metadata, the controller, the Art. 15
information (:mod:`.information`), what is kept, refused or redacted, and per source and
collection the fields with their data category and a way to read the records. The records
themselves are never held: :meth:`SourceContent.grouped` and :meth:`SourceContent.records` read
them from the stored search result each time they are asked for, one by one, so a writer can
stream them. Texts are in the case's language (French or English).

Scopes: ``access`` (Art. 15) hands over every field but the excluded ones; ``portability``
(Art. 20) only the fields ``sources.toml`` marks as ``provided``, in sources used by a
processing on consent or contract (docs/sources.md).

An access answer also gives the person's supplementary statements (:mod:`.supplementary`).

Other people's data (:mod:`.redaction`) is masked in :meth:`CollectionContent.project`, the
one way a writer gets a record, so no writer ever sees it. The maskings are counted before any
writer starts (the letter reports them): the first pass over each result also collects the
e-mail addresses and phone numbers written in scanned text that are not among the person's
identifiers; only if some are left does a second pass look for them in the structured fields
of the person's records, and a third apply the masking to the records concerned to list each
piece masked. Each pass reads records one by one, as the writers do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import groupby
from operator import itemgetter
from typing import Any

from flask import current_app
from flask_babel import force_locale, gettext
from sqlalchemy import select

from dsar.exports.information import UNCLASSIFIED, Coded, Information, build_information, category
from dsar.exports.redaction import (
    FieldRoles,
    Redactions,
    Redactor,
    person_values,
    redaction_notice,
    resolve,
)
from dsar.exports.redaction import Redaction as Redaction  # part of the data model
from dsar.exports.scope import SCOPES, Tally, handed_over, in_scope, pre_pass
from dsar.exports.scope import ExportError as ExportError  # raised by build_content
from dsar.exports.supplementary import StatementContent, statement_contents
from dsar.extensions import db
from dsar.i18n import KIND_LABELS
from dsar.models import Case, GatherStatus, SourceResult
from dsar.models.types import utcnow
from dsar.search import gathering
from dsar.sources.base import CollectionConfig, SourceConfig
from dsar.sources.catalog import Catalog, get_catalog
from dsar.sources.register import Register

logger = logging.getLogger(__name__)

#: The version of the export format (``export.schema.json``); bump on an incompatible change.
FORMAT_VERSION = 1
#: What a source's search can be: the gathering statuses, or never searched.
NOT_SEARCHED = "not_searched"

#: Reads a finished search's records: dicts ``{"collection", "key", "fields"}`` sorted by
#: collection, then key.
RecordReader = Callable[[SourceResult], Iterable[Mapping[str, Any]]]


def stored_records(row: SourceResult) -> Iterable[Mapping[str, Any]]:
    """The records of ``row``'s search, in their stored order.

    This is the one place the exports read search results: decrypted and parsed one record
    at a time (``gathering.iter_records``), so memory stays flat whatever their number."""
    return gathering.iter_records(row)


@dataclass(frozen=True)
class FieldInfo:
    """A field of a collection and its data category."""

    name: str
    category: Coded
    #: The field's name in words, in the answer's language (``sources.toml``'s
    #: ``field_labels``); the name itself when none is given.
    label: str = ""


@dataclass(frozen=True)
class ExportRecord:
    """One record: its stable key and its fields, in the collection's field order."""

    key: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class CollectionContent:
    """A collection of a source where records were found."""

    name: str
    record_count: int
    #: The fields handed over, in a stable order: as ``sources.toml`` declares them, then any
    #: other field the records hold (sorted, ``unclassified``).
    fields: tuple[FieldInfo, ...]
    #: Fields held but never handed over (credentials): named, so the person knows they exist.
    withheld: tuple[FieldInfo, ...]
    #: The collection's erasure policy: delete | anonymize | retain (None: no longer declared).
    erasure: str | None
    retain_basis: str | None = None
    retain_until: str | None = None
    #: Each category with the number of records holding a value (not null, not "") in one of
    #: its fields, in the order of :attr:`fields`: the summary per category.
    categories: tuple[tuple[Coded, int], ...] = ()
    #: Masks other people's data in the records (None: nothing to mask here).
    redactor: Redactor | None = field(default=None, repr=False, compare=False)

    def selected(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """A stored record's fields handed over, in order, as stored."""
        values = raw.get("fields") or {}
        return {f.name: values[f.name] for f in self.fields if f.name in values}

    def project(self, raw: Mapping[str, Any]) -> ExportRecord:
        """A stored record as exported: only the fields handed over, in order, with other
        people's data masked."""
        values = self.selected(raw)
        if self.redactor is not None:
            values = self.redactor.apply(values)[0]
        return ExportRecord(str(raw["key"]), values)


@dataclass(frozen=True)
class SourceContent:
    """One source: how its search went and what it found."""

    name: str
    label: str
    #: sql | http | files (None: the source is no longer configured).
    kind: str | None
    #: A GatherStatus value, or ``not_searched``.
    status: str
    #: What the person should know about this source's search (None when data was found).
    notice: str | None
    record_count: int
    collections: tuple[CollectionContent, ...]
    _read: Callable[[], Iterable[Mapping[str, Any]]] = field(
        default=lambda: (), repr=False, compare=False)

    def collection(self, name: str) -> CollectionContent:
        """The collection called ``name`` (KeyError if nothing was found there)."""
        for collection in self.collections:
            if collection.name == name:
                return collection
        raise KeyError(name)

    def grouped(self) -> Iterator[tuple[CollectionContent, Iterator[ExportRecord]]]:
        """Each collection with an iterator of its records, in one pass over the stored
        result. Consume each collection's records before moving to the next."""
        by_name = {c.name: c for c in self.collections}
        if not by_name:
            return  # nothing of this source in the answer: no need to read it
        for name, raws in groupby(self._read(), key=itemgetter("collection")):
            collection = by_name.get(name)
            if collection is not None:
                yield collection, (collection.project(r) for r in raws)

    def stored(self) -> Iterable[Mapping[str, Any]]:
        """The stored records of this source, as stored (all collections, unmasked): for
        the passes that prepare the content, never for a writer."""
        return self._read()

    def records(self, collection: str) -> Iterator[ExportRecord]:
        """The records of one collection (a pass over the stored result)."""
        wanted = self.collection(collection)
        return (wanted.project(r) for r in self._read() if r["collection"] == collection)


@dataclass(frozen=True)
class RetainedData:
    """Data kept even if the person asks for erasure (Art. 17(3)), and why."""

    source: str
    source_label: str
    collection: str
    record_count: int
    basis: str | None
    until: str | None


@dataclass(frozen=True)
class Limitations:
    """What the answer does not give, or what could not be erased, and why."""

    retained: tuple[RetainedData, ...] = ()
    #: Staff's reasons for refusing part of the request, as sent to the person.
    partial_refusal: str | None = None
    #: The pieces of other people's data masked (:class:`Redaction`): counted, and listed
    #: on demand by reading the records again.
    redactions: Redactions = field(default_factory=Redactions)
    #: What replaces each piece masked, in the case's language.
    redaction_marker: str = ""
    #: The partial refusal the redactions are, with its reasons and remedies (None: none).
    redaction_notice: str | None = None


@dataclass(frozen=True)
class CaseInfo:
    """The request the answer is for."""

    reference: str
    kind: Coded
    received_on: date
    due_on: date
    extended: bool
    requester_name: str
    representative_name: str | None


@dataclass(frozen=True)
class Controller:
    """Who answers: the controller and its data protection officer."""

    name: str
    address: str | None
    dpo_email: str | None


@dataclass(frozen=True)
class ExportContent:
    """Everything an answer contains (records read on demand from each source)."""

    scope: str
    language: str
    generated_at: datetime
    case: CaseInfo
    controller: Controller
    information: Information
    limitations: Limitations
    sources: tuple[SourceContent, ...]
    version: int = FORMAT_VERSION
    #: The person's supplementary statements (Art. 16), given with every access answer.
    statements: tuple[StatementContent, ...] = ()

    @property
    def record_count(self) -> int:
        """Records handed over, all sources together."""
        return sum(s.record_count for s in self.sources)


def _collection(register: Register, config: CollectionConfig | None, name: str, tally: Tally,
                language: str, scope: str, redactor: Redactor | None) -> CollectionContent:
    declared = dict(config.fields) if config else {}
    excluded = tuple(config.exclude) if config else ()
    handed = handed_over(config, scope)
    names = [f for f in declared if handed(f)]
    names += sorted(tally.names - set(names))

    def info(field_name: str) -> FieldInfo:
        return FieldInfo(field_name, category(register, declared.get(field_name, UNCLASSIFIED),
                                              language),
                         config.field_label(field_name, language) if config else field_name)

    fields = tuple(info(f) for f in names)
    order = list(dict.fromkeys(f.category.code for f in fields))
    categories = tuple((category(register, code, language), tally.categories[code])
                       for code in order if tally.categories.get(code))
    policy = config.erasure if config else None
    return CollectionContent(
        name=name, record_count=tally.count, fields=fields,
        withheld=tuple(info(f) for f in excluded), erasure=policy.strategy if policy else None,
        retain_basis=policy.retain_basis if policy else None,
        retain_until=policy.retain_until if policy else None, categories=categories,
        redactor=redactor)


def _notice(status: str, count: int, held: int, scope: str) -> str | None:
    if status == GatherStatus.FAILED:
        # Released only when the DPO accepts sending the answer without it: promise nothing
        # the closed case cannot keep, say what is missing and how to get it.
        return gettext("This source could not be searched when this answer was prepared: what "
                       "it may hold about you is not in this answer. Our data protection "
                       "officer can search it again for you on request, free of charge.")
    if status == GatherStatus.SKIPPED:
        return gettext("This source can only be searched by identifiers that were not found "
                       "for you: nothing about you was found there.")
    if status != GatherStatus.DONE:
        return gettext("This source has not been searched yet.")
    if not count and held and scope == "portability":
        return gettext("The data about you in this source is not data you provided to us, or "
                       "is not processed on the basis of your consent or of a contract: it is "
                       "not part of the data you can port. A request for access gives you "
                       "all of it.")
    if not count:
        return gettext("Nothing about you was found in this source.")
    return None


def _source(register: Register, name: str, source: SourceConfig | None,
            row: SourceResult | None, read: RecordReader, language: str, scope: str,
            tallies: Mapping[str, Tally], masked: frozenset[str], marker: str
            ) -> SourceContent:
    status = row.status.value if row is not None else NOT_SEARCHED
    label = source.label(language) if source else name
    kind = source.kind if source else None
    held = (row.record_count or 0) if row is not None else 0
    if row is None or not row.result_blob_id:
        return SourceContent(name, label, kind, status, _notice(status, 0, 0, scope), 0, ())

    def records() -> Iterable[Mapping[str, Any]]:
        return read(row)

    # An earlier round's result stays exported while a later one failed or waits: it is data
    # we hold about the person.
    collections = []
    for c, tally in tallies.items():
        config = source.collections.get(c) if source else None
        redactor = (Redactor(FieldRoles(config), masked, marker)
                    if tally.contacts & masked else None)
        collections.append(_collection(register, config, c, tally, language, scope, redactor))
    total = sum(c.record_count for c in collections)
    return SourceContent(name, label, kind, status, _notice(status, total, held, scope), total,
                         tuple(collections), records)


def _rows(case: Case) -> list[SourceResult]:
    return list(db.session.scalars(select(SourceResult).where(SourceResult.case_id == case.id)
                                   .order_by(SourceResult.id)))


def build_content(case: Case, rows: Iterable[SourceResult] | None = None, *,
                  catalog: Catalog | None = None, read_records: RecordReader = stored_records,
                  scope: str = "access", now: datetime | None = None) -> ExportContent:
    """What the answer to ``case`` contains, from its search results (``rows``, default: all
    the case's) and the configured sources and register (``catalog``), for ``scope``
    (``access``: all the data; ``portability``: what the person provided). Needs an app
    context; reads each stored result here (to list fields, count, and find other people's
    data: once, or up to three times when some is found), and again each time a writer
    iterates the records."""
    if scope not in SCOPES:
        raise ValueError(f"unknown export scope {scope!r}")
    catalog = catalog or get_catalog()
    language = case.language if case.language in ("fr", "en") else "fr"
    by_source = {r.source: r for r in (_rows(case) if rows is None else rows)}
    names = [*catalog.sources, *sorted(n for n in by_source if n not in catalog.sources)]
    register = catalog.register
    config = current_app.config
    own = person_values(case, by_source.values())
    tallies: dict[str, dict[str, Tally]] = {}
    for name in names:
        row, source = by_source.get(name), catalog.sources.get(name)
        if row is not None and row.result_blob_id and in_scope(register, name, source, scope):
            tallies[name] = pre_pass(source, read_records(row), scope, own)
    candidates = {v for ts in tallies.values() for t in ts.values() for v in t.contacts}
    # Any structured field of the person's records (in scope or not) can show a value is theirs.
    masked = resolve(candidates, (
        ({c: FieldRoles(cc) for c, cc in catalog.sources[n].collections.items()}
         if n in catalog.sources else {}, read_records(r))
        for n, r in by_source.items() if r.result_blob_id)) if candidates else frozenset()
    with force_locale(language):
        marker = gettext("[third party's data redacted]")
        sources = tuple(_source(register, n, catalog.sources.get(n), by_source.get(n),
                                read_records, language, scope, tallies.get(n, {}), masked,
                                marker) for n in names)
        # The categories of the values found, and of the fields held but withheld.
        found = {s.name: {code.code for c in s.collections
                          for code in (*(k for k, _ in c.categories),
                                       *(f.category for f in c.withheld))}
                 for s in sources if s.record_count}
        controller = Controller(
            name=register.controller.get("name") or config["ORGANISATION_NAME"],
            address=register.controller.get("address"),
            dpo_email=register.controller.get("dpo_email") or config["DPO_EMAIL"])
        information = build_information(register, found, language, controller.dpo_email)
        case_info = CaseInfo(
            reference=case.reference, kind=Coded(case.kind.value, str(KIND_LABELS[case.kind])),
            received_on=case.received_on, due_on=case.due_on, extended=bool(case.extended),
            requester_name=case.requester_name, representative_name=case.representative_name)
        redactions = Redactions.count(sources)
        notice = (redaction_notice(len(redactions), scope, marker,
                                   information.complaint.complaint_url)
                  if redactions else None)
    retained = tuple(RetainedData(s.name, s.label, c.name, c.record_count, c.retain_basis,
                                  c.retain_until)
                     for s in sources for c in s.collections if c.erasure == "retain")
    content = ExportContent(
        scope=scope, language=language, generated_at=(now or utcnow()).replace(microsecond=0),
        case=case_info, controller=controller, information=information,
        limitations=Limitations(retained=retained,
                                partial_refusal=case.partial_refusal_reasons or None,
                                redactions=redactions, redaction_marker=marker,
                                redaction_notice=notice),
        sources=sources, statements=statement_contents(case, catalog, language, scope))
    logger.info("case %s: %s content built, %d sources, %d records, %d redactions", case.id,
                scope, len(sources), content.record_count, len(redactions))
    return content
