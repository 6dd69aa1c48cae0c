"""Finding everything the organisation holds about a person: the service behind the gather
jobs (the jobs in ``workers/jobs.py`` only call these functions).

The search goes in rounds. Round 1 searches every source that can be searched by the e-mail
address whose control the requester proved. The records found carry further identifiers (a
customer id, an analytics visitor id, a newsletter contact id); the fan-in (:func:`collect`)
adds them to the person's identity and searches again each source that matches on a type that
grew, until no new identifier appears. The search thus follows the person from system to system
and stops at what is linked to them. Then the case waits in ``review``.

Everything is in the database: which source is pending, running (with a lease), done or failed,
what it was searched with (sealed) and what it found (an encrypted blob). Redis only carries the
jobs, so a lost job or a dead worker loses nothing: ``dsar.pipeline.sweep`` queues the work
again, and a job run twice finds its work done and stops.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from dsar.cases.workflow import transition
from dsar.core import storage
from dsar.core.audit import record_event
from dsar.core.keys import derived_key
from dsar.extensions import db
from dsar.models import ActorType, Case, CaseStatus, GatherStatus, SourceResult
from dsar.models.types import utcnow
from dsar.sources.base import Discovery, Identity, SourceError
from dsar.sources.catalog import get_catalog

logger = logging.getLogger(__name__)

#: Statuses in which a case's sources are searched (``review``: staff ran a source again).
GATHERING_STATUSES = frozenset({CaseStatus.IN_PROGRESS, CaseStatus.REVIEW})


@dataclass(frozen=True)
class Planned:
    """A search to queue once the transaction that planned it has committed."""

    case_id: int
    source: str
    round: int


def base_identity(case: Case) -> Identity:
    """What the search starts from: the e-mail address whose control the requester proved.
    (Identifiers the requester typed are not search keys: anyone can type someone else's
    customer number; they serve staff to check identity.)"""
    return Identity.of(email=[case.email_normalized])


def _digest(identity: Identity) -> str:
    return identity.digest(derived_key("case-tokens"))


def _context(row: SourceResult) -> str:
    return f"source_results:{row.case_id}:{row.source}:input"


def _set_input(row: SourceResult, identity: Identity) -> None:
    canonical = json.dumps(identity.to_json(), sort_keys=True).encode()
    row.input_sealed = storage.seal(canonical, _context(row))
    row.input_digest = _digest(identity)


def row_input(row: SourceResult) -> Identity:
    """The identifiers ``row``'s source is to be searched with."""
    if row.input_sealed is None:
        return Identity()
    return Identity.from_json(json.loads(storage.unseal(row.input_sealed, _context(row))))


def prepare(case: Case) -> list[Planned]:
    """Plan round 1 for every configured source (in the caller's transaction). Sources that
    cannot be searched by the e-mail address wait for a later round."""
    catalog = get_catalog()
    identity = base_identity(case)
    existing = {r.source: r for r in _rows(case.id)}
    planned = []
    for name, source in catalog.sources.items():
        row = existing.get(name)
        if row is None:
            row = SourceResult(case_id=case.id, source=name, round=1, counts={})
            db.session.add(row)
        wanted = identity.restricted(source.match_types)
        _replan(row, wanted, 1)
        if row.status is GatherStatus.PENDING:
            planned.append(Planned(case.id, name, 1))
    db.session.flush()
    return planned


def _replan(row: SourceResult, wanted: Identity, round_: int) -> None:
    row.round = round_
    row.error = None
    row.lease_until = None
    row.status = GatherStatus.PENDING if wanted else GatherStatus.SKIPPED
    _set_input(row, wanted)


def _rows(case_id: int) -> list[SourceResult]:
    return list(db.session.scalars(
        select(SourceResult).where(SourceResult.case_id == case_id).order_by(SourceResult.id)))


def gather(case_id: int, source: str, *, final_attempt: bool = True,
           actor_id: str | None = None, now: datetime | None = None) -> str:
    """Search one source for a case and store what it found. Returns what happened:
    ``done``, ``failed``, ``retrying`` (the exception is re-raised for RQ's Retry), or why it
    did nothing (``already-done``, ``held``, ``closed``, ``gone``)."""
    now = now or utcnow()
    row = db.session.scalar(select(SourceResult).where(
        SourceResult.case_id == case_id, SourceResult.source == source).with_for_update())
    if row is None or source not in get_catalog().sources:
        db.session.rollback()
        return "gone"
    case = db.session.get(Case, case_id)
    if case is None or case.status not in GATHERING_STATUSES:
        db.session.rollback()
        return "closed"
    if row.status.finished:
        db.session.rollback()
        return "already-done"
    if row.status is GatherStatus.RUNNING and row.lease_until and row.lease_until > now:
        db.session.rollback()  # another worker is on it
        return "held"
    config = current_app.config
    row.status = GatherStatus.RUNNING
    row.attempts += 1
    row.started_at = now
    row.lease_until = now + timedelta(seconds=int(config["GATHER_TIMEOUT"])
                                      + int(config["GATHER_LEASE_MARGIN"]))
    identity = row_input(row)
    db.session.commit()

    try:
        with get_catalog().connector(source) as connector:
            found = connector.discover(identity).sorted()
    except Exception as exc:
        return _record_failure(case_id, source, exc, final_attempt, actor_id)
    _record_success(case_id, source, found, actor_id)
    return "done"


def result_lines(found: Discovery) -> Iterator[str]:
    """A search result as canonical JSON lines: a header (the identifiers the records carry,
    the record count), then one record per line. The same records give the same bytes, and a
    reader can go through 100,000 records without holding them."""
    yield _canonical({"identifiers": found.identifiers.to_json(),
                      "record_count": len(found.records)})
    for record in found.records:
        yield _canonical(record.to_json())


def _canonical(value: dict) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"


def result_document(found: Discovery) -> bytes:
    """The bytes :func:`result_lines` stores (tests compare sums with it)."""
    return "".join(result_lines(found)).encode()


def _record_success(case_id: int, source: str, found: Discovery, actor_id: str | None) -> None:
    with storage.text_writer() as out:
        for line in result_lines(found):
            out.write(line)
    blob = out.blob
    row = db.session.scalar(select(SourceResult).where(
        SourceResult.case_id == case_id, SourceResult.source == source).with_for_update())
    old_blob = row.result_blob_id
    counts: dict[str, int] = {}
    for record in found.records:
        counts[record.collection] = counts.get(record.collection, 0) + 1
    row.result_blob_id = blob.blob_id
    row.result_sha256 = blob.sha256
    row.record_count = len(found.records)
    row.counts = counts
    row.status = GatherStatus.DONE
    row.error = None
    row.lease_until = None
    row.finished_at = utcnow()
    record_event("gather.source_done", case=row.case, actor_type=ActorType.WORKER,
                 actor_id=actor_id, payload={"source": source, "round": row.round,
                                             "records": row.record_count})
    db.session.commit()
    if old_blob and old_blob != blob.blob_id:
        storage.delete(old_blob)
    logger.info("case %s source %s: %d records", case_id, source, len(found.records))


def _record_failure(case_id: int, source: str, exc: Exception, final_attempt: bool,
                    actor_id: str | None) -> str:
    db.session.rollback()
    # A SourceError's message is written to be shown (no identifier in it); anything else
    # may quote data, so only its type is kept.
    message = (f"{type(exc).__name__}: {exc}" if isinstance(exc, SourceError)
               else type(exc).__name__)[:500]
    row = db.session.scalar(select(SourceResult).where(
        SourceResult.case_id == case_id, SourceResult.source == source).with_for_update())
    row.error = message
    row.lease_until = None
    if final_attempt:
        row.status = GatherStatus.FAILED
        row.finished_at = utcnow()
        record_event("gather.source_failed", case=row.case, actor_type=ActorType.WORKER,
                     actor_id=actor_id, payload={"source": source, "round": row.round,
                                                 "error": type(exc).__name__})
    else:
        row.status = GatherStatus.PENDING
    db.session.commit()
    logger.warning("case %s source %s failed (%s)%s", case_id, source, type(exc).__name__,
                   "" if final_attempt else ", will retry")
    if not final_attempt:
        # Raised again for RQ's Retry, as a SourceError without the original chain: RQ logs
        # a failing job's exception, and a foreign exception's text may quote personal data.
        raise SourceError(message) from None
    return "failed"


def all_finished(case_id: int) -> bool:
    """Whether no source of the case is pending or running (time for the fan-in)."""
    rows = _rows(case_id)
    return bool(rows) and all(r.status.finished for r in rows)


def current_round(case_id: int) -> int:
    return max((r.round for r in _rows(case_id)), default=1)


def collect(case_id: int, *, actor_id: str | None = None) -> tuple[str, list[Planned]]:
    """The fan-in. Once every source is finished: plan the next round for the sources whose
    identifiers grew, or, when nothing new was found, move the case to ``review``.
    Returns what happened and the searches to queue after the commit."""
    case = db.session.scalar(select(Case).where(Case.id == case_id).with_for_update())
    if case is None or case.status not in GATHERING_STATUSES:
        db.session.rollback()
        return "closed", []
    rows = {r.source: r for r in _rows(case_id)}
    if not rows or not all(r.status.finished for r in rows.values()):
        db.session.rollback()
        return "waiting", []
    identity = base_identity(case)
    #: What each source already covered: what it was searched with and what its own
    #: records yielded (its connector followed those itself).
    covered: dict[str, Identity] = {}
    for name, row in rows.items():
        covered[name] = row_input(row)
        if row.status is GatherStatus.DONE and row.result_blob_id:
            own = yielded_identifiers(row)
            identity = identity.union(own)
            covered[name] = covered[name].union(own)
    next_round = max(r.round for r in rows.values()) + 1
    planned = []
    catalog = get_catalog()
    for name, source in catalog.sources.items():
        row = rows.get(name)
        wanted = identity.restricted(source.match_types)
        if row is None:
            row = SourceResult(case_id=case_id, source=name, round=next_round, counts={})
            db.session.add(row)
        elif not wanted or _within(wanted, covered[name]):
            continue  # nothing new to search this source by
        if next_round > int(current_app.config["GATHER_MAX_ROUNDS"]):
            logger.warning("case %s: round limit reached, %s not searched again", case_id, name)
            continue
        _replan(row, wanted, next_round)
        if row.status is GatherStatus.PENDING:
            planned.append(Planned(case_id, name, next_round))
    if planned:
        db.session.commit()
        return "next-round", planned
    outcome = "unchanged"
    if case.status is CaseStatus.IN_PROGRESS:
        failed = sorted(n for n, r in rows.items() if r.status is GatherStatus.FAILED)
        transition(case, CaseStatus.REVIEW, actor_type=ActorType.WORKER, actor_id=actor_id,
                   payload={"sources": len(rows), "failed_sources": failed,
                            "records": sum(r.record_count or 0 for r in rows.values())})
        outcome = "review"
    db.session.commit()
    return outcome, []


def _within(wanted: Identity, covered: Identity) -> bool:
    return all(values <= covered.get(kind) for kind, values in wanted.values.items())


def result_of(row: SourceResult) -> dict:
    """The decrypted result of a finished search, whole: ``records`` and ``identifiers``
    (use :func:`iter_records` for large results)."""
    header, records, _ = _open_result(row)
    return {"identifiers": header.get("identifiers", {}), "records": list(records)}


def iter_records(row: SourceResult) -> Iterator[dict]:
    """The records of a finished search, one at a time (``collection``, ``key``, ``fields``),
    decrypted segment by segment: memory stays flat whatever their number."""
    return _open_result(row)[1]


def _open_result(row: SourceResult) -> tuple[dict, Iterator[dict], io.TextIOBase | None]:
    if not row.result_blob_id:
        return {}, iter(()), None
    text = io.TextIOWrapper(storage.reader(row.result_blob_id), encoding="utf-8")
    try:
        header = json.loads(text.readline() or "{}")
    except (ValueError, storage.BlobError):
        text.close()
        raise
    if isinstance(header.get("records"), list):  # a result stored whole (before JSON lines)
        text.close()
        return header, iter(header["records"]), None

    def records() -> Iterator[dict]:
        try:
            for line in text:
                yield json.loads(line)
        finally:
            text.close()

    return header, records(), text


def yielded_identifiers(row: SourceResult) -> Identity:
    header, _, text = _open_result(row)
    if text is not None:
        text.close()
    return Identity.from_json(header.get("identifiers", {}))


def rerun(case: Case, source: str) -> Planned:
    """Plan one source again (staff asked, after a failure): same identifiers, a new round.
    The caller checks permissions, audits and commits."""
    row = db.session.scalar(select(SourceResult).where(
        SourceResult.case_id == case.id, SourceResult.source == source))
    if row is None or row.status not in (GatherStatus.DONE, GatherStatus.FAILED):
        raise ValueError("source not searched yet, or nothing to search it by")
    round_ = current_round(case.id) + 1
    row.round = round_
    row.status = GatherStatus.PENDING
    row.error = None
    row.lease_until = None
    return Planned(case.id, source, round_)


@dataclass(frozen=True)
class SourceSearch:
    """One line of the case page's "Sources" table: no personal data, only counts."""

    name: str
    label: str
    row: SourceResult | None
    #: (collection, count) in the order of sources.toml.
    counts: list[tuple[str, int]]


def source_searches(case: Case, language: str = "fr") -> list[SourceSearch]:
    """The search of each configured source for ``case`` (and of any source since removed
    from the configuration), for staff."""
    sources = get_catalog().sources
    rows = {r.source: r for r in _rows(case.id)}
    searches = []
    for name in [*sources, *(n for n in rows if n not in sources)]:
        source, row = sources.get(name), rows.get(name)
        order = list(source.collections) if source else []
        counts = sorted((row.counts or {}).items() if row else [],
                        key=lambda item: order.index(item[0]) if item[0] in order else 99)
        searches.append(SourceSearch(name, source.label(language) if source else name, row,
                                     counts))
    return searches
