"""How the sweep decides whether work the database still owes needs its job queued again: what
Redis says of the job, read once (:func:`observe`), then one table (:func:`decide`), written
out in docs/architecture.md ("how a job stays exactly-once") and tested row by row.

Queuing again is never what makes a job run once: the job's claim in the database is (a
compare-and-set). The table only keeps the sweep from queuing work that is in flight, and
from waiting longer than it must for work that is lost.
"""

from __future__ import annotations

import contextlib
import enum
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from redis import Redis
from rq.exceptions import NoSuchJobError
from rq.job import JobStatus

from dsar.pipeline.liveness import BEATS_TO_SETTLE, redis_emptied_at, running_jobs, worker_alive
from dsar.pipeline.queues import SERIALIZER, DsarJob

logger = logging.getLogger(__name__)


class JobState(enum.StrEnum):
    """What Redis says of a job, as the sweep reads it."""

    WAITING = "waiting"  # queued, scheduled for a retry, or deferred: it will run
    RUNNING = "running"  # started by a live worker, or named by a live worker's heartbeat
    ABANDONED = "abandoned"  # started, but its worker missed three heartbeats: it died
    FINISHED = "finished"  # ran to its end (yet the database still owes the work)
    FAILED = "failed"  # failed every retry, was stopped or canceled
    MISSING = "missing"  # Redis does not know it (never queued, expired, or Redis emptied)


class Decision(enum.StrEnum):
    LEAVE = "leave"
    REQUEUE = "requeue"


_WAITING = frozenset({JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED,
                      JobStatus.READY_TO_ENQUEUE})


@dataclass(frozen=True)
class Observation:
    """A job's state and, when it ended, when."""

    state: JobState
    ended_at: datetime | None = None


@dataclass(frozen=True)
class RedisView:
    """What one sweep reads of Redis once: the jobs live workers run, and when Redis last
    lost its data."""

    connection: Redis
    running: dict[str, str]
    emptied_at: datetime
    #: Whether every live worker has beaten since the loss (two beats have passed): until
    #: then a job in flight may not be named by its worker's key yet.
    settled: bool

    @classmethod
    def read(cls, connection: Redis, now: datetime) -> RedisView:
        emptied_at = redis_emptied_at(connection, now)
        beat = timedelta(seconds=float(current_app.config["WORKER_HEARTBEAT_SECONDS"]))
        # Read the heartbeats after the epoch: a worker that beat since names its job.
        return cls(connection, running_jobs(connection), emptied_at,
                   now - emptied_at >= beat * BEATS_TO_SETTLE)


def observe(job_id: str, view: RedisView) -> Observation:
    """What Redis says of job ``job_id``."""
    if job_id in view.running:
        return Observation(JobState.RUNNING)
    try:
        job = DsarJob.fetch(job_id, connection=view.connection, serializer=SERIALIZER)
    except NoSuchJobError:
        return Observation(JobState.MISSING)
    status = job.get_status(refresh=False)
    if status in _WAITING:
        return Observation(JobState.WAITING)
    if status == JobStatus.STARTED:
        alive = worker_alive(view.connection, job.worker_name)
        return Observation(JobState.RUNNING if alive else JobState.ABANDONED)
    if status == JobStatus.FINISHED:
        return Observation(JobState.FINISHED, job.ended_at)
    return Observation(JobState.FAILED, job.ended_at)


def decide(state: JobState, *, idle: timedelta, grace: timedelta,
           queued_before_loss: bool = False, loss_settled: bool = True) -> Decision:
    """Whether owed work whose job is in ``state`` is queued again.

    ``idle``: how long since the work's last activity (its row changed, its job ended);
    ``queued_before_loss``: that activity came before Redis last lost its data, so a missing
    job was lost with it; ``loss_settled``: live workers have beaten since that loss.
    """
    if state in (JobState.WAITING, JobState.RUNNING):
        return Decision.LEAVE
    if state is JobState.ABANDONED:
        return Decision.REQUEUE
    if state is JobState.MISSING and queued_before_loss:
        return Decision.REQUEUE if loss_settled else Decision.LEAVE
    return Decision.REQUEUE if idle >= grace else Decision.LEAVE


def grace() -> timedelta:
    """``REQUEUE_GRACE_SECONDS`` as a duration."""
    return timedelta(seconds=float(current_app.config["REQUEUE_GRACE_SECONDS"]))


def should_requeue(job_id: str, last_activity: datetime, now: datetime,
                   view: RedisView) -> Observation | None:
    """Observe job ``job_id`` and decide; the observation if the work is to be queued
    again, else None."""
    seen = observe(job_id, view)
    if seen.ended_at is not None:
        ended = seen.ended_at if seen.ended_at.tzinfo else seen.ended_at.replace(
            tzinfo=now.tzinfo)
        last_activity = max(last_activity, ended)
    decision = decide(seen.state, idle=now - last_activity, grace=grace(),
                      queued_before_loss=last_activity < view.emptied_at,
                      loss_settled=view.settled)
    return seen if decision is Decision.REQUEUE else None


def forget(job_id: str, view: RedisView) -> None:
    """Remove a job that ended or was abandoned from Redis (its queue and registries), so
    that its id can be queued again and RQ's own clean-up never touches the new job."""
    with contextlib.suppress(NoSuchJobError):
        DsarJob.fetch(job_id, connection=view.connection, serializer=SERIALIZER).delete()


def is_lost(job_id: str, last_activity: datetime, now: datetime, view: RedisView) -> bool:
    """Whether the job of owed work is to be queued again (:func:`decide`); if so, what Redis
    still holds of the old one is removed first."""
    seen = should_requeue(job_id, last_activity, now, view)
    if seen is None:
        return False
    if seen.state is not JobState.MISSING:
        forget(job_id, view)
    logger.info("job %s: %s, queued again", job_id, seen.state)
    return True
