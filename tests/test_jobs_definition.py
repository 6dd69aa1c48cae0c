"""How a job is defined (``@job`` in ``workers``): every job dsar queues is one the workers
run, nothing else in ``workers.jobs`` is, the job's id is the actor the audit trail records,
and the job ids are those queued since the first release."""

from __future__ import annotations

import pytest
from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer
from sqlalchemy import select

from dsar.extensions import db
from dsar.models import AuditEvent, MailStatus, OutboundEmail
from dsar.pipeline.job_ids import (
    COLLECT_JOB,
    GATHER_JOB,
    MAIL_JOB,
    PACKAGE_JOB,
    TRANSMIT_JOB,
    collect_job_id,
    gather_job_id,
    mail_job_id,
    package_job_id,
    transmit_job_id,
)
from dsar.pipeline.periodic import PERIODIC_JOBS
from dsar.pipeline.queues import DsarJob, ForbiddenJobError
from tests.support.forms import access_form, post_form

QUEUED_JOBS = (MAIL_JOB, GATHER_JOB, COLLECT_JOB, PACKAGE_JOB, TRANSMIT_JOB)


def test_job_ids_are_unchanged():
    """Ids name work already in Redis and in the sweep's checks: they never change."""
    assert mail_job_id(5) == "mail-5"
    assert gather_job_id(12, "crm") == "case-12-gather-crm"
    assert gather_job_id(12, "crm", 2) == "case-12-gather-crm-r2"
    assert collect_job_id(12, 1) == "case-12-collect-r1"
    # A build is named by the results it builds from: new results, a new job.
    assert package_job_id(12, "ab" * 32) == "case-12-package-" + "ab" * 8
    assert transmit_job_id(3) == "package-3-transmit"


@pytest.mark.parametrize("name", [*QUEUED_JOBS, *(p.func for p in PERIODIC_JOBS)])
def test_every_job_dsar_names_is_a_job_the_workers_run(redis_url, name):
    job = DsarJob.create(name, connection=Redis.from_url(redis_url), serializer=JSONSerializer)
    func = job.func
    assert func.__module__ == "workers.jobs"
    assert func.__wrapped__  # defined with @job: run in the worker's app, given its actor


@pytest.mark.parametrize("name", ["job", "final_attempt", "gathering", "sending", "pipeline"])
def test_what_the_jobs_module_imports_is_not_a_job(redis_url, name):
    job = DsarJob.create(f"workers.jobs.{name}", connection=Redis.from_url(redis_url),
                         serializer=JSONSerializer)
    with pytest.raises(ForbiddenJobError):
        job.func  # noqa: B018  (reading it is what the worker does before calling)


def _sent_by(app, outbound_id: int) -> list[str | None]:
    """The actors the audit trail records for sending e-mail ``outbound_id``."""
    with app.app_context():
        outbound = db.session.get(OutboundEmail, outbound_id)
        assert outbound.status is MailStatus.SENT
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "email.sent"))
        return [event.actor_id for event in events if event.payload["email_id"] == outbound_id]


def test_the_job_id_is_recorded_as_the_actor(app, client, run_jobs):
    post_form(client, "/request/access", access_form())
    with app.app_context():
        outbound_id = db.session.scalars(select(OutboundEmail.id)).one()
    assert run_jobs() == 0
    assert _sent_by(app, outbound_id) == [mail_job_id(outbound_id)]


def test_a_job_written_into_redis_cannot_choose_its_actor(app, client, run_jobs, redis_url):
    post_form(client, "/request/access", access_form())
    with app.app_context():
        outbound_id = db.session.scalars(select(OutboundEmail.id)).one()
    attacker = Redis.from_url(redis_url)
    attacker.flushdb()  # dsar's own job is gone: only the attacker's remains
    Queue("mail", connection=attacker, serializer=JSONSerializer).enqueue(
        MAIL_JOB, outbound_id, actor_id="staff-1", job_id="written-by-hand")
    assert run_jobs() == 0
    assert _sent_by(app, outbound_id) == ["written-by-hand"]
