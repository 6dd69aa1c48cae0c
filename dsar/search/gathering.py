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

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, or_, select, update

from dsar.cases.workflow import StaleTransition, transition
from dsar.core import storage
from dsar.core.audit import record_event
from dsar.core.keys import derived_key
from dsar.extensions import db
from dsar.models import (
    FINISHED_GATHER_STATUSES,
    ActorType,
    Case,
    CaseKind,
    CaseStatus,
    GatherStatus,
    SourceResult,
)
from dsar.models.types import utcnow
from dsar.postmortem.matching import search_identity

# Re-exported: callers read a search's results through this module too.
from dsar.search.results import (  # noqa: F401
    iter_records,
    result_document,
    result_lines,
    result_of,
    yielded_identifiers,
)
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
    customer number; they serve staff to check identity.) For a deceased person's rights, the
    deceased's identifiers staff confirmed against the documents, never the requester's own
    address."""
    if case.kind is CaseKind.POSTMORTEM_EXECUTION:
        return search_identity(case)
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
    did nothing (``already-done``, ``held``: another job holds the search; ``superseded``:
    the search was handed to another job while this one ran; ``closed``, ``gone``)."""
    now = now or utcnow()
    row = db.session.scalar(select(SourceResult).where(
        SourceResult.case_id == case_id, SourceResult.source == source))
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
    config = current_app.config
    lease_until = now + timedelta(seconds=int(config["GATHER_TIMEOUT"])
                                  + int(config["GATHER_LEASE_MARGIN"]))
    # The claim is a compare-and-set on the attempt number read above, which then fences the
    # result: only the job holding the latest claim may record it.
    claim = row.attempts + 1
    claimed = db.session.execute(
        update(SourceResult)
        .where(SourceResult.id == row.id, SourceResult.attempts == row.attempts,
               or_(SourceResult.status == GatherStatus.PENDING,
                   and_(SourceResult.status == GatherStatus.RUNNING,
                        SourceResult.lease_until < now)))
        .values(status=GatherStatus.RUNNING, attempts=claim, started_at=now,
                lease_until=lease_until, updated_at=now)
        .execution_options(synchronize_session=False)).rowcount
    if claimed != 1:
        db.session.rollback()  # another job is on it (or finished it meanwhile)
        return "held"
    identity = row_input(row)
    db.session.commit()

    try:
        with get_catalog().connector(source) as connector:
            found = connector.discover(identity).sorted()
    except Exception as exc:
        return _record_failure(case_id, source, claim, exc, final_attempt, actor_id)
    return _record_success(case_id, source, claim, found, actor_id)


def _fenced(case_id: int, source: str, claim: int):
    """The search row of ``source``, only while the claim ``claim`` still holds it."""
    return update(SourceResult).where(
        SourceResult.case_id == case_id, SourceResult.source == source,
        SourceResult.status == GatherStatus.RUNNING, SourceResult.attempts == claim,
    ).execution_options(synchronize_session=False)


def _record_success(case_id: int, source: str, claim: int, found: Discovery,
                    actor_id: str | None) -> str:
    with storage.text_writer() as out:
        for line in result_lines(found):
            out.write(line)
    blob = out.blob
    old_blob = db.session.scalar(select(SourceResult.result_blob_id).where(
        SourceResult.case_id == case_id, SourceResult.source == source))
    counts: dict[str, int] = {}
    for record in found.records:
        counts[record.collection] = counts.get(record.collection, 0) + 1
    recorded = db.session.execute(_fenced(case_id, source, claim).values(
        result_blob_id=blob.blob_id, result_sha256=blob.sha256,
        record_count=len(found.records), counts=counts, status=GatherStatus.DONE, error=None,
        lease_until=None, finished_at=utcnow(), updated_at=utcnow())).rowcount
    if recorded != 1:
        return _superseded(case_id, source, blob.blob_id)
    row = db.session.scalar(select(SourceResult).where(
        SourceResult.case_id == case_id, SourceResult.source == source))
    record_event("gather.source_done", case=db.session.get(Case, case_id),
                 actor_type=ActorType.WORKER, actor_id=actor_id,
                 payload={"source": source, "round": row.round, "records": len(found.records)})
    db.session.commit()
    if old_blob and old_blob != blob.blob_id:
        storage.delete(old_blob)
    logger.info("case %s source %s: %d records", case_id, source, len(found.records))
    return "done"


def _superseded(case_id: int, source: str, blob_id: str | None = None) -> str:
    """The search was handed to another job while this one ran (its worker was taken for
    dead): what this one found is dropped, the other one's result stands."""
    db.session.rollback()
    if blob_id:
        storage.delete(blob_id)
    logger.warning("case %s source %s: search handed to another job meanwhile; this result "
                   "is dropped", case_id, source)
    return "superseded"


def _record_failure(case_id: int, source: str, claim: int, exc: Exception,
                    final_attempt: bool, actor_id: str | None) -> str:
    db.session.rollback()
    # A SourceError's message is written to be shown (no identifier in it); anything else
    # may quote data, so only its type is kept.
    message = (f"{type(exc).__name__}: {exc}" if isinstance(exc, SourceError)
               else type(exc).__name__)[:500]
    values = ({"status": GatherStatus.FAILED, "finished_at": utcnow()} if final_attempt
              else {"status": GatherStatus.PENDING})
    recorded = db.session.execute(_fenced(case_id, source, claim).values(
        error=message, lease_until=None, updated_at=utcnow(), **values)).rowcount
    if recorded != 1:
        return _superseded(case_id, source)
    if final_attempt:
        row = db.session.scalar(select(SourceResult).where(
            SourceResult.case_id == case_id, SourceResult.source == source))
        record_event("gather.source_failed", case=db.session.get(Case, case_id),
                     actor_type=ActorType.WORKER, actor_id=actor_id,
                     payload={"source": source, "round": row.round,
                              "error": type(exc).__name__})
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
    case = db.session.get(Case, case_id)
    if case is None or case.status not in GATHERING_STATUSES:
        db.session.rollback()
        return "closed", []
    rows = {r.source: r for r in _rows(case_id)}
    if not rows or not all(r.status.finished for r in rows.values()):
        db.session.rollback()
        return "waiting", []
    if not _claim_fan_in(case_id, rows.values()):
        db.session.rollback()
        logger.info("case %s: its fan-in was done by another job", case_id)
        return "superseded", []
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
        try:
            transition(case, CaseStatus.REVIEW, actor_type=ActorType.WORKER,
                       actor_id=actor_id,
                       payload={"sources": len(rows), "failed_sources": failed,
                                "records": sum(r.record_count or 0 for r in rows.values())})
        except StaleTransition:
            db.session.rollback()
            logger.info("case %s: moved by another job meanwhile", case_id)
            return "superseded", []
        outcome = "review"
    db.session.commit()
    return outcome, []


def _claim_fan_in(case_id: int, rows) -> bool:
    """The fan-in's claim: touch every search row of the case on condition it is still
    finished and in the round read. Two fan-ins of one round: the second waits for the first
    to commit (the database's write lock on SQLite, the row locks on PostgreSQL), then finds a
    row of a new round (the first planned one) and gives up, or claims and finds the case
    already moved on (``transition`` refuses)."""
    rows = list(rows)
    seen_round = max(r.round for r in rows)
    touched = db.session.execute(
        update(SourceResult)
        .where(SourceResult.case_id == case_id, SourceResult.round <= seen_round,
               SourceResult.status.in_(FINISHED_GATHER_STATUSES))
        .values(updated_at=utcnow())
        .execution_options(synchronize_session=False)).rowcount
    return touched == len(rows)


def _within(wanted: Identity, covered: Identity) -> bool:
    return all(values <= covered.get(kind) for kind, values in wanted.values.items())


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
