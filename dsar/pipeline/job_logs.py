"""Log lines that say which job wrote them, each printed once.

A process the ``dsar`` command starts (``run``, ``worker``, ``scheduler``, ``demo``…) logs
through one handler on the root logger, to stderr. A line written while an RQ job runs carries
its id, so every line of a search reads ``… [job case-12-gather-crm]: …``, in a forked
work-horse as in a worker that runs jobs itself. Lines are printed once: Flask adds its own
handler to the app's logger only when no handler above it would print, and alembic's migrations
put theirs on the root logger, so a second handler would print each ``dsar`` line twice.
"""

from __future__ import annotations

import logging

from flask.logging import default_handler
from rq import get_current_job

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s%(job)s: %(message)s"


def current_job_id() -> str | None:
    """The id of the RQ job running in this process, None outside a job."""
    job = get_current_job()
    return job.id if job is not None else None


class JobIdFilter(logging.Filter):
    """Give each record the running job's id (``job_id``, None outside a job) and ``job``,
    `` [job <id>]`` or nothing, for the format. Lets every record through."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "job_id"):
            record.job_id = current_job_id()
        record.job = f" [job {record.job_id}]" if record.job_id else ""
        return True


def log_to_stderr() -> logging.Handler:
    """Make one stderr handler, tagging job lines, the root logger's only handler. For the
    entry points of a process (``dsar`` commands, a plain ``rq worker``'s app), which own its
    logging: a library or a test leaves the root logger alone. Returns the handler."""
    handler = logging.StreamHandler()
    handler.addFilter(JobIdFilter())
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    for other in list(root.handlers):
        root.removeHandler(other)
    root.addHandler(handler)
    # Flask's handler, if the app's logger already got it, would print dsar's lines again.
    logging.getLogger("dsar").removeHandler(default_handler)
    return handler
