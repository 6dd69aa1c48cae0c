"""``enqueue_on``'s short claim in Redis: it lets one process at a time enqueue a job id, and
every path out of it lets go of the claim, so that the next enqueue of that id is not refused
for the claim's lifetime."""

from __future__ import annotations

import secrets

import pytest
from redis.exceptions import RedisError
from rq.job import JobStatus

from dsar.pipeline.job_ids import MAIL_JOB
from dsar.pipeline.queues import DsarJob, enqueue_on, get_queue


def _claim(job_id: str) -> str:
    return f"dsar:enqueuing:{job_id}"


@pytest.fixture
def mail_queue(app):
    with app.app_context():
        yield get_queue("mail")


def test_a_job_is_enqueued_once_and_its_claim_let_go(mail_queue):
    job_id = f"claim-test-{secrets.token_hex(4)}"
    assert enqueue_on(mail_queue, MAIL_JOB, 1, job_id=job_id) is True
    # Queued: a second enqueue of the id changes nothing.
    assert enqueue_on(mail_queue, MAIL_JOB, 1, job_id=job_id) is False
    assert mail_queue.get_job_ids().count(job_id) == 1
    assert mail_queue.connection.exists(_claim(job_id)) == 0


def test_a_finished_job_is_enqueued_again(mail_queue):
    job_id = f"claim-test-{secrets.token_hex(4)}"
    assert enqueue_on(mail_queue, MAIL_JOB, 1, job_id=job_id) is True
    mail_queue.remove(job_id)
    mail_queue.connection.hset(DsarJob.key_for(job_id), "status", JobStatus.FINISHED.value)
    assert enqueue_on(mail_queue, MAIL_JOB, 1, job_id=job_id) is True
    assert mail_queue.get_job_ids().count(job_id) == 1
    assert mail_queue.connection.exists(_claim(job_id)) == 0


def test_a_claim_held_elsewhere_is_left_to_its_holder(mail_queue):
    job_id = f"claim-test-{secrets.token_hex(4)}"
    mail_queue.connection.set(_claim(job_id), "1", ex=10)
    assert enqueue_on(mail_queue, MAIL_JOB, 1, job_id=job_id) is False
    assert job_id not in mail_queue.get_job_ids()
    assert mail_queue.connection.exists(_claim(job_id)) == 1


def test_a_redis_error_after_the_claim_lets_go_of_it(mail_queue):
    job_id = f"claim-test-{secrets.token_hex(4)}"
    # Something that is not a job under the job's key: reading its state fails.
    mail_queue.connection.set(DsarJob.key_for(job_id), "not a job")
    with pytest.raises(RedisError):
        enqueue_on(mail_queue, MAIL_JOB, 1, job_id=job_id)
    assert mail_queue.connection.exists(_claim(job_id)) == 0
