"""Housekeeping that keeps the database and the queues in step: expiring cases whose e-mail
was never confirmed, and queuing again the work the database still owes whose job is lost:
vanished from Redis, ended without doing it, or left by a dead worker (the decision:
``dsar.pipeline.recovery``)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import aliased

from dsar import pipeline
from dsar.cases.proofs import purge_leftover_proofs
from dsar.cases.retention import purge_expired_cases
from dsar.cases.workflow import StaleTransition, transition
from dsar.deadlines import paris_date
from dsar.delivery.release import purge_expired
from dsar.exports.build import current_package, results_digest
from dsar.extensions import db
from dsar.mail.outbox import queue_email
from dsar.models import (
    CHANGE_KINDS,
    FINISHED_GATHER_STATUSES,
    ActorType,
    Case,
    CaseKind,
    CaseStatus,
    ExportPackage,
    GatherStatus,
    MailStatus,
    MailTemplate,
    OutboundEmail,
    PackageStatus,
    SourceResult,
)
from dsar.models.types import utcnow
from dsar.pipeline.claims import hand_back
from dsar.pipeline.recovery import RedisView, is_lost
from dsar.pipeline.sweep_changes import requeue_lost_changes
from dsar.search.gathering import GATHERING_STATUSES

logger = logging.getLogger(__name__)

def expire_unconfirmed(now: datetime | None = None) -> list[int]:
    """Close as ``expired`` every case still unconfirmed after ``CONFIRMATION_DAYS``; tell the
    address once. Returns the ids of the cases expired."""
    now = now or utcnow()
    cutoff = now - timedelta(days=current_app.config["CONFIRMATION_DAYS"])
    # Counted from the filing, not the receipt (a request received by post last week and
    # filed today has its week to be confirmed); one filed by staff without an e-mail address
    # waits for staff, not for a link nobody was sent.
    cases = db.session.scalars(
        select(Case).where(Case.status == CaseStatus.SUBMITTED, Case.created_at < cutoff,
                           Case.requester_email != "")
    ).all()
    expired, mails = [], []
    for case in cases:
        try:
            transition(case, CaseStatus.EXPIRED, actor_type=ActorType.SYSTEM,
                       payload={"reason": "not_confirmed"})
        except StaleTransition:  # confirmed (or withdrawn) the same instant: it stays so
            continue
        if case.kind is CaseKind.POSTMORTEM_DIRECTIVE:
            # Never recorded: the directives the form collected (a designated person's name
            # and address among them) are not kept for a case that will never hold them.
            case.details = {}
        mails.append(queue_email(case, MailTemplate.EXPIRED))
        expired.append(case.id)
    db.session.commit()
    for outbound in mails:
        pipeline.enqueue_email(outbound.id)
    if expired:
        logger.info("expired %d unconfirmed cases", len(expired))
    return expired


def requeue_pending_mail(now: datetime | None = None, view: RedisView | None = None) -> list[int]:
    """Enqueue again every pending e-mail whose job is lost (see :func:`requeue_lost_work`)."""
    now = now or utcnow()
    view = view or RedisView.read(pipeline.redis_connection(), now)
    pending = db.session.execute(select(OutboundEmail.id, OutboundEmail.created_at).where(
        OutboundEmail.status == MailStatus.PENDING)).all()
    db.session.rollback()
    requeued = [outbound_id for outbound_id, created_at in pending
                if is_lost(pipeline.mail_job_id(outbound_id), created_at, now, view)]
    for outbound_id in requeued:
        pipeline.enqueue_email(outbound_id)
    if requeued:
        logger.info("re-enqueued %d e-mails", len(requeued))
    return requeued


def requeue_lost_gathering(now: datetime | None = None,
                           view: RedisView | None = None) -> dict[str, int]:
    """Queue again the searches of open cases that no job will finish (their job lost with
    Redis, ended without recording, or its worker dead: a running search is then handed
    back, its claim void), and the fan-in of cases whose sources are all finished but which
    are still ``in_progress``. Returns counts."""
    now = now or utcnow()
    view = view or RedisView.read(pipeline.redis_connection(), now)
    rows = db.session.execute(
        select(SourceResult.case_id, SourceResult.source, SourceResult.round,
               SourceResult.status, SourceResult.attempts, SourceResult.updated_at)
        .join(Case, Case.id == SourceResult.case_id)
        .where(Case.status.in_(GATHERING_STATUSES),
               SourceResult.status.in_([GatherStatus.PENDING, GatherStatus.RUNNING]))
    ).all()
    db.session.rollback()
    searches = 0
    for case_id, source, round_, status, attempts, updated_at in rows:
        job_id = pipeline.gather_job_id(case_id, source, round_)
        if not is_lost(job_id, updated_at, now, view):
            continue
        if status is GatherStatus.RUNNING and not hand_back(
                SourceResult, case_id=case_id, source=source, attempts=attempts,
                running=GatherStatus.RUNNING, pending=GatherStatus.PENDING):
            continue  # it finished, or was handed back, meanwhile
        searches += pipeline.enqueue_gather(case_id, source, round_)
    fan_ins = 0
    for case_id, round_, last_activity in _cases_awaiting_fan_in():
        if is_lost(pipeline.collect_job_id(case_id, round_), last_activity, now, view):
            fan_ins += pipeline.enqueue_collect(case_id, round_)
    db.session.rollback()
    if searches or fan_ins:
        logger.info("re-enqueued %d searches and %d fan-ins", searches, fan_ins)
    return {"requeued_searches": searches, "requeued_fan_ins": fan_ins}


def _cases_awaiting_fan_in() -> list[tuple[int, int, datetime]]:
    """Cases in progress whose every search is finished, with their round and their last
    search's end."""
    unfinished = select(SourceResult.case_id).where(
        SourceResult.status.not_in(FINISHED_GATHER_STATUSES))
    return [tuple(row) for row in db.session.execute(
        select(SourceResult.case_id, func.max(SourceResult.round),
               func.max(SourceResult.updated_at))
        .join(Case, Case.id == SourceResult.case_id)
        .where(Case.status == CaseStatus.IN_PROGRESS,
               SourceResult.case_id.not_in(unfinished))
        .group_by(SourceResult.case_id)).all()]


def requeue_lost_packages(now: datetime | None = None, view: RedisView | None = None) -> int:
    """Queue again the build of the answer package of cases in review that have none for
    their current search results and whose build job is lost."""
    now = now or utcnow()
    view = view or RedisView.read(pipeline.redis_connection(), now)
    # Cases waiting for the DPO may be thousands: only those without a ready package, or
    # whose searches changed since it was built, can lack the package of their results.
    # (One ready package per case at most: a unique index.)
    ready = aliased(ExportPackage)
    waiting = db.session.execute(
        select(Case.id, Case.updated_at)
        .outerjoin(ready, and_(ready.case_id == Case.id, ready.status == PackageStatus.READY))
        .where(Case.status == CaseStatus.REVIEW, Case.kind.not_in(CHANGE_KINDS),
               or_(ready.id.is_(None),
                   exists().where(SourceResult.case_id == Case.id,
                                  SourceResult.updated_at > ready.created_at)))).all()
    queued = 0
    for case_id, updated_at in waiting:
        digest = results_digest(case_id)
        package = current_package(case_id)
        if package is not None and package.results_digest == digest:
            continue
        if is_lost(pipeline.package_job_id(case_id, digest), updated_at, now, view):
            queued += pipeline.enqueue_package(case_id, digest)
    db.session.rollback()
    if queued:
        logger.info("re-enqueued %d package builds", queued)
    return queued


def requeue_lost_work(now: datetime | None = None) -> dict[str, int]:
    """Every step that queues lost work again (the periodic ``sweep_lost_work`` job), on one
    reading of Redis (the live workers' jobs, its last loss of data)."""
    now = now or utcnow()
    view = RedisView.read(pipeline.redis_connection(), now)
    return {"requeued_mail": len(requeue_pending_mail(now, view)),
            **requeue_lost_gathering(now, view),
            "requeued_packages": requeue_lost_packages(now, view),
            **requeue_lost_changes(now, view)}


def sweep(now: datetime | None = None) -> dict[str, int]:
    """Run every housekeeping step; returns counts for the CLI."""
    purged = purge_expired(now)
    # Before expiring: the documents of unconfirmed cases are counted here, not lost in the
    # expiry's own deletion.
    purged_proofs = purge_leftover_proofs(now)
    return {
        "purged_proofs": purged_proofs,
        "expired": len(expire_unconfirmed(now)),
        **requeue_lost_work(now),
        "purged_packages": purged["packages"],
        "purged_codes": purged["codes"],
        # Last: a closed case's answer package is counted above, if its period was over.
        "purged_cases": purge_expired_cases(paris_date(now) if now else None),
    }
