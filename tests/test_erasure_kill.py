"""A ``dsar worker`` SIGKILLed in the middle of an erasure step loses nothing and does nothing
twice: the CRM has deleted her contact but its answer has not reached the worker when the
worker dies. The step stays claimed by the dead job (which can no longer record anything); once
the worker's liveness key has expired the sweep hands it to a second worker, whose DELETE finds
the contact already gone. Her contact is erased once, each source records one
``plan.step_done``, and the verification passes. Real ``dsar worker`` processes, a real Redis,
a real HTTP source and a real SQLite shop."""

from __future__ import annotations

import json
import os
import sqlite3
from collections import Counter

import pytest
from redis import Redis
from sqlalchemy import select

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
from dsar.pipeline import step_job_id
from dsar.pipeline.sweep import sweep
from tests.support.app import dispose
from tests.support.blocking_delete_api import SOURCE, BlockingDeleteApi
from tests.support.fault_harness import (
    FAST_RECOVERY,
    Processes,
    liveness_keys,
    queues_idle,
    wait_for,
)
from tests.support.gathering import (
    EMAIL,
    SHOP_SOURCE,
    app_with_sources,
    build_databases,
    case_status,
    start,
    verified_case,
    write_config,
)
from tests.support.staff import login, make_staff, post_action
from tests.support.workers import run_queued_jobs

#: Her contact, and a person whose address contains hers (the CRM's loose search returns
#: both; the connector keeps hers only).
CONTACTS = [{"id": 7, "email": EMAIL, "name": "Camille Martin"},
            {"id": 8, "email": "jcamille.martin@example.fr", "name": "Jean-Camille Martin"}]


@pytest.fixture
def killing(tmp_path, app, database_url, redis_url, key_file, smtp_server):
    """The shop and the CRM, an app reading them (beats every second, lost work queued again
    2 s after its last activity), and the ``dsar`` processes the test starts (stopped at the
    end). ``app`` is requested for its clean-up of the database and Redis."""
    api = BlockingDeleteApi(CONTACTS)
    build_databases(tmp_path)
    write_config(tmp_path, {"shop": SHOP_SOURCE, "crm": SOURCE}, crm_url=api.url)
    gapp = app_with_sources(database_url, redis_url, key_file, smtp_server, tmp_path,
                            **FAST_RECOVERY)
    logs = tmp_path / "logs"
    logs.mkdir()
    env = {**os.environ, "DSAR_DATABASE_URL": database_url, "DSAR_REDIS_URL": redis_url,
           "DSAR_MASTER_KEY_FILE": key_file, "DSAR_STORAGE_DIR": gapp.config["STORAGE_DIR"],
           "DSAR_SOURCES_FILE": gapp.config["SOURCES_FILE"],
           "DSAR_REGISTER_FILE": gapp.config["REGISTER_FILE"],
           "DSAR_SMTP_PORT": str(smtp_server.port), "DSAR_GATHER_RETRY_INTERVALS": "[]",
           "DSAR_LOG_LEVEL": "INFO",
           **{f"DSAR_{name}": json.dumps(value) for name, value in FAST_RECOVERY.items()}}
    processes = Processes(env, logs)
    redis = Redis.from_url(redis_url)
    try:
        yield gapp, api, processes, redis
    finally:
        processes.close()
        api.close()
        redis.close()
        dispose(gapp)


def step_of(app, case_id: int, source: str) -> ChangeStep:
    """The case's step in ``source`` (detached)."""
    with app.app_context():
        step = db.session.scalar(select(ChangeStep).where(ChangeStep.case_id == case_id,
                                                          ChangeStep.source == source))
        db.session.expunge(step)
        return step


def plan_status(app, case_id: int) -> PlanStatus:
    """The case's plan status now."""
    with app.app_context():
        return db.session.scalar(select(ChangePlan.status).where(
            ChangePlan.case_id == case_id))


def shop_customers(org) -> dict[int, tuple]:
    """The shop's customers by id, read straight from the file."""
    with sqlite3.connect(org / "shop.sqlite") as conn:
        rows = {r[0]: r[1:] for r in conn.execute("SELECT id, email, name FROM customers")}
    conn.close()
    return rows


def test_a_worker_killed_mid_step_loses_nothing_and_erases_once(killing, tmp_path):
    app, api, processes, redis = killing
    case = verified_case(app, kind=CaseKind.ERASURE)
    start(app, case.id)
    assert run_queued_jobs(app) == 0  # the search (no DELETE yet: nothing hangs)
    assert case_status(app, case.id) is CaseStatus.REVIEW
    shop_before = shop_customers(tmp_path)
    dpo = make_staff(app, "dpo", email="dpo-kill@staff.example")
    client = app.test_client()
    login(client, dpo)
    assert post_action(client, case.reference, "approve").status_code == 302

    first = processes.worker()
    assert api.arrived.wait(60), "the worker never sent its DELETE:\n" + processes.log_tail()
    job_id = step_job_id(case.id, "crm")
    key = wait_for(lambda: next((k for k, job in liveness_keys(redis).items()
                                 if job == job_id), None), 10,
                   f"a liveness key naming {job_id}", details=lambda: str(liveness_keys(redis)))
    running = step_of(app, case.id, "crm")
    assert (running.status, running.attempts) == (StepStatus.RUNNING, 1)
    assert api.deleted == [7]  # the effect is done; its answer is held back
    processes.kill(first)
    api.release.set()  # the held answer now goes to a dead socket

    with app.app_context():
        sweep()
    if redis.exists(key):  # the dead worker's key lived through that sweep: left alone
        assert step_of(app, case.id, "crm").status is StepStatus.RUNNING
    processes.worker()

    def verified() -> bool:
        with app.app_context():
            sweep()
        return plan_status(app, case.id) is PlanStatus.VERIFIED

    wait_for(verified, 45, "the plan verified", interval=0.5, details=processes.log_tail)
    wait_for(lambda: queues_idle(app, processes), 30, "the workers idle")

    # Erased once: the second worker's DELETE found it gone (404: counted absent).
    assert api.deleted == [7] and api.delete_requests == 2
    assert list(api.contacts) == [8]  # the address containing hers: untouched
    crm = step_of(app, case.id, "crm")
    assert (crm.status, crm.attempts) == (StepStatus.DONE, 2)
    assert [(o["changed"], o["absent"]) for o in crm.outcome] == [(0, 1)]
    shop = step_of(app, case.id, "shop")
    assert (shop.status, shop.attempts) == (StepStatus.DONE, 1)
    customers = shop_customers(tmp_path)
    assert customers[1][0] != EMAIL and customers[1][1] is None
    assert {k: v for k, v in customers.items() if k != 1} == \
        {k: v for k, v in shop_before.items() if k != 1}

    with app.app_context():
        events = db.session.execute(select(AuditEvent.action, AuditEvent.payload).where(
            AuditEvent.case_id == case.id)).all()
    done = Counter(p["source"] for a, p in events if a == "plan.step_done")
    assert done == Counter({"crm": 1, "shop": 1})
    assert [a for a, _ in events].count("plan.verified") == 1
    assert case_status(app, case.id) is CaseStatus.REVIEW
