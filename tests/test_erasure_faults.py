"""Erasure under faults: a source down while the plan runs leaves a clear partial state that
running the plan again completes; a step whose worker died is handed to another job by the
sweep, and the dead job's late outcome is dropped (nothing done twice). Real SQLite sources and
real workers."""

from __future__ import annotations

import sqlite3

from rq.job import JobStatus
from sqlalchemy import select

from dsar.changes.execution import _record
from dsar.extensions import db
from dsar.models import (
    AuditEvent,
    CaseKind,
    CaseStatus,
    ChangePlan,
    ChangeStep,
    PlanStatus,
    StepStatus,
)
from dsar.pipeline import fetch_job
from dsar.pipeline.sweep_changes import requeue_lost_changes
from tests.support.gathering import EMAIL, case_status, start, verified_case
from tests.support.staff import login, make_staff, post_action
from tests.support.workers import run_queued_jobs


def customer(org, customer_id: int):
    with sqlite3.connect(org / "shop.sqlite") as conn:
        row = conn.execute("SELECT email, name FROM customers WHERE id = ?",
                           (customer_id,)).fetchone()
    conn.close()
    return row


def approved_erasure(app):
    case = verified_case(app, kind=CaseKind.ERASURE)
    start(app, case.id)
    assert run_queued_jobs(app) == 0
    dpo = make_staff(app, "dpo", email=f"dpo-{case.id}@staff.example")
    client = app.test_client()
    login(client, dpo)
    assert post_action(client, case.reference, "approve").status_code == 302
    return case, client


def step_of(app, case_id, source):
    with app.app_context():
        step = db.session.scalar(select(ChangeStep).where(ChangeStep.case_id == case_id,
                                                          ChangeStep.source == source))
        db.session.expunge(step)
        return step


def plan_of(app, case_id):
    with app.app_context():
        plan = db.session.scalar(select(ChangePlan).where(ChangePlan.case_id == case_id))
        db.session.expunge(plan)
        return plan


def test_a_source_down_leaves_a_clear_partial_state_and_running_again_completes(gather_app,
                                                                              org):
    case, client = approved_erasure(gather_app)
    shop = org / "shop.sqlite"
    shop.rename(org / "shop.away")  # the shop's database is unreachable while the plan runs
    try:
        run_queued_jobs(gather_app)
        step = step_of(gather_app, case.id, "shop")
        assert step.status is StepStatus.FAILED and step.error
        # The verification could not search it either: back to the DPO, never called done.
        assert case_status(gather_app, case.id) is CaseStatus.REVIEW
        plan = plan_of(gather_app, case.id)
        assert plan.status is PlanStatus.REMAINS
        assert plan.remaining == {"shop": {"_unreachable": 1}}
        page = client.get(f"/staff/cases/{case.reference}").get_data(as_text=True)
        assert 'data-source="shop" data-status="failed"' in page
        assert 'data-plan-status="remains"' in page
    finally:
        (org / "shop.away").rename(shop)
    assert customer(org, 1)[0] == EMAIL  # nothing half-done
    # The source is back: the DPO runs the plan again.
    assert post_action(client, case.reference, "approve").status_code == 302
    assert run_queued_jobs(gather_app) == 0
    assert plan_of(gather_app, case.id).status is PlanStatus.VERIFIED
    assert customer(org, 1) != (EMAIL, "Camille Martin") and customer(org, 1)[1] is None
    assert customer(org, 2)[0] == "camille.martin@autre.example"  # her namesake untouched


def test_a_step_whose_worker_died_is_handed_on_and_done_once(gather_app, org):
    case, _ = approved_erasure(gather_app)
    with gather_app.app_context():
        step = db.session.scalar(select(ChangeStep).where(ChangeStep.case_id == case.id,
                                                          ChangeStep.source == "shop"))
        # A worker claimed the step (claim 1), then died: its heartbeat is gone.
        step.status, step.attempts = StepStatus.RUNNING, 1
        db.session.commit()
        job = fetch_job(f"case-{case.id}-change-shop")
        job.set_status(JobStatus.STARTED)
        job.worker_name = "gone"
        job.save()
        assert requeue_lost_changes()["requeued_steps"] == 1
    assert run_queued_jobs(gather_app) == 0
    assert plan_of(gather_app, case.id).status is PlanStatus.VERIFIED
    done = step_of(gather_app, case.id, "shop")
    assert (done.status, done.attempts) == (StepStatus.DONE, 2)
    with gather_app.app_context():
        # The dead job's outcome arrives late: its claim no longer holds, nothing is recorded.
        assert _record(case.id, "shop", 1, StepStatus.DONE, outcome=[]) == "superseded"
        events = db.session.scalars(select(AuditEvent.action).where(
            AuditEvent.case_id == case.id, AuditEvent.action == "plan.step_done")).all()
    assert step_of(gather_app, case.id, "shop").outcome == done.outcome
    assert len(events) == 1  # billing retained: the shop's step is the only one done
