"""The sweep's decision table (docs/architecture.md, "how a job stays exactly-once"), row by
row, and how it reads each job state from a real Redis: work the database still owes is queued
again only when its job is lost, never while it waits or runs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from redis import Redis
from rq.job import JobStatus

from dsar import pipeline
from dsar.models.types import utcnow
from dsar.pipeline.liveness import EPOCH_KEY, Heartbeat, worker_key
from dsar.pipeline.queues import SERIALIZER, DsarJob
from dsar.pipeline.recovery import Decision, JobState, RedisView, decide, observe

GRACE = timedelta(seconds=60)
FRESH, OLD = timedelta(seconds=5), timedelta(seconds=61)
L, R = Decision.LEAVE, Decision.REQUEUE

#: (job state, idle since the work's last activity, queued before Redis lost its data,
#: live workers have beaten since the loss) → decision.
TABLE = [
    (JobState.WAITING, OLD, False, True, L),  # queued or scheduled for a retry: it will run
    (JobState.WAITING, OLD, True, True, L),
    (JobState.RUNNING, OLD, False, True, L),  # a live worker runs it
    (JobState.RUNNING, OLD, True, False, L),
    (JobState.ABANDONED, FRESH, False, True, R),  # its worker died: at once, no grace
    (JobState.ABANDONED, FRESH, True, False, R),
    (JobState.FINISHED, FRESH, False, True, L),  # ended without doing it: after the grace
    (JobState.FINISHED, OLD, False, True, R),
    (JobState.FAILED, FRESH, False, True, L),  # every retry failed: after the grace
    (JobState.FAILED, OLD, False, True, R),
    (JobState.MISSING, FRESH, False, True, L),  # maybe not queued yet (enqueue after commit)
    (JobState.MISSING, OLD, False, True, R),
    (JobState.MISSING, FRESH, True, True, R),  # lost with Redis's data: at once
    (JobState.MISSING, OLD, True, False, L),  # …once live workers had time to name their jobs
]


@pytest.mark.parametrize(("state", "idle", "before_loss", "settled", "expected"), TABLE,
                         ids=[f"{s}-{'old' if i == OLD else 'fresh'}"
                              f"{'-before-loss' if b else ''}{'' if t else '-unsettled'}"
                              for s, i, b, t, _ in TABLE])
def test_the_decision_table(state, idle, before_loss, settled, expected):
    assert decide(state, idle=idle, grace=GRACE, queued_before_loss=before_loss,
                  loss_settled=settled) is expected


def test_every_state_has_rows():
    assert {row[0] for row in TABLE} == set(JobState)


def _view(app, now=None):
    with app.app_context():
        return RedisView.read(pipeline.redis_connection(), now or utcnow())


def _job(app, job_id="case-1-collect-r1"):
    with app.app_context():
        assert pipeline.enqueue_collect(1, 1)
        return DsarJob.fetch(job_id, connection=pipeline.redis_connection(),
                             serializer=SERIALIZER)


def test_a_queued_job_is_waiting_and_not_queued_twice(app):
    job = _job(app)
    with app.app_context():
        assert observe(job.id, _view(app)).state is JobState.WAITING
        assert pipeline.enqueue_collect(1, 1)  # a no-op: the job is queued
        assert pipeline.get_queue("gather").job_ids == [job.id]


def test_a_started_job_is_running_while_its_worker_beats_then_abandoned(app, redis_url):
    job = _job(app)
    redis = Redis.from_url(redis_url)
    job.set_status(JobStatus.STARTED)
    job.worker_name = "w1"
    job.save()
    beat = Heartbeat(redis, "w1", interval=60)
    beat.start()
    try:
        assert observe(job.id, _view(app)).state is JobState.RUNNING
    finally:
        beat.stop()  # the worker is gone: its key with it
    assert not redis.exists(worker_key("w1"))
    assert observe(job.id, _view(app)).state is JobState.ABANDONED


def test_a_job_named_by_a_live_worker_is_running_even_if_redis_forgot_it(app, redis_url):
    """After a FLUSHALL the worker's next beat names its job again: never taken for lost."""
    redis = Redis.from_url(redis_url)
    beat = Heartbeat(redis, "w2", interval=60)
    beat.start()
    try:
        beat.running("case-9-package-abc")
        redis.flushall()
        assert observe("case-9-package-abc", _view(app)).state is JobState.MISSING
        beat.beat()
        assert observe("case-9-package-abc", _view(app)).state is JobState.RUNNING
    finally:
        beat.stop()


@pytest.mark.parametrize(("status", "state"), [(JobStatus.FINISHED, JobState.FINISHED),
                                               (JobStatus.FAILED, JobState.FAILED),
                                               (JobStatus.STOPPED, JobState.FAILED),
                                               (JobStatus.SCHEDULED, JobState.WAITING)])
def test_ended_and_scheduled_jobs(app, status, state):
    """RQ's statuses compared as its enum (``str()`` of it is "JobStatus.FINISHED")."""
    job = _job(app)
    job.set_status(status)
    assert observe(job.id, _view(app)).state is state


def test_a_missing_job_and_the_loss_of_redis_data(app, redis_url):
    redis = Redis.from_url(redis_url)
    now = utcnow()
    view = _view(app, now)
    assert observe("case-3-collect-r1", view).state is JobState.MISSING
    assert redis.exists(EPOCH_KEY)  # the first sweep after a loss notes when it saw it
    assert not view.settled
    assert not _view(app, now + timedelta(seconds=9)).settled
    assert _view(app, now + timedelta(seconds=10)).settled  # two 5-second beats later
    assert _view(app, now + timedelta(seconds=10)).emptied_at == now


def test_the_sweep_rebuilds_a_package_whose_results_changed_and_no_other(gather_app):
    """Cases in review with the package of their results are left alone; one whose search
    changed after its package was built, its build lost, gets a build queued again."""
    from sqlalchemy import select, update

    from dsar.extensions import db
    from dsar.models import ExportPackage, PackageStatus, SourceResult
    from dsar.pipeline.sweep import requeue_lost_packages
    from tests.support.gathering import start, verified_case
    from tests.support.workers import run_queued_jobs

    answered, changed = verified_case(gather_app), verified_case(gather_app)
    for case in (answered, changed):
        start(gather_app, case.id)
    assert run_queued_jobs(gather_app) == 0
    with gather_app.app_context():
        # A source of one case searched again with another result; its build job lost.
        db.session.execute(update(SourceResult).where(
            SourceResult.case_id == changed.id, SourceResult.source == "shop")
            .values(result_sha256="0" * 64, updated_at=utcnow() + timedelta(seconds=1)))
        db.session.commit()
        later = utcnow() + timedelta(minutes=2)
        assert requeue_lost_packages(later) == 0  # notes that Redis holds nothing of before
        assert requeue_lost_packages(later + timedelta(seconds=10)) == 1
        [job_id] = pipeline.get_queue("build").job_ids
        assert job_id.startswith(f"case-{changed.id}-package-")
    assert run_queued_jobs(gather_app) == 0
    with gather_app.app_context():
        ready = db.session.scalars(select(ExportPackage.case_id).where(
            ExportPackage.status == PackageStatus.READY)).all()
        assert sorted(ready) == sorted([answered.id, changed.id])
        assert db.session.query(ExportPackage).filter_by(case_id=changed.id).count() == 2
