"""An objection to direct marketing is honoured by the system alone (Art. 21(2)–(3)): no
balancing, no staff decision, nothing disclosed. Each stage hands over to the next:

1. :func:`take_up` — when the person confirms their address: it goes on the suppression list
   at once; the identity is taken as shown (the e-mail link is proportionate: the answer
   discloses nothing) and the search starts. A request filed by a representative waits for
   staff, who check the mandate;
2. :func:`approve_plan` — once searched (the fan-in job): the plan (``unsubscribe`` wherever
   a source declares it) is approved by the system and its steps queued;
3. the steps and the verification run as for any plan; verified, the address goes on the
   suppression list (``execution.after_verified``);
4. :func:`release_answer` — once the answer letter is built, it is released to the person and
   the case completed. A source that could not be searched stops the automation there: the
   DPO sees the case in review and decides (the letter would otherwise claim too much).

Each stage is started by the end of the one before; a process that dies in between (the web
server after the confirmation, a worker after the fan-in or the build) leaves the case where
:func:`catch_up`, run by the sweep, finds it and starts the stage again.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from dsar import pipeline
from dsar.cases.clock import today_in_paris
from dsar.cases.refusals import ActionRefused
from dsar.cases.workflow import InvalidTransition, transition
from dsar.changes.objection import is_direct_marketing
from dsar.changes.plan import approve_action
from dsar.changes.planning import plan_of
from dsar.changes.suppression import suppress_case
from dsar.delivery.release import failed_sources, release_by_system
from dsar.exports.build import current_package
from dsar.extensions import db
from dsar.models import ActorType, Case, CaseKind, CaseStatus, IdentityMethod, PlanStatus
from dsar.models.types import utcnow
from dsar.search import gathering

logger = logging.getLogger(__name__)


def take_up(case: Case) -> bool:
    """After the address is confirmed: verified by that link, and searched. False (nothing
    changed) for another kind of case or one that moved meanwhile."""
    if not is_direct_marketing(case) or case.status is not CaseStatus.CONFIRMED:
        return False
    # Art. 21(3): the address is not to be used for marketing from this moment on, whatever
    # the search finds (keyed hash; the confirmed address only).
    suppress_case(case, phones=False)
    if case.representative_name:
        # Filed for someone else: staff check the mandate and whose address it is first.
        db.session.commit()
        return False
    method = IdentityMethod.EMAIL_AND_IDENTIFIERS
    try:
        transition(case, CaseStatus.VERIFIED, actor_type=ActorType.SYSTEM,
                   payload={"method": str(method)})
        transition(case, CaseStatus.IN_PROGRESS, actor_type=ActorType.SYSTEM)
    except InvalidTransition:
        db.session.rollback()
        return False
    case.identity_verified_at = utcnow()
    case.identity_note = (f"checked on {today_in_paris().isoformat()} by the system, method "
                          f"{method}: address confirmed by its link; an objection to direct "
                          "marketing discloses nothing")
    planned = gathering.prepare(case)
    db.session.commit()
    pipeline.start(planned)
    if gathering.all_finished(case.id):
        pipeline.enqueue_collect(case.id, gathering.current_round(case.id))
    return True


def approve_plan(case_id: int) -> bool:
    """Once searched: the system approves the plan of an objection to direct marketing and
    queues its steps. False for any other case."""
    case = db.session.get(Case, case_id)
    if case is None or not is_direct_marketing(case):
        return False
    if failed_sources(case):
        logger.warning("case %s: a source could not be searched; left to the DPO", case_id)
        return False
    try:
        approve_action(case, None)
    except ActionRefused:
        db.session.rollback()
        return False
    return True


def release_answer(case_id: int) -> bool:
    """Once the answer letter is built: released to the person, the case completed."""
    case = db.session.get(Case, case_id)
    if case is None or not is_direct_marketing(case):
        return False
    try:
        release_by_system(case)
    except ActionRefused:
        db.session.rollback()
        return False
    return True


def catch_up(now: datetime | None = None) -> dict[str, int]:
    """The sweep's part: objections to direct marketing left between two stages for longer
    than ``REQUEUE_GRACE_SECONDS`` (a stage's own job may still be on its way before that)
    are moved on: confirmed but not taken up, searched but not approved, letter built but
    not released. Returns counts."""
    now = now or utcnow()
    before = now - timedelta(seconds=int(current_app.config["REQUEUE_GRACE_SECONDS"]))
    stalled = db.session.scalars(select(Case).where(
        Case.kind == CaseKind.OBJECTION,
        Case.status.in_([CaseStatus.CONFIRMED, CaseStatus.REVIEW]),
        Case.updated_at < before)).all()
    counts = {"taken_up": 0, "approved": 0, "released": 0}
    for case in stalled:
        if not is_direct_marketing(case) or case.representative_name:
            continue  # a representative's request waits for staff
        plan = plan_of(case)
        if case.status is CaseStatus.CONFIRMED:
            counts["taken_up"] += take_up(case)
        elif plan is not None and plan.status is PlanStatus.DRAFT and \
                not failed_sources(case):  # else the DPO's (approve_plan says so once)
            counts["approved"] += approve_plan(case.id)
        elif plan is not None and plan.status is PlanStatus.VERIFIED and \
                current_package(case.id) is not None:
            counts["released"] += release_answer(case.id)
    db.session.rollback()
    return counts
