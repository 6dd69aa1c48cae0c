"""Job functions. Arguments are ids only; each job starts with a guard (inside the service)
so that running it twice is harmless, and raises on failure so RQ's Retry applies."""

from __future__ import annotations

import logging

from rq import get_current_job

from workers.app import app_context

logger = logging.getLogger(__name__)


def _job_id() -> str | None:
    job = get_current_job()
    return job.id if job else None


def send_email(outbound_id: int) -> bool:
    """Send outbox e-mail ``outbound_id`` (skipped if already sent)."""
    from dsar.mail import outbox

    with app_context():
        return outbox.deliver(outbound_id, actor_id=_job_id())


def expire_unconfirmed_cases() -> int:
    """Periodic: close the cases whose e-mail address was never confirmed."""
    from dsar.pipeline.sweep import expire_unconfirmed

    with app_context():
        return len(expire_unconfirmed())


def purge_identity_documents() -> int:
    """Periodic: delete the identity documents left on cases past their decision or closed,
    and uploads never confirmed in time (normally deleted on the way; this catches the rest)."""
    from dsar.cases.proofs import purge_leftover_proofs

    with app_context():
        return purge_leftover_proofs()


def sweep_lost_work() -> int:
    """Periodic: re-enqueue work whose job vanished from Redis or whose worker died."""
    from dsar.pipeline.sweep import (
        requeue_lost_gathering,
        requeue_lost_packages,
        requeue_pending_mail,
    )

    with app_context():
        mails = len(requeue_pending_mail())
        return mails + sum(requeue_lost_gathering().values()) + requeue_lost_packages()


def send_deadline_reminders() -> int:
    """Periodic: D-7 and D-2 reminders to assignees and DPOs."""
    from dsar.cases.reminders import send_deadline_reminders as send

    with app_context():
        return send()


def send_overdue_digest() -> int:
    """Periodic: the daily digest of overdue cases to the DPOs."""
    from dsar.cases.reminders import send_overdue_digest as send

    with app_context():
        return send()


def gather_source(case_id: int, source: str) -> str:
    """Search one source for a case; the last source to finish queues the fan-in."""
    from dsar import pipeline
    from dsar.search import gathering

    job = get_current_job()
    final_attempt = job is None or not job.should_retry
    with app_context():
        outcome = gathering.gather(case_id, source, final_attempt=final_attempt,
                                   actor_id=_job_id())
        if outcome in ("done", "failed", "already-done") and gathering.all_finished(case_id):
            pipeline.enqueue_collect(case_id, gathering.current_round(case_id))
        return outcome


def collect_gathering(case_id: int) -> str:
    """Fan-in: search again where new identifiers appeared, or move the case to review."""
    from dsar import pipeline
    from dsar.search import gathering

    with app_context():
        outcome, planned = gathering.collect(case_id, actor_id=_job_id())
        pipeline.start(planned)
        if outcome in ("review", "unchanged"):
            pipeline.enqueue_package(case_id)  # skipped if the results did not change
        return outcome


def build_package(case_id: int) -> str:
    """Build the answer package of a case whose search is over."""
    from dsar.exports.build import build_package as build

    with app_context():
        return build(case_id, actor_id=_job_id())


def update_file_indexes() -> int:
    """Periodic: index what was appended to the ``files`` sources since the last run."""
    from dsar.sources.indexing import update_file_indexes as update

    with app_context():
        return sum(stats["bytes_read"] for stats in update().values())


def purge_expired_exports() -> int:
    """Periodic: delete the answer packages whose download period is over (and those of
    cases closed without an answer), and spent download codes."""
    from dsar.delivery.release import purge_expired

    with app_context():
        return purge_expired(actor_id=_job_id())["packages"]


def transmit_package(package_id: int, staff_id: int | None = None) -> str:
    """Send a released portability package to the receiving controller the person named."""
    from dsar.delivery.release import transmit_released

    with app_context():
        return transmit_released(package_id, staff_id=staff_id, actor_id=_job_id())
