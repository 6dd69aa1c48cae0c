"""Housekeeping that keeps the database and the queues in step: expiring cases whose e-mail
was never confirmed, and re-enqueueing work whose job vanished from Redis."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from . import pipeline
from .extensions import db
from .mail import queue_email
from .models import ActorType, Case, CaseStatus, MailStatus, MailTemplate, OutboundEmail
from .models.types import utcnow
from .workflow import transition

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
    requeued = [i for i in pending if not pipeline.job_is_queued(f"mail-{i}")]
    for outbound_id in requeued:
        pipeline.enqueue_email(outbound_id)
    if requeued:
        logger.info("re-enqueued %d e-mails", len(requeued))
    return requeued


def sweep(now: datetime | None = None) -> dict[str, int]:
    """Run every housekeeping step; returns counts for the CLI."""
    return {
        "expired": len(expire_unconfirmed(now)),
        "requeued_mail": len(requeue_pending_mail(now)),
    }
