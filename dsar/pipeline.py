"""The only module that enqueues jobs. Jobs are named by dotted path (``dsar`` never imports
``workers``), take ids only, and are enqueued after the commit that created their work.

If Redis is down the work is not lost: the database row stays pending and ``dsar sweep`` (run
periodically) enqueues it again.

Whoever can write to Redis chooses what the workers run, so every queue, worker, scheduler,
registry and fetch here uses RQ's JSON serializer (a job is never unpickled) and
:class:`DsarJob`, which runs only the public functions of ``workers.jobs``.
"""

from __future__ import annotations

import logging

from flask import current_app
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry, SimpleWorker, Worker
from rq.cron import CronScheduler
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer
from rq.utils import now

logger = logging.getLogger(__name__)

#: Queues by workload (Redash habit), in the order a worker takes them: an e-mail never waits
#: behind a search, nor a search behind the build of an answer package (a WeasyPrint PDF of up
#: to 100,000 records). ``default`` only drains jobs queued before the split: nothing new goes
#: there.
QUEUES = ("mail", "gather", "build", "maintenance", "default")

#: Job defaults, set once here.
MAIL_JOB = "workers.jobs.send_email"
MAIL_RETRY = Retry(max=5, interval=[10, 60, 300, 900, 3600])
JOB_TIMEOUT = {"mail": 60, "gather": 600, "build": 600, "maintenance": 600, "default": 600}
RESULT_TTL = 300
FAILURE_TTL = 7 * 24 * 3600

#: How jobs, their metadata and their results are written to Redis: JSON, because a pickle
#: runs whatever code its writer chose when it is loaded. Arguments are ids and source names,
#: results ints, strings and booleans.
SERIALIZER = JSONSerializer

#: The only module whose functions a job may name.
JOBS_MODULE = "workers.jobs"


class ForbiddenJobError(Exception):
    """A job in Redis names something other than a job function of ``workers.jobs``."""


class DsarJob(Job):
    """An RQ job that can run only a public function defined in ``workers.jobs``: even in
    JSON, a job is a dotted name and arguments, and ``os.system`` is a dotted name too."""

    @property
    def func(self):
        module, _, name = (self.func_name or "").rpartition(".")
        if self.instance is not None or module != JOBS_MODULE or not name.isidentifier() \
                or name.startswith("_"):
            raise ForbiddenJobError(f"job {self.id} names no job function")
        func = super().func
        # A name imported into workers.jobs (get_current_job, app_context) is not a job.
        if getattr(func, "__module__", None) != JOBS_MODULE:
            raise ForbiddenJobError(f"job {self.id} names no job function")
        return func

    # RQ imports and calls a job's callbacks by the dotted names stored with it in Redis,
    # beside its function. dsar's jobs use none, so any name there was not written by dsar:
    # it is ignored (raising here would break the worker's failure handling).
    @property
    def success_callback(self):
        return self._no_callback("success")

    @property
    def failure_callback(self):
        return self._no_callback("failure")

    @property
    def stopped_callback(self):
        return self._no_callback("stopped")

    def _no_callback(self, kind: str) -> None:
        if getattr(self, f"_{kind}_callback_name", None):
            logger.warning("job %s: its %s callback is ignored (dsar sets none)", self.id, kind)
        return None


def redis_connection() -> Redis:
    """The app's Redis connection (bytes responses: RQ needs them). ``REDIS_URL`` may carry a
    password (``redis://:password@host:6379/0``) and use TLS (``rediss://``, the certificate
    and host name checked, against ``REDIS_CA_FILE`` when set). The URL is never logged."""
    ext = current_app.extensions.setdefault("dsar_redis", {})
    config = current_app.config
    url = config["REDIS_URL"]
    if url not in ext:
        options: dict = {"socket_connect_timeout": 2, "socket_timeout": 5}
        if url.startswith("rediss://"):
            options.update(ssl_cert_reqs="required", ssl_check_hostname=True)
            if config.get("REDIS_CA_FILE"):
                options["ssl_ca_certs"] = config["REDIS_CA_FILE"]
        ext[url] = Redis.from_url(url, **options)
    return ext[url]


def _queue(name: str, connection: Redis) -> Queue:
    return Queue(name, connection=connection, default_timeout=JOB_TIMEOUT[name],
                 serializer=SERIALIZER, job_class=DsarJob)


def get_queue(name: str) -> Queue:
    """The named RQ queue on the app's Redis."""
    if name not in QUEUES:
        raise ValueError(f"unknown queue {name!r}")
    return _queue(name, redis_connection())


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
    """RQ's CronScheduler, enqueuing on this module's queues: RQ 3.0's own CronJob.enqueue
    builds a queue with the default (pickle) serializer and takes no other."""

    def enqueue_jobs(self) -> list:
        enqueue_time = now()
        enqueued = []
        for cron_job in self.get_jobs():
            if cron_job.should_run():
                job = _queue(cron_job.queue_name, self.connection).enqueue(
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


def enqueue_email(outbound_id: int) -> bool:
    """Enqueue the sending of outbox e-mail ``outbound_id``. False if Redis is unreachable
    (the sweep will retry); never raises to the web request."""
    try:
        get_queue("mail").enqueue(
            MAIL_JOB,
            outbound_id,
            job_id=f"mail-{outbound_id}",
            retry=MAIL_RETRY,
            result_ttl=RESULT_TTL,
            failure_ttl=FAILURE_TTL,
        )
    except RedisError as exc:
        logger.warning("could not enqueue e-mail %s: %s", outbound_id, type(exc).__name__)
        return False
    return True


GATHER_JOB = "workers.jobs.gather_source"
COLLECT_JOB = "workers.jobs.collect_gathering"
PACKAGE_JOB = "workers.jobs.build_package"
TRANSMIT_JOB = "workers.jobs.transmit_package"


def gather_job_id(case_id: int, source: str, round_: int = 1) -> str:
    """Deterministic id of a search job (DESIGN.md: ``case-<id>-gather-<source>``; later rounds
    add ``-r<n>``)."""
    base = f"case-{case_id}-gather-{source}"
    return base if round_ == 1 else f"{base}-r{round_}"


def collect_job_id(case_id: int, round_: int) -> str:
    """Deterministic id of the fan-in job of a round."""
    return f"case-{case_id}-collect-r{round_}"


def enqueue_gather(case_id: int, source: str, round_: int = 1) -> bool:
    """Queue the search of one source (after the commit that planned it). False if Redis is
    unreachable: the row stays pending and the sweep queues it later."""
    config = current_app.config
    intervals = [int(i) for i in config["GATHER_RETRY_INTERVALS"]]
    return _enqueue("gather", GATHER_JOB, case_id, source,
                    job_id=gather_job_id(case_id, source, round_),
                    retry=Retry(max=len(intervals), interval=intervals) if intervals else None,
                    job_timeout=int(config["GATHER_TIMEOUT"]))


def enqueue_collect(case_id: int, round_: int) -> bool:
    """Queue the fan-in of a case's search (when its last source finished)."""
    return _enqueue("gather", COLLECT_JOB, case_id, job_id=collect_job_id(case_id, round_),
                    retry=Retry(max=3, interval=[5, 30, 120]))


def package_job_id(case_id: int) -> str:
    return f"case-{case_id}-package"


def enqueue_package(case_id: int) -> bool:
    """Queue the build of a case's answer package (when its search is over)."""
    return _enqueue("build", PACKAGE_JOB, case_id, job_id=package_job_id(case_id),
                    retry=Retry(max=3, interval=[10, 60, 300]),
                    job_timeout=int(current_app.config["GATHER_TIMEOUT"]))


def enqueue_transmission(package_id: int, staff_id: int | None = None) -> bool:
    """Queue the direct transmission of a released portability package (Art. 20(2)). The
    receiving address is read by the job from the case, never carried in Redis. No automatic
    retry: a receiver that failed once is retried by staff, who see why it failed."""
    return _enqueue("build", TRANSMIT_JOB, package_id, staff_id,
                    job_id=f"package-{package_id}-transmit",
                    job_timeout=int(current_app.config["TRANSMIT_TIMEOUT"]) * 4)


def _enqueue(queue: str, func: str, *args, job_id: str, **options) -> bool:
    try:
        get_queue(queue).enqueue(func, *args, job_id=job_id, result_ttl=RESULT_TTL,
                                 failure_ttl=FAILURE_TTL, **options)
    except RedisError as exc:
        logger.warning("could not enqueue %s: %s", job_id, type(exc).__name__)
        return False
    return True


def start(planned) -> int:
    """Queue the searches a committed transaction planned (``dsar.gathering.Planned``), e.g.
    when staff start processing a case. Returns how many were queued."""
    return sum(enqueue_gather(p.case_id, p.source, p.round) for p in planned)


def fetch_job(job_id: str) -> Job | None:
    """The job of this id as RQ keeps it (read as JSON), None if Redis forgot it."""
    try:
        return DsarJob.fetch(job_id, connection=redis_connection(), serializer=SERIALIZER)
    except NoSuchJobError:
        return None


def job_is_queued(job_id: str) -> bool:
    """Whether RQ still knows a job with this id (queued, running, scheduled or failed)."""
    return fetch_job(job_id) is not None


def job_status(job_id: str) -> str | None:
    """RQ's status of a job ("queued", "started", "finished"…), None if Redis forgot it."""
    job = fetch_job(job_id)
    # JobStatus is a str Enum: str() of it is "JobStatus.FINISHED", its value "finished".
    return None if job is None else JobStatus(job.get_status(refresh=False)).value
