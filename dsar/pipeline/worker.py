"""The worker, the app its jobs run in, and the periodic scheduler, all reading and writing
JSON jobs of :class:`~dsar.pipeline.queues.DsarJob` only.

A job runs in the app of the process that made the worker (``dsar worker``, the tests): the
worker registers it. A plain ``rq worker`` registers none, and ``workers.app`` builds one.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, current_app
from redis import Redis
from redis.exceptions import RedisError
from rq import SimpleWorker, Worker
from rq.cron import CronJob, CronScheduler
from rq.exceptions import StopRequested
from rq.utils import now

from dsar.extensions import db
from dsar.pipeline.job_ids import JOBS_MODULE
from dsar.pipeline.liveness import Heartbeat
from dsar.pipeline.periodic import PERIODIC_JOBS
from dsar.pipeline.queues import (
    FAILURE_TTL,
    RESULT_TTL,
    SERIALIZER,
    DsarJob,
    enqueue_on,
    get_queue,
    queue_on,
    redis_connection,
)

logger = logging.getLogger(__name__)

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


class _DsarWorkerMixin:
    """What dsar adds to RQ's workers: a heartbeat thread naming the running job
    (:mod:`dsar.pipeline.liveness`), and a shutdown that does not hang.

    RQ 3.0 unsubscribes its command channel before stopping redis-py's listening thread,
    which then waits up to 60 s for a subscription that never comes: every burst or stop of
    a worker could hang a minute. Stopping the thread first lets it end on the reply."""

    heartbeat_seconds: float = 5.0
    _beat: Heartbeat | None = None
    #: Set on SIGTERM or Ctrl-C (RQ sets its own flag only when a job is running).
    stop_asked: bool = False

    def request_stop(self, signum, frame) -> None:
        self.stop_asked = True
        super().request_stop(signum, frame)

    def register_birth(self) -> None:
        super().register_birth()  # refuses a name whose key exists: beat only after it
        self._beat = Heartbeat(self.connection, self.name, self.heartbeat_seconds,
                               rq_worker=self)
        self._beat.start()

    def register_death(self) -> None:
        if self._beat is not None:
            self._beat.stop()
            self._beat = None
        super().register_death()

    def work(self, *args, **kwargs) -> bool:
        try:
            return super().work(*args, **kwargs)
        finally:
            if self._beat is not None:  # RQ's teardown failed before its register_death
                self._beat.stop()
                self._beat = None

    def execute_job(self, job, queue):
        # Named before RQ marks the job started: the sweep never sees it started on a live
        # worker that does not say so.
        if self._beat is not None:
            self._beat.running(job.id)
        try:
            return super().execute_job(job, queue)
        finally:
            if self._beat is not None:
                self._beat.running(None)

    def unsubscribe(self) -> None:
        if self.pubsub_thread:
            self.pubsub_thread.stop(timeout=0)  # clears its flag; does not wait
        super().unsubscribe()


class DsarWorker(_DsarWorkerMixin, Worker):
    """RQ's forking worker (``rq worker --worker-class`` may name it)."""


class DsarSimpleWorker(_DsarWorkerMixin, SimpleWorker):
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
    worker = worker_class([get_queue(q) for q in queue_names], connection=redis_connection(),
                          serializer=SERIALIZER, job_class=DsarJob)
    worker.heartbeat_seconds = float(current_app.config["WORKER_HEARTBEAT_SECONDS"])
    return worker


def run_worker(queue_names, *, fork: bool, burst: bool = False) -> None:
    """``dsar worker``: work until asked to stop, riding out a Redis restart. RQ's worker
    waits for Redis while it waits for a job, but quits on a Redis error anywhere else (the
    end of a job, its own bookkeeping): a new worker then starts once Redis answers again.
    A job cut off that way is the sweep's (its worker stopped beating)."""
    level = current_app.config["LOG_LEVEL"]
    wait = Backoff()
    while True:
        worker = make_worker(queue_names, fork=fork)
        try:
            worker.work(with_scheduler=True, burst=burst, logging_level=level)
        except RedisError as exc:  # in RQ's teardown, with Redis gone
            logger.warning("worker %s: Redis error (%s)", worker.name, type(exc).__name__)
        if burst or worker.stop_asked:
            return
        logger.warning("worker %s stopped on a Redis error; a new worker starts once Redis "
                       "answers", worker.name)
        try:
            wait.until_redis_answers(worker.connection, stop=lambda w=worker: w.stop_asked)
        except StopRequested:  # SIGTERM or Ctrl-C while waiting (RQ's signal handler)
            return
        if worker.stop_asked:
            return


class Backoff:
    """Waits that double from 1 s up to 30 s while Redis does not answer."""

    def __init__(self, first: float = 1.0, longest: float = 30.0):
        self.first, self.longest = first, longest
        self.next = first

    def sleep(self) -> None:
        time.sleep(self.next)
        self.next = min(self.next * 2, self.longest)

    def reset(self) -> None:
        self.next = self.first

    def until_redis_answers(self, connection: Redis, stop=lambda: False) -> None:
        """Sleep, longer each time, until ``connection`` answers a PING (or ``stop()``)."""
        self.reset()
        while not stop():
            try:
                connection.ping()
                return
            except RedisError:
                self.sleep()


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
                # One id per periodic job: a sweep still queued or running (every worker busy
                # with long builds) is not queued a second time.
                job_id = f"periodic-{cron_job.name}"
                if enqueue_on(queue_on(cron_job.queue_name, self.connection),
                              cron_job.func_name, *(cron_job.args or ()), job_id=job_id,
                              **(cron_job.kwargs or {}), **cron_job.job_options):
                    # RQ's history of what each periodic job spawned (its monitoring reads
                    # it).
                    self.connection.zadd(cron_job.job_history_key, {job_id: time.time()})
                cron_job.set_enqueue_time(enqueue_time)
                enqueued.append(cron_job)
        return enqueued

    def start(self) -> None:
        """RQ's loop, riding out a Redis restart: a Redis error is logged and the loop waits
        (1 s, doubling up to 30 s) instead of ending; jobs due meanwhile are queued once
        Redis is back."""
        self.log.info("CronScheduler %s: starting...", self.name)
        self._install_signal_handlers()
        wait = Backoff()
        registered = False
        try:
            while True:
                try:
                    if not registered:
                        self.register_birth()
                        registered = True
                    if self.enqueue_jobs():
                        self.save()
                    self.heartbeat()
                    wait.reset()
                    pause = self.calculate_sleep_interval()
                except RedisError as exc:
                    self.log.warning("CronScheduler %s: Redis error (%s); retrying", self.name,
                                     type(exc).__name__)
                    registered = False
                    pause = wait.next
                    wait.next = min(wait.next * 2, wait.longest)
                if pause > 0:
                    time.sleep(pause)
        except (KeyboardInterrupt, StopRequested):
            self.log.info("CronScheduler %s: stop requested", self.name)
        finally:
            with contextlib.suppress(RedisError):
                self.register_death()


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
                                   interval=periodic.interval_seconds(current_app.config),
                                   name=periodic.name)
