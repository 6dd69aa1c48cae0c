"""What ``/metrics`` reports, computed at each scrape from the database and Redis.

The web server runs several gunicorn processes and the workers run on other machines: a
counter kept in one process would see a fraction of the work, and be lost at each restart.
So nothing is counted in memory. :class:`DsarCollector` asks the database and Redis, at the
moment Prometheus scrapes, what stands now — the cases open, overdue and due soon (the
dashboard's own queries), the jobs queued, running and failed per queue, the workers alive —
and how long the searches and package builds that finished in the last
:data:`WINDOW` took, from the timestamps their rows keep. Any process answers the same.

A handful of grouped queries and one Redis round trip per scrape (docs/metrics.md gives
their cost on 100,000 cases). Labels are the names of statuses, kinds, queues and sources:
never a reference, an address or anything else about a person.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from datetime import timedelta

from prometheus_client.metrics_core import (
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from rq.cron_scheduler_registry import get_registry_key as scheduler_registry_key
from rq.utils import utcparse
from rq.worker_registration import WORKERS_BY_QUEUE_KEY
from sqlalchemy import case, func, literal, select

from dsar.cases.clock import today_in_paris
from dsar.cases.retention import CANCELLED
from dsar.extensions import db
from dsar.models import (
    CLOCK_RUNNING_STATUSES,
    CLOSED_STATUSES,
    Case,
    CaseKind,
    CaseStatus,
    ExportPackage,
    GatherStatus,
    MailStatus,
    OutboundEmail,
    SourceResult,
)
from dsar.models.types import utcnow
from dsar.ops.checks import SCHEDULER_SEEN_SECONDS, WORKER_SEEN_SECONDS
from dsar.pipeline.queues import QUEUES, queue_on, redis_connection

logger = logging.getLogger(__name__)

#: The durations reported are those of the searches and builds that finished this recently.
WINDOW = timedelta(hours=24)
#: Upper bounds (seconds) of the duration buckets: a search of a quick API takes well under a
#: second, a file share or a slow system minutes (its time limit is ``GATHER_TIMEOUT``).
SEARCH_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
#: A package of a few records builds in a second; 100,000 records with their PDF, minutes.
BUILD_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
#: The statuses counted as open: every one but the four closed ones (``recorded``, the
#: post-mortem directives kept on record, included: its label tells it apart).
OPEN_STATUSES = tuple(s for s in CaseStatus if s not in CLOSED_STATUSES)
#: The name ``dsar scheduler`` runs its RQ CronScheduler under (``dsar/cli.py``).
SCHEDULER_NAME = "dsar"
#: How ``dsar_<store>_up`` names each store.
STORE_NAMES = {"database": "the database", "redis": "Redis"}
#: The outbox's ``last_error`` of the failed e-mails that are no fault: a request received
#: without an address (``dsar.mail.sending``), a pending e-mail cancelled by the purge of its
#: case (``dsar.cases.retention``).
MAIL_FAILURE_REASONS = {"NoAddress": "no_address", CANCELLED: "cancelled"}


class DsarCollector(Collector):
    """Every dsar metric, read from the database and Redis at scrape time (called by
    ``prometheus_client`` within the request, so in the app's context). A part whose store
    does not answer is left out and said so by ``dsar_database_up`` / ``dsar_redis_up``: a
    scrape never fails as a whole."""

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        yield from _guarded("database", _database_families)
        yield from _guarded("redis", _redis_families)
        scrape = GaugeMetricFamily("dsar_metrics_scrape_seconds",
                                   "Time this scrape took to compute every dsar metric.")
        scrape.add_metric([], time.perf_counter() - started)
        yield scrape


def _guarded(store: str, families) -> Iterator[Metric]:
    """The families ``families()`` makes, then ``dsar_<store>_up`` 1; only ``_up`` 0 when
    that failed, whatever the error: the store down, or a value it holds that cannot be read
    (a status this version does not know, a worker's heartbeat in another format). Its type
    is logged, never its message: a driver's may quote a URL, a value a person's data."""
    up = GaugeMetricFamily(f"dsar_{store}_up",
                           f"Whether {STORE_NAMES[store]} answered this scrape (1) or not (0).")
    try:
        made = list(families())
    except Exception as exc:  # a store down, or a value it holds unreadable: never a 500
        if store == "database":
            db.session.rollback()
        logger.warning("metrics: the %s part failed (%s)", store, type(exc).__name__)
        up.add_metric([], 0)
        yield up
        return
    yield from made
    up.add_metric([], 1)
    yield up


def _database_families() -> list[Metric]:
    try:
        return [*_case_families(), *_search_families(), *_build_families(),
                *_mail_families()]
    finally:
        db.session.rollback()  # read only: end the transaction, release the connection


# --- Cases -------------------------------------------------------------------------------

def _case_families() -> list[Metric]:
    from dsar.cases.clock import DUE_SOON_DAYS, clock_running, overdue_and_soon

    rows = db.session.execute(
        select(Case.status, Case.kind, func.count())
        .where(Case.status.in_(OPEN_STATUSES)).group_by(Case.status, Case.kind)).all()
    counts = {(CaseStatus(status), CaseKind(kind)): n for status, kind, n in rows}
    open_cases = GaugeMetricFamily(
        "dsar_cases_open", "Open cases (not completed, rejected, withdrawn or expired), by "
        "status and kind.", labels=["status", "kind"])
    # Every pair, zeros included: a series that appears and vanishes is hard to alert on.
    for status in OPEN_STATUSES:
        for kind in CaseKind:
            open_cases.add_metric([status.value, kind.value], counts.get((status, kind), 0))
    # The dashboard's counters, by its own query: cases waiting for the requester count too,
    # paused or not (their due date is shown with the pause on the case). Those paused are
    # counted apart as well, so that an alert can leave them out: their clock stands still.
    today = today_in_paris()
    overdue, soon = overdue_and_soon(today)
    overdue_family = GaugeMetricFamily(
        "dsar_cases_overdue", "Open cases past their legal due date (as the staff dashboard "
        "counts them), those whose clock is paused included.")
    overdue_family.add_metric([], overdue)
    paused_family = GaugeMetricFamily(
        "dsar_cases_overdue_paused", "Of dsar_cases_overdue, the cases whose clock is paused "
        "(waiting for the requester to answer a doubt about their identity): past the date "
        "they had when the pause began, not late.")
    # The dashboard's overdue cases (same statuses, same date) whose clock does not run: a
    # subset of them by construction, so that overdue - paused counts the late ones.
    counted = Case.status.in_(CLOCK_RUNNING_STATUSES | {CaseStatus.NEEDS_INFO})
    paused_family.add_metric([], db.session.scalar(
        select(func.count()).where(counted, Case.due_on < today, ~clock_running())))
    soon_family = GaugeMetricFamily(
        "dsar_cases_due_soon", f"Open cases due within {DUE_SOON_DAYS} days, not yet overdue "
        "(as the staff dashboard counts them).")
    soon_family.add_metric([], soon)
    return [open_cases, overdue_family, paused_family, soon_family]


# --- Durations ---------------------------------------------------------------------------

def _seconds_between(start, end):
    """SQL: the seconds from ``start`` to ``end`` (two timestamp columns), per dialect."""
    if db.engine.dialect.name == "postgresql":
        return func.extract("epoch", end - start)
    # SQLite keeps them as text; julianday() reads it (in days, fractions included).
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def _bucket_columns(seconds, bounds: Sequence[float]) -> list:
    """SQL: one count per bucket (``seconds <= bound``), the count and the sum."""
    return [func.sum(case((seconds <= bound, 1), else_=0)) for bound in bounds] + [
        func.count(), func.sum(seconds)]


def _histogram(name: str, documentation: str, label: str | None,
               rows, bounds: Sequence[float]) -> GaugeHistogramMetricFamily:
    """A gauge histogram (the distribution over the window, not a running total) from rows
    of ``(label value, *bucket counts, count, sum)``."""
    family = GaugeHistogramMetricFamily(name, documentation,
                                        labels=[label] if label else None)
    for row in rows:
        value, *numbers = row
        *cumulative, count, total = numbers
        buckets = [(floatToGoString(bound), int(n or 0))
                   for bound, n in zip(bounds, cumulative, strict=True)]
        buckets.append(("+Inf", int(count)))
        family.add_metric([str(value)] if label else [], buckets, float(total or 0.0))
    return family


def _search_families() -> list[Metric]:
    since = utcnow() - WINDOW
    seconds = _seconds_between(SourceResult.started_at, SourceResult.finished_at)
    failed = func.sum(case((SourceResult.status == GatherStatus.FAILED, 1), else_=0))
    rows = db.session.execute(
        select(SourceResult.source, *_bucket_columns(seconds, SEARCH_BUCKETS), failed)
        .where(SourceResult.status.in_([GatherStatus.DONE, GatherStatus.FAILED]),
               SourceResult.started_at.is_not(None), SourceResult.finished_at >= since)
        .group_by(SourceResult.source).order_by(SourceResult.source)).all()
    durations = _histogram(
        "dsar_search_duration_seconds",
        f"How long the searches of each source that finished in the last "
        f"{_hours(WINDOW)} hours took (their last attempt), done or failed.",
        "source", [row[:-1] for row in rows], SEARCH_BUCKETS)
    failures = GaugeMetricFamily(
        "dsar_searches_failed", f"Searches of each source that failed after every retry in "
        f"the last {_hours(WINDOW)} hours (staff may run them again).", labels=["source"])
    for row in rows:
        failures.add_metric([row[0]], int(row[-1] or 0))
    return [durations, failures]


def _build_families() -> list[Metric]:
    """The package builds of the window: how many, and how long they took
    (``export_packages.build_seconds``, what the build job measured; older rows without it
    count as built, not in the durations)."""
    since = utcnow() - WINDOW
    built_in_window = ExportPackage.created_at >= since
    measured = ExportPackage.build_seconds
    rows = db.session.execute(
        select(ExportPackage.scope, *_bucket_columns(measured, BUILD_BUCKETS))
        .where(built_in_window, measured.is_not(None))
        .group_by(ExportPackage.scope).order_by(ExportPackage.scope)).all()
    durations = _histogram(
        "dsar_build_duration_seconds",
        f"How long the answer packages built in the last {_hours(WINDOW)} hours took "
        "to build, by scope.", "scope", rows, BUILD_BUCKETS)
    rows = db.session.execute(
        select(ExportPackage.scope, func.count()).where(built_in_window)
        .group_by(ExportPackage.scope).order_by(ExportPackage.scope)).all()
    built = GaugeMetricFamily(
        "dsar_packages_built", f"Answer packages built in the last {_hours(WINDOW)} hours, "
        "by scope.", labels=["scope"])
    for scope, count in rows:
        built.add_metric([scope], count)
    return [durations, built]


def _hours(window: timedelta) -> int:
    return int(window.total_seconds() // 3600)


# --- E-mail ------------------------------------------------------------------------------

def _mail_families() -> list[Metric]:
    reason = case(*((OutboundEmail.last_error == error, literal(label))
                    for error, label in MAIL_FAILURE_REASONS.items()), else_=literal("error"))
    failed_rows = db.session.execute(
        select(reason, func.count()).where(OutboundEmail.status == MailStatus.FAILED)
        .group_by(reason)).all()
    failed = GaugeMetricFamily(
        "dsar_emails_failed", "E-mails that will not be sent, by reason: no_address (a "
        "request without an e-mail address), cancelled (its case was purged), error.",
        labels=["reason"])
    counts = dict(failed_rows)
    for label in (*MAIL_FAILURE_REASONS.values(), "error"):
        failed.add_metric([label], counts.get(label, 0))
    pending_rows = db.session.execute(
        select(OutboundEmail.last_error.is_not(None), func.count())
        .where(OutboundEmail.status == MailStatus.PENDING)
        .group_by(OutboundEmail.last_error.is_not(None))).all()
    pending = dict((bool(k), n) for k, n in pending_rows)
    waiting = GaugeMetricFamily("dsar_emails_pending", "E-mails waiting to be sent.")
    waiting.add_metric([], sum(pending.values()))
    failing = GaugeMetricFamily(
        "dsar_emails_failing", "E-mails waiting to be sent whose last attempt failed (the "
        "SMTP server refused or did not answer): retried, or in the mail queue's failed jobs "
        "once every retry failed.")
    failing.add_metric([], pending.get(True, 0))
    return [failed, waiting, failing]


# --- Redis: queues, workers, scheduler ---------------------------------------------------

def _redis_families() -> list[Metric]:
    connection = redis_connection()
    now = time.time()
    queues = [queue_on(name, connection) for name in QUEUES]
    with connection.pipeline(transaction=False) as pipe:
        for queue in queues:
            pipe.llen(queue.key)
            # Scored by when each entry expires: the expired ones are RQ's to clean up.
            pipe.zcount(queue.started_job_registry.key, now, "+inf")
            pipe.zcard(queue.scheduled_job_registry.key)
            pipe.zcount(queue.failed_job_registry.key, now, "+inf")
            pipe.smembers(WORKERS_BY_QUEUE_KEY % queue.name)
        # Its last heartbeat; it leaves the registry when it stops cleanly.
        pipe.zscore(scheduler_registry_key(), SCHEDULER_NAME)
        answers = pipe.execute()
    per_queue = [answers[i:i + 5] for i in range(0, 5 * len(queues), 5)]
    listening = {name: {key.decode() for key in answer[4]}
                 for name, answer in zip(QUEUES, per_queue, strict=True)}
    alive = _alive(connection, set().union(*listening.values()), now)

    families = {
        "queued": GaugeMetricFamily("dsar_jobs_queued", "Jobs waiting in each queue.",
                                    labels=["queue"]),
        "running": GaugeMetricFamily("dsar_jobs_running", "Jobs a worker is running, per "
                                     "queue.", labels=["queue"]),
        "scheduled": GaugeMetricFamily("dsar_jobs_scheduled", "Jobs waiting for their next "
                                       "retry (or a set time), per queue.", labels=["queue"]),
        "failed": GaugeMetricFamily("dsar_jobs_failed", "Jobs that failed after every retry, "
                                    "per queue (RQ keeps them 7 days).", labels=["queue"]),
    }
    workers = GaugeMetricFamily("dsar_workers", f"Workers serving each queue that beat "
                                f"within {WORKER_SEEN_SECONDS} s (as /readyz counts them).",
                                labels=["queue"])
    for name, (queued, running, scheduled, failed, _) in zip(QUEUES, per_queue, strict=True):
        for key, value in (("queued", queued), ("running", running),
                           ("scheduled", scheduled), ("failed", failed)):
            families[key].add_metric([name], value)
        workers.add_metric([name], len(listening[name] & alive))
    scheduler = GaugeMetricFamily("dsar_scheduler_up", "Whether `dsar scheduler` (which "
                                  f"queues the periodic jobs) beat within "
                                  f"{SCHEDULER_SEEN_SECONDS} s (1) or not (0).")
    beat = answers[-1]
    scheduler.add_metric([], 1 if beat and now - beat <= SCHEDULER_SEEN_SECONDS else 0)
    return [*families.values(), workers, scheduler]


def _alive(connection, keys: set[str], now: float) -> set[str]:
    """The workers among ``keys`` (``rq:worker:<name>``) whose last heartbeat (RQ's, which
    dsar's heartbeat thread refreshes even while a long job runs) is at most
    :data:`WORKER_SEEN_SECONDS` old: the rule of ``/readyz`` and ``dsar doctor``. A worker
    killed stays in RQ's sets a while."""
    ordered = sorted(keys)
    if not ordered:
        return set()
    with connection.pipeline(transaction=False) as pipe:
        for key in ordered:
            pipe.hget(key, "last_heartbeat")
        beats = pipe.execute()
    return {key for key, beat in zip(ordered, beats, strict=True)
            if beat and now - utcparse(beat.decode()).timestamp() <= WORKER_SEEN_SECONDS}
