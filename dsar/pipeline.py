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


def job_is_queued(job_id: str) -> bool:
    """Whether RQ still knows a job with this id (queued, running, scheduled or failed)."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    try:
        Job.fetch(job_id, connection=redis_connection())
    except NoSuchJobError:
        return False
    return True
