"""The worker and the periodic scheduler, both reading and writing JSON jobs of
:class:`~dsar.pipeline.queues.DsarJob` only."""

from __future__ import annotations

from rq import SimpleWorker, Worker
from rq.cron import CronScheduler
from rq.utils import now

from dsar.pipeline.queues import SERIALIZER, DsarJob, get_queue, queue_on, redis_connection


class _ShutdownMixin:
    """RQ 3.0 unsubscribes its command channel before stopping redis-py's listening thread,
    which then waits up to 60 s for a subscription that never comes: every burst or stop of
    a worker could hang a minute. Stopping the thread first lets it end on the reply."""

    def unsubscribe(self) -> None:
        if self.pubsub_thread:
            self.pubsub_thread.stop(timeout=0)  # clears its flag; does not wait
        super().unsubscribe()


class _Worker(_ShutdownMixin, Worker):
    """RQ's forking worker."""


class _SimpleWorker(_ShutdownMixin, SimpleWorker):
    """RQ's worker that runs each job in this process."""


def make_worker(queue_names, *, fork: bool) -> Worker:
    """A worker on the named queues: jobs in a forked child (``fork``) or in this process;
    JSON jobs of :class:`DsarJob` only."""
    worker_class = _Worker if fork else _SimpleWorker
    return worker_class([get_queue(q) for q in queue_names], connection=redis_connection(),
                        serializer=SERIALIZER, job_class=DsarJob)


class _CronScheduler(CronScheduler):
    """RQ's CronScheduler, enqueuing on dsar's queues: RQ 3.0's own CronJob.enqueue
    builds a queue with the default (pickle) serializer and takes no other."""

    def enqueue_jobs(self) -> list:
        enqueue_time = now()
        enqueued = []
        for cron_job in self.get_jobs():
            if cron_job.should_run():
                job = queue_on(cron_job.queue_name, self.connection).enqueue(
                    cron_job.func, args=cron_job.args, kwargs=cron_job.kwargs,
                    **cron_job.job_options)
                # RQ's history of what each periodic job spawned (its monitoring reads it).
                self.connection.zadd(cron_job.job_history_key,
                                     {job.id: job.enqueued_at.timestamp()})
                cron_job.set_enqueue_time(enqueue_time)
                enqueued.append(cron_job)
        return enqueued


def cron_scheduler(name: str) -> CronScheduler:
    """RQ's CronScheduler on the app's Redis, queuing JSON jobs; ``register`` the periodic
    jobs on it, then ``start()``."""
    scheduler = _CronScheduler(connection=redis_connection(), name=name)
    scheduler.serializer = SERIALIZER
    return scheduler


