"""The only module that enqueues jobs. Jobs are named by dotted path (``dsar`` never imports
``workers``), take ids only, and are enqueued after the commit that created their work.

If Redis is down the work is not lost: the database row stays pending and ``dsar sweep`` (run
periodically) enqueues it again.
"""

from __future__ import annotations

import logging

from flask import current_app
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry

logger = logging.getLogger(__name__)

#: Queues by workload (Redash habit): e-mail must not wait behind a large gather.
QUEUES = ("mail", "default", "maintenance")

#: Job defaults, set once here.
MAIL_JOB = "workers.jobs.send_email"
MAIL_RETRY = Retry(max=5, interval=[10, 60, 300, 900, 3600])
JOB_TIMEOUT = {"mail": 60, "default": 600, "maintenance": 600}
RESULT_TTL = 300
FAILURE_TTL = 7 * 24 * 3600


def redis_connection() -> Redis:
    """The app's Redis connection (bytes responses: RQ needs them)."""
    ext = current_app.extensions.setdefault("dsar_redis", {})
    url = current_app.config["REDIS_URL"]
    if url not in ext:
        ext[url] = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    return ext[url]


def get_queue(name: str) -> Queue:
    """The named RQ queue on the app's Redis."""
    if name not in QUEUES:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=redis_connection(), default_timeout=JOB_TIMEOUT[name])


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
    return _enqueue("default", GATHER_JOB, case_id, source,
                    job_id=gather_job_id(case_id, source, round_),
                    retry=Retry(max=len(intervals), interval=intervals) if intervals else None,
                    job_timeout=int(config["GATHER_TIMEOUT"]))


def enqueue_collect(case_id: int, round_: int) -> bool:
    """Queue the fan-in of a case's search (when its last source finished)."""
    return _enqueue("default", COLLECT_JOB, case_id, job_id=collect_job_id(case_id, round_),
                    retry=Retry(max=3, interval=[5, 30, 120]))


def package_job_id(case_id: int) -> str:
    return f"case-{case_id}-package"


def enqueue_package(case_id: int) -> bool:
    """Queue the build of a case's answer package (when its search is over)."""
    return _enqueue("default", PACKAGE_JOB, case_id, job_id=package_job_id(case_id),
                    retry=Retry(max=3, interval=[10, 60, 300]),
                    job_timeout=int(current_app.config["GATHER_TIMEOUT"]))


def enqueue_transmission(package_id: int, staff_id: int | None = None) -> bool:
    """Queue the direct transmission of a released portability package (Art. 20(2)). The
    receiving address is read by the job from the case, never carried in Redis. No automatic
    retry: a receiver that failed once is retried by staff, who see why it failed."""
    return _enqueue("default", TRANSMIT_JOB, package_id, staff_id,
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


def job_is_queued(job_id: str) -> bool:
    """Whether RQ still knows a job with this id (queued, running, scheduled or failed)."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    try:
        Job.fetch(job_id, connection=redis_connection())
    except NoSuchJobError:
        return False
    return True


def job_status(job_id: str) -> str | None:
    """RQ's status of a job ("queued", "started", "finished"…), None if Redis forgot it."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    try:
        return str(Job.fetch(job_id, connection=redis_connection()).get_status(refresh=False))
    except NoSuchJobError:
        return None
