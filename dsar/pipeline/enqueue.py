"""The only module that enqueues jobs. Jobs are named by dotted path (``dsar`` never imports
``workers``), take ids only, and are enqueued after the commit that created their work.

If Redis is down the work is not lost: the database row stays pending and ``dsar sweep`` (run
periodically) enqueues it again.
"""

from __future__ import annotations

import logging

from flask import current_app
from redis.exceptions import RedisError
from rq import Retry

from dsar.pipeline.job_ids import (
    CERTIFICATE_JOB,
    COLLECT_JOB,
    GATHER_JOB,
    MAIL_JOB,
    PACKAGE_JOB,
    STEP_JOB,
    TRANSMIT_JOB,
    VERIFY_JOB,
    certificate_job_id,
    collect_job_id,
    gather_job_id,
    mail_job_id,
    package_job_id,
    step_job_id,
    transmit_job_id,
    verify_job_id,
)
from dsar.pipeline.queues import FAILURE_TTL, RESULT_TTL, enqueue_on, get_queue

logger = logging.getLogger(__name__)

MAIL_RETRY = Retry(max=5, interval=[10, 60, 300, 900, 3600])


def enqueue_email(outbound_id: int) -> bool:
    """Enqueue the sending of outbox e-mail ``outbound_id``. False if Redis is unreachable
    (the sweep will retry); never raises to the web request."""
    return enqueue_once("mail", MAIL_JOB, outbound_id, job_id=mail_job_id(outbound_id),
                        retry=MAIL_RETRY)


def enqueue_gather(case_id: int, source: str, round_: int = 1) -> bool:
    """Queue the search of one source (after the commit that planned it). False if Redis is
    unreachable: the row stays pending and the sweep queues it later."""
    config = current_app.config
    intervals = [int(i) for i in config["GATHER_RETRY_INTERVALS"]]
    return enqueue_once("gather", GATHER_JOB, case_id, source,
                        job_id=gather_job_id(case_id, source, round_),
                        retry=Retry(max=len(intervals), interval=intervals) if intervals
                        else None,
                        job_timeout=int(config["GATHER_TIMEOUT"]))


def enqueue_collect(case_id: int, round_: int) -> bool:
    """Queue the fan-in of a case's search (when its last source finished)."""
    return enqueue_once("gather", COLLECT_JOB, case_id, job_id=collect_job_id(case_id, round_),
                        retry=Retry(max=3, interval=[5, 30, 120]))


def enqueue_package(case_id: int, results_digest: str) -> bool:
    """Queue the build of a case's answer package (when its search is over), for the search
    results of this digest."""
    return enqueue_once("build", PACKAGE_JOB, case_id,
                        job_id=package_job_id(case_id, results_digest),
                        retry=Retry(max=3, interval=[10, 60, 300]),
                        job_timeout=int(current_app.config["GATHER_TIMEOUT"]))


def enqueue_transmission(package_id: int, staff_id: int | None = None) -> bool:
    """Queue the direct transmission of a released portability package (Art. 20(2)). The
    receiving address is read by the job from the case, never carried in Redis. No automatic
    retry: a receiver that failed once is retried by staff, who see why it failed."""
    return enqueue_once("build", TRANSMIT_JOB, package_id, staff_id,
                        job_id=transmit_job_id(package_id),
                        job_timeout=int(current_app.config["TRANSMIT_TIMEOUT"]) * 4)


def enqueue_step(case_id: int, source: str) -> bool:
    """Queue the carrying out of a case's approved plan in one source (after the commit of
    the approval)."""
    config = current_app.config
    intervals = [int(i) for i in config["GATHER_RETRY_INTERVALS"]]
    return enqueue_once("gather", STEP_JOB, case_id, source,
                        job_id=step_job_id(case_id, source),
                        retry=Retry(max=len(intervals), interval=intervals) if intervals
                        else None,
                        job_timeout=int(config["GATHER_TIMEOUT"]))


def enqueue_verification(case_id: int) -> bool:
    """Queue the verification of a case's plan (when its last step finished)."""
    return enqueue_once("gather", VERIFY_JOB, case_id, job_id=verify_job_id(case_id),
                        retry=Retry(max=3, interval=[5, 30, 120]),
                        job_timeout=int(current_app.config["GATHER_TIMEOUT"]))


def enqueue_certificate(case_id: int) -> bool:
    """Queue the build of a case's erasure certificate (once its plan is verified)."""
    return enqueue_once("build", CERTIFICATE_JOB, case_id, job_id=certificate_job_id(case_id),
                        retry=Retry(max=3, interval=[10, 60, 300]))


def enqueue_once(queue: str, func: str, *args, job_id: str, **options) -> bool:
    """Enqueue job ``job_id`` on the named queue unless a job of that id is queued, scheduled
    or running (then nothing happens: that job does the work). True if the job is queued
    (by this call or before it); False if Redis is unreachable (the sweep queues the work
    later, the database still owing it). Never raises to the web request."""
    try:
        enqueue_on(get_queue(queue), func, *args, job_id=job_id, result_ttl=RESULT_TTL,
                   failure_ttl=FAILURE_TTL, **options)
    except RedisError as exc:
        logger.warning("could not enqueue %s: %s", job_id, type(exc).__name__)
        return False
    return True



def start(planned) -> int:
    """Queue the searches a committed transaction planned (``dsar.search.gathering.Planned``), e.g.
    when staff start processing a case. Returns how many were queued."""
    return sum(enqueue_gather(p.case_id, p.source, p.round) for p in planned)


