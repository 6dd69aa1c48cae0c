"""Running queued jobs with a real RQ worker on the real Redis."""

from __future__ import annotations


def run_queued_jobs(app) -> int:
    """Run every queued job with a real RQ worker on the real Redis until the queues are empty
    (``burst``); returns the number of jobs that failed."""
    from rq.registry import FailedJobRegistry

    from dsar.pipeline import QUEUES, get_queue
    from dsar.pipeline.worker import make_worker

    with app.app_context():
        make_worker(QUEUES, fork=False).work(burst=True)  # the app's serializer and job class
        return sum(FailedJobRegistry(queue=get_queue(name)).count for name in QUEUES)
