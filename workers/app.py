"""How a job is defined: the :func:`job` decorator runs it in the worker's app.

``dsar worker`` (and the tests) register their app when they make the worker
(``dsar.pipeline.worker.run_jobs_in``); under a plain ``rq worker`` the first job builds one
with ``create_app()``. A forked work-horse opens its own database connections.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import TypeVar

from rq import get_current_job

from dsar import create_app
from dsar.pipeline.job_logs import current_job_id, log_to_stderr
from dsar.pipeline.worker import job_app, job_app_context, run_jobs_in

F = TypeVar("F", bound=Callable)

def job(func: F) -> F:
    """Make ``func`` a job: it runs in an application context of the worker's app (its
    database session removed afterwards), and its ``actor_id`` parameter, if it has one,
    receives the running job's id, which the audit trail records as the worker that acted.
    The job keeps its module and name, so ``DsarJob`` still runs it (and nothing else)."""
    takes_actor = "actor_id" in inspect.signature(func).parameters

    @functools.wraps(func)
    def run(*args, **kwargs):
        if takes_actor:
            # Never from Redis: whoever can write a job there must not choose its actor.
            kwargs["actor_id"] = current_job_id()
        if job_app() is None:
            _start_app()
        with job_app_context():
            return func(*args, **kwargs)

    return run  # type: ignore[return-value]


def _start_app() -> None:
    """Under a plain ``rq worker`` (no app registered): the configured app, logging as
    ``dsar worker`` does unless whoever started the worker set up logging."""
    if not logging.getLogger().handlers:
        log_to_stderr()
    run_jobs_in(create_app())


def final_attempt() -> bool:
    """Whether the running job, if it fails now, is not retried (always, outside a job)."""
    running = get_current_job()
    return running is None or not running.should_retry
