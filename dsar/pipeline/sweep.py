"""Housekeeping that keeps the database and the queues in step: expiring cases whose e-mail
was never confirmed, and re-enqueueing work whose job vanished from Redis or whose worker
died."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update

from dsar import pipeline
from dsar.cases.proofs import purge_leftover_proofs
from dsar.cases.workflow import transition
from dsar.delivery.release import purge_expired
from dsar.exports.build import current_package, results_digest
from dsar.extensions import db
from dsar.mail.outbox import queue_email
from dsar.models import (
    ActorType,
    Case,
    CaseStatus,
    GatherStatus,
    MailStatus,
    MailTemplate,
    OutboundEmail,
    SourceResult,
)
from dsar.models.types import utcnow
from dsar.search import gathering
from dsar.search.gathering import GATHERING_STATUSES

logger = logging.getLogger(__name__)

#: Leave a fresh outbox row alone for this long: its job is probably on its way.
REQUEUE_GRACE = timedelta(minutes=2)


def expire_unconfirmed(now: datetime | None = None) -> list[int]:
    """Close as ``expired`` every case still unconfirmed after ``CONFIRMATION_DAYS``; tell the
    address once. Returns the ids of the cases expired."""
    now = now or utcnow()
    cutoff = now - timedelta(days=current_app.config["CONFIRMATION_DAYS"])
    cases = db.session.scalars(
        select(Case).where(Case.status == CaseStatus.SUBMITTED, Case.received_at < cutoff)
    ).all()
    expired, mails = [], []
    for case in cases:
        transition(case, CaseStatus.EXPIRED, actor_type=ActorType.SYSTEM,
                   payload={"reason": "not_confirmed"})
        mails.append(queue_email(case, MailTemplate.EXPIRED))
        expired.append(case.id)
    db.session.commit()
    for outbound in mails:
        pipeline.enqueue_email(outbound.id)
    if expired:
        logger.info("expired %d unconfirmed cases", len(expired))
    return expired


def requeue_pending_mail(now: datetime | None = None) -> list[int]:
    """Enqueue again every pending e-mail whose job Redis no longer knows."""
    now = now or utcnow()
    pending = db.session.scalars(
        select(OutboundEmail.id).where(
            OutboundEmail.status == MailStatus.PENDING,
            OutboundEmail.created_at < now - REQUEUE_GRACE,
        )
    ).all()
    requeued = [i for i in pending if not pipeline.job_is_queued(pipeline.mail_job_id(i))]
    for outbound_id in requeued:
        pipeline.enqueue_email(outbound_id)
    if requeued:
        logger.info("re-enqueued %d e-mails", len(requeued))
    return requeued


def requeue_lost_gathering(now: datetime | None = None) -> dict[str, int]:
    """Queue again the searches of open cases that no worker will finish: pending ones whose
    job Redis no longer knows (Redis emptied or restarted), and running ones whose worker died
    (their lease ran out). Then queue the fan-in of cases whose sources are all finished but
    which are still ``in_progress`` (the fan-in job was lost). Returns counts."""
    now = now or utcnow()
    rows = db.session.execute(
        select(SourceResult.case_id, SourceResult.source, SourceResult.round,
               SourceResult.status, SourceResult.lease_until, SourceResult.updated_at)
        .join(Case, Case.id == SourceResult.case_id)
        .where(Case.status.in_(GATHERING_STATUSES),
               SourceResult.status.in_([GatherStatus.PENDING, GatherStatus.RUNNING]))
    ).all()
    searches = 0
    for case_id, source, round_, status, lease_until, updated_at in rows:
        if status is GatherStatus.RUNNING:
            lost = lease_until is None or lease_until < now
        else:
            lost = (updated_at < now - REQUEUE_GRACE
                    and not pipeline.job_is_queued(pipeline.gather_job_id(case_id, source,
                                                                          round_)))
        if not lost:
            continue
        if status is GatherStatus.RUNNING:
            # The worker died: its claim is void, the next job may start the search over.
            db.session.execute(
                update(SourceResult).where(SourceResult.case_id == case_id,
                                           SourceResult.source == source,
                                           SourceResult.status == GatherStatus.RUNNING)
                .values(status=GatherStatus.PENDING, lease_until=None))
            db.session.commit()
        if pipeline.enqueue_gather(case_id, source, round_):
            searches += 1
    stalled = db.session.scalars(
        select(Case.id).where(Case.status == CaseStatus.IN_PROGRESS,
                              Case.updated_at < now - REQUEUE_GRACE)
    ).all()
    fan_ins = 0
    for case_id in stalled:
        if not gathering.all_finished(case_id):
            continue
        round_ = gathering.current_round(case_id)
        if not pipeline.job_is_queued(pipeline.collect_job_id(case_id, round_)) or \
                _job_finished(pipeline.collect_job_id(case_id, round_)):
            fan_ins += pipeline.enqueue_collect(case_id, round_)
    db.session.rollback()
    if searches or fan_ins:
        logger.info("re-enqueued %d searches and %d fan-ins", searches, fan_ins)
    return {"requeued_searches": searches, "requeued_fan_ins": fan_ins}


def requeue_lost_packages(now: datetime | None = None) -> int:
    """Queue again the build of the answer package of cases in review that have none for
    their current search results (the job was lost, or failed every retry)."""
    now = now or utcnow()
    waiting = db.session.scalars(select(Case.id).where(
        Case.status == CaseStatus.REVIEW, Case.updated_at < now - REQUEUE_GRACE)).all()
    queued = 0
    for case_id in waiting:
        package = current_package(case_id)
        if package is not None and package.results_digest == results_digest(case_id):
            continue
        if pipeline.job_status(pipeline.package_job_id(case_id)) in ("queued", "started",
                                                                     "scheduled", "deferred"):
            continue
        queued += pipeline.enqueue_package(case_id)
    db.session.rollback()
    if queued:
        logger.info("re-enqueued %d package builds", queued)
    return queued


def _job_finished(job_id: str) -> bool:
    """A fan-in that ran while the case still is in progress did not finish its work (its
    case moved on otherwise): run it again."""
    return pipeline.job_status(job_id) in ("finished", "failed", "stopped", "canceled")


def sweep(now: datetime | None = None) -> dict[str, int]:
    """Run every housekeeping step; returns counts for the CLI."""
    purged = purge_expired(now)
    # Before expiring: the documents of unconfirmed cases are counted here, not lost in the
    # expiry's own deletion.
    purged_proofs = purge_leftover_proofs(now)
    return {
        "purged_proofs": purged_proofs,
        "expired": len(expire_unconfirmed(now)),
        "requeued_mail": len(requeue_pending_mail(now)),
        **requeue_lost_gathering(now),
        "requeued_packages": requeue_lost_packages(now),
        "purged_packages": purged["packages"],
        "purged_codes": purged["codes"],
    }
