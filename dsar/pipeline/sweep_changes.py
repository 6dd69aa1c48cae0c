"""The sweep's part for requests that change data (docs/erasure.md): steps of an approved
plan whose job is lost (a running one handed back first, its claim void), verifications never
run or cut off, certificates never built. The decision is the same table as for searches
(``dsar.pipeline.recovery``)."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import and_, exists, select
from sqlalchemy.orm import aliased

from dsar import pipeline
from dsar.extensions import db
from dsar.models import (
    CHANGE_KINDS,
    FINISHED_STEP_STATUSES,
    Case,
    CaseStatus,
    ChangePlan,
    ChangeStep,
    ExportPackage,
    NoticeStatus,
    PackageStatus,
    PlanStatus,
    RecipientNotice,
    StepStatus,
)
from dsar.models.types import utcnow
from dsar.pipeline.claims import hand_back
from dsar.pipeline.recovery import RedisView, is_lost

logger = logging.getLogger(__name__)


def requeue_lost_changes(now: datetime | None = None,
                         view: RedisView | None = None) -> dict[str, int]:
    """Queue again the lost jobs of approved plans; returns counts."""
    now = now or utcnow()
    view = view or RedisView.read(pipeline.redis_connection(), now)
    steps = db.session.execute(
        select(ChangeStep.case_id, ChangeStep.source, ChangeStep.status, ChangeStep.attempts,
               ChangeStep.updated_at)
        .join(Case, Case.id == ChangeStep.case_id)
        .where(Case.status == CaseStatus.EXECUTING,
               ChangeStep.status.in_([StepStatus.PENDING, StepStatus.RUNNING]))).all()
    db.session.rollback()
    requeued_steps = 0
    for case_id, source, status, attempts, updated_at in steps:
        if not is_lost(pipeline.step_job_id(case_id, source), updated_at, now, view):
            continue
        if status is StepStatus.RUNNING and not hand_back(
                ChangeStep, case_id=case_id, source=source, attempts=attempts,
                running=StepStatus.RUNNING, pending=StepStatus.PENDING):
            continue
        requeued_steps += pipeline.enqueue_step(case_id, source)

    unfinished = select(ChangeStep.case_id).where(
        ChangeStep.status.not_in(FINISHED_STEP_STATUSES))
    to_verify = db.session.execute(select(Case.id, Case.updated_at).where(
        Case.status.in_([CaseStatus.EXECUTING, CaseStatus.VERIFYING]),
        Case.id.not_in(unfinished))).all()
    verifications = sum(pipeline.enqueue_verification(case_id)
                        for case_id, updated_at in to_verify
                        if is_lost(pipeline.verify_job_id(case_id), updated_at, now, view))

    ready = aliased(ExportPackage)
    unanswered = db.session.execute(
        select(Case.id, ChangePlan.verified_at)
        .join(ChangePlan, ChangePlan.case_id == Case.id)
        .outerjoin(ready, and_(ready.case_id == Case.id, ready.status == PackageStatus.READY))
        .where(Case.status == CaseStatus.REVIEW, Case.kind.in_(CHANGE_KINDS),
               ChangePlan.status == PlanStatus.VERIFIED, ready.id.is_(None),
               ~exists().where(RecipientNotice.case_id == Case.id,
                               RecipientNotice.status == NoticeStatus.PENDING))).all()
    db.session.rollback()
    certificates = sum(pipeline.enqueue_certificate(case_id)
                       for case_id, verified_at in unanswered
                       if is_lost(pipeline.certificate_job_id(case_id), verified_at, now, view))
    if requeued_steps or verifications or certificates:
        logger.info("re-enqueued %d plan steps, %d verifications, %d certificates",
                    requeued_steps, verifications, certificates)
    return {"requeued_steps": requeued_steps, "requeued_verifications": verifications,
            "requeued_certificates": certificates}

