"""Job functions. Arguments are ids only; each job starts with a guard (inside the service)
so that running it twice is harmless, and raises on failure so RQ's Retry applies."""

from __future__ import annotations

import logging

from rq import get_current_job

from .app import app_context

logger = logging.getLogger(__name__)


def _job_id() -> str | None:
    job = get_current_job()
    return job.id if job else None


def send_email(outbound_id: int) -> bool:
    """Send outbox e-mail ``outbound_id`` (skipped if already sent)."""
    from dsar import mail

    with app_context():
        return mail.deliver(outbound_id, actor_id=_job_id())


def expire_unconfirmed_cases() -> int:
    """Periodic: close the cases whose e-mail address was never confirmed."""
    from dsar.sweep import expire_unconfirmed

    with app_context():
        return len(expire_unconfirmed())


def sweep_lost_work() -> int:
    """Periodic: re-enqueue work whose job vanished from Redis."""
    from dsar.sweep import requeue_pending_mail

    with app_context():
        return len(requeue_pending_mail())


def send_deadline_reminders() -> int:
    """Periodic: D-7 and D-2 reminders to assignees and DPOs."""
    from dsar.reminders import send_deadline_reminders as send

    with app_context():
        return send()


def send_overdue_digest() -> int:
    """Periodic: the daily digest of overdue cases to the DPOs."""
    from dsar.reminders import send_overdue_digest as send

    with app_context():
        return send()
