"""Redis and RQ as dsar uses them: the connection, the queues by workload, JSON jobs that can
run only the public functions of ``workers.jobs``, and reading a job's state back.

Whoever can write to Redis chooses what the workers run, so every queue, worker, scheduler,
registry and fetch uses RQ's JSON serializer (a job is never unpickled) and :class:`DsarJob`.
"""

from __future__ import annotations

import logging

from flask import current_app
from redis import Redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer
from rq.utils import as_text

from dsar.pipeline.job_ids import JOBS_MODULE

logger = logging.getLogger(__name__)

#: Queues by workload (Redash habit), in the order a worker takes them: an e-mail never waits
#: behind a search, nor a search behind the build of an answer package (a WeasyPrint PDF of up
#: to 100,000 records). ``default`` only drains jobs queued before the split: nothing new goes
#: there.
QUEUES = ("mail", "gather", "build", "maintenance", "default")

JOB_TIMEOUT = {"mail": 60, "gather": 600, "build": 600, "maintenance": 600, "default": 600}
RESULT_TTL = 300
FAILURE_TTL = 7 * 24 * 3600

#: How jobs, their metadata and their results are written to Redis: JSON, because a pickle
#: runs whatever code its writer chose when it is loaded. Arguments are ids and source names,
#: results ints, strings and booleans.
SERIALIZER = JSONSerializer

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
        # A name imported into workers.jobs (the ``job`` decorator, a service module) is not
        # a job; ``@job`` keeps the module of the function it wraps.
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


def queue_on(name: str, connection: Redis) -> Queue:
    """The named queue on ``connection``, with dsar's serializer, job class and timeout."""
    return Queue(name, connection=connection, default_timeout=JOB_TIMEOUT[name],
                 serializer=SERIALIZER, job_class=DsarJob)


def get_queue(name: str) -> Queue:
    """The named RQ queue on the app's Redis."""
    if name not in QUEUES:
        raise ValueError(f"unknown queue {name!r}")
    return queue_on(name, redis_connection())


#: Statuses of a job that will still run or is running: enqueueing its id again is a no-op.
IN_FLIGHT = frozenset({JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED,
                       JobStatus.STARTED, JobStatus.READY_TO_ENQUEUE})
#: How long one process holds the right to enqueue a job id (a crash mid-enqueue frees it).
ENQUEUE_CLAIM_SECONDS = 10


def enqueue_on(queue: Queue, func: str, *args, job_id: str, **options) -> bool:
    """Enqueue ``func(*args)`` as job ``job_id`` on ``queue`` unless a job of that id will
    still run or is running (queued, scheduled, deferred, started): RQ itself would put the
    id in the queue a second time and run both copies. Two processes enqueueing the same id
    at once: a short Redis claim lets one of them check and enqueue. Returns whether this
    call enqueued; raises ``RedisError`` when Redis is unreachable.

    The job is written through a pipeline, which RQ refuses or handles apart for
    ``rate_limit``, ``depends_on`` and ``unique``: dsar's jobs use none of them."""
    connection = queue.connection
    claim = f"dsar:enqueuing:{job_id}"
    # One round trip for the claim and the state of any job of that id, one for the job, its
    # place in the queue and the claim's release: each Redis round trip is paid by the web
    # request that filed the work.
    check = connection.pipeline(transaction=False)
    check.set(claim, "1", nx=True, ex=ENQUEUE_CLAIM_SECONDS)
    check.hget(DsarJob.key_for(job_id), "status")
    claimed, status = check.execute(raise_on_error=False)
    if isinstance(claimed, Exception):
        raise claimed
    if not claimed:
        return False  # another process is enqueueing this very job now
    released = False
    try:
        if isinstance(status, Exception):
            raise status  # the claim is ours: the finally lets go of it
        # Whatever queue it is on.
        if status is not None and as_text(status) in IN_FLIGHT:
            return False
        with connection.pipeline() as write:
            queue.enqueue(func, *args, job_id=job_id, pipeline=write, **options)
            write.delete(claim)
            write.execute()
        released = True
        return True
    finally:
        if not released:
            connection.delete(claim)


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
