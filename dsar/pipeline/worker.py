"""The worker, the app its jobs run in, and the periodic scheduler, all reading and writing
JSON jobs of :class:`~dsar.pipeline.queues.DsarJob` only.

A job runs in the app of the process that made the worker (``dsar worker``, the tests): the
worker registers it. A plain ``rq worker`` registers none, and ``workers.app`` builds one.
"""

from __future__ import annotations

import gc
import importlib
import os
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, current_app
from rq import SimpleWorker, Worker
from rq.cron import CronJob, CronScheduler
from rq.utils import now

from dsar.extensions import db
from dsar.pipeline.job_ids import JOBS_MODULE
from dsar.pipeline.periodic import PERIODIC_JOBS
from dsar.pipeline.queues import (
    FAILURE_TTL,
    RESULT_TTL,
    SERIALIZER,
    DsarJob,
    get_queue,
    queue_on,
    redis_connection,
)

_job_app: Flask | None = None
#: The process that registered the app: a forked work-horse is another one.
_job_app_pid: int | None = None


def run_jobs_in(app: Flask) -> None:
    """Run every job of this process (and of its forked children) in ``app``."""
    global _job_app, _job_app_pid
    _job_app, _job_app_pid = app, os.getpid()


def job_app() -> Flask | None:
    """The app this process runs its jobs in, None until one is registered."""
    return _job_app


@contextmanager
def job_app_context() -> Iterator[Flask]:
    """An application context of the registered app for one job; its database session is
    removed afterwards, whatever the job did."""
    global _job_app_pid
    if _job_app is None:
        raise RuntimeError("no app registered for jobs (run_jobs_in)")
    with _job_app.app_context():
        if _job_app_pid != os.getpid():
            # A forked work-horse shares the parent's pooled connections: it must open its
            # own, without closing the sockets the parent still uses.
            db.engine.dispose(close=False)
            _job_app_pid = os.getpid()
        try:
            yield _job_app
        finally:
            db.session.remove()


class _ShutdownMixin:
    """RQ 3.0 unsubscribes its command channel before stopping redis-py's listening thread,
    which then waits up to 60 s for a subscription that never comes: every burst or stop of
    a worker could hang a minute. Stopping the thread first lets it end on the reply."""

    def unsubscribe(self) -> None:
        if self.pubsub_thread:
            self.pubsub_thread.stop(timeout=0)  # clears its flag; does not wait
        super().unsubscribe()


class DsarWorker(_ShutdownMixin, Worker):
    """RQ's forking worker (``rq worker --worker-class`` may name it)."""


class DsarSimpleWorker(_ShutdownMixin, SimpleWorker):
    """RQ's worker that runs each job in this process."""


def settle_worker_process() -> None:
    """Before a long-lived worker takes its first job: import the job functions (and so the
    services and WeasyPrint) by their dotted path, then put everything start-up loaded out of
    the garbage collector's reach. Each package build promotes WeasyPrint's boxes to the
    oldest generation, which set off a full collection over the whole heap every few builds:
    about a fifth of a build's CPU (bench/README.md, gather.py)."""
    importlib.import_module(JOBS_MODULE)
    gc.collect()
    gc.freeze()


def make_worker(queue_names, *, fork: bool) -> Worker:
    """A worker on the named queues whose jobs run in the current app: in a forked child
    (``fork``) or in this process; JSON jobs of :class:`DsarJob` only."""
    run_jobs_in(current_app._get_current_object())
    worker_class = DsarWorker if fork else DsarSimpleWorker
    return worker_class([get_queue(q) for q in queue_names], connection=redis_connection(),
                        serializer=SERIALIZER, job_class=DsarJob)


class _CronScheduler(CronScheduler):
    """RQ's CronScheduler, enqueuing on dsar's queues: RQ 3.0's own CronJob.enqueue
    builds a queue with the default (pickle) serializer and takes no other. A job may be
    registered by its dotted name, as dsar names every job."""

    def register_by_name(self, func_name: str, queue_name: str, *, interval: int,
                         name: str) -> CronJob:
        """Run the job named ``func_name`` on ``queue_name`` every ``interval`` seconds."""
        cron_job = CronJob(queue_name=queue_name, func_name=func_name, interval=interval,
                           result_ttl=RESULT_TTL, failure_ttl=FAILURE_TTL, name=name)
        self._cron_jobs.append(cron_job)
        self.log.info("Registered %s to run on %s every %d seconds", func_name, queue_name,
                      interval)
        return cron_job

    def enqueue_jobs(self) -> list:
        enqueue_time = now()
        enqueued = []
        for cron_job in self.get_jobs():
            if cron_job.should_run():
                job = queue_on(cron_job.queue_name, self.connection).enqueue(
                    cron_job.func or cron_job.func_name, args=cron_job.args,
                    kwargs=cron_job.kwargs, **cron_job.job_options)
                # RQ's history of what each periodic job spawned (its monitoring reads it).
                self.connection.zadd(cron_job.job_history_key,
                                     {job.id: job.enqueued_at.timestamp()})
                cron_job.set_enqueue_time(enqueue_time)
                enqueued.append(cron_job)
        return enqueued


def cron_scheduler(name: str) -> CronScheduler:
    """RQ's CronScheduler on the app's Redis, queuing JSON jobs; ``register`` the periodic
    jobs on it (:func:`schedule_periodic_jobs`), then ``start()``."""
    scheduler = _CronScheduler(connection=redis_connection(), name=name)
    scheduler.serializer = SERIALIZER
    return scheduler


def schedule_periodic_jobs(scheduler: CronScheduler) -> None:
    """Register the periodic jobs of :mod:`dsar.pipeline.periodic` by name: the scheduler
    never imports the job functions (nor the services and libraries they load)."""
    for periodic in PERIODIC_JOBS:
        scheduler.register_by_name(periodic.func, periodic.queue,
                                   interval=periodic.interval_seconds, name=periodic.name)
