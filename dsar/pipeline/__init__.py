"""The queue: what dsar asks its workers to do, and how.

- :mod:`.job_ids` names every job and builds its id (one place);
- :mod:`.enqueue` is the only module that enqueues, after the commit that created the work;
- :mod:`.queues` is Redis and RQ as dsar uses them (JSON jobs of ``workers.jobs`` only);
- :mod:`.worker` the worker, the app its jobs run in, and the cron scheduler;
  :mod:`.periodic` the periodic jobs; :mod:`.job_logs` log lines tagged with their job;
- :mod:`.sweep` re-queues what Redis lost and expires what was never confirmed.

The names below are the queue's public face: ``from dsar import pipeline`` then
``pipeline.enqueue_email(…)``.
"""

from dsar.pipeline.enqueue import (
    enqueue_certificate,
    enqueue_collect,
    enqueue_email,
    enqueue_gather,
    enqueue_package,
    enqueue_step,
    enqueue_transmission,
    enqueue_verification,
    start,
)
from dsar.pipeline.job_ids import (
    certificate_job_id,
    collect_job_id,
    gather_job_id,
    mail_job_id,
    package_job_id,
    step_job_id,
    transmit_job_id,
    verify_job_id,
)
from dsar.pipeline.queues import (
    QUEUES,
    fetch_job,
    get_queue,
    job_is_queued,
    job_status,
    redis_connection,
)

__all__ = [
    "QUEUES", "collect_job_id", "enqueue_certificate", "enqueue_step", "enqueue_verification",
    "enqueue_collect", "enqueue_email", "enqueue_gather",
    "enqueue_package", "enqueue_transmission", "fetch_job", "gather_job_id", "get_queue",
    "job_is_queued", "job_status", "mail_job_id", "package_job_id", "redis_connection", "start",
    "transmit_job_id", "certificate_job_id", "step_job_id", "verify_job_id",
]
