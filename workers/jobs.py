"""Job functions. Arguments are ids only; each job starts with a guard (inside the service)
so that running it twice is harmless, and raises on failure so RQ's Retry applies.

``@job`` runs each in the worker's app and hands it the job's id as ``actor_id`` (what the
audit trail records as the worker that acted). Only the public functions defined here can
run (``dsar.pipeline.queues.DsarJob``): nothing else imported here is a job.
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app

from dsar import pipeline
from dsar.cases import proofs, reminders, retention
from dsar.changes import answer, execution, marketing, notices, plan, restriction
from dsar.delivery import release
from dsar.exports import build
from dsar.mail import sending
from dsar.models.types import utcnow
from dsar.pipeline import sweep
from dsar.postmortem import directives
from dsar.search import gathering
from dsar.sources import indexing
from workers.app import final_attempt, job


@job
def send_email(outbound_id: int, *, actor_id: str | None = None) -> bool:
    """Send outbox e-mail ``outbound_id`` (skipped if already sent). The last notice of an
    erasure to a recipient sent, the certificate is built."""
    sent = sending.deliver(outbound_id, actor_id=actor_id)
    case_id = sending.notice_case(outbound_id) if sent else None
    if case_id is not None and notices.all_decided(case_id):
        pipeline.enqueue_certificate(case_id)
    return sent


@job
def expire_unconfirmed_cases() -> int:
    """Periodic: close the cases whose e-mail address was never confirmed."""
    return len(sweep.expire_unconfirmed())


@job
def purge_identity_documents() -> int:
    """Periodic: delete the identity documents left on cases past their decision or closed,
    and uploads never confirmed in time (normally deleted on the way; this catches the rest)."""
    return proofs.purge_leftover_proofs()


@job
def sweep_lost_work() -> int:
    """Periodic: queue again the work whose job vanished from Redis, ended without doing it,
    or whose worker died; and take up again an objection to direct marketing, or directives,
    a crash left between two of their stages."""
    grace = timedelta(seconds=int(current_app.config["REQUEUE_GRACE_SECONDS"]))
    return (sum(sweep.requeue_lost_work().values()) + sum(marketing.catch_up().values())
            + directives.catch_up(utcnow() - grace))


@job
def send_deadline_reminders() -> int:
    """Periodic: D-7 and D-2 reminders to assignees and DPOs."""
    return reminders.send_deadline_reminders()


@job
def send_overdue_digest() -> int:
    """Periodic: the daily digest of overdue cases to the DPOs."""
    return reminders.send_overdue_digest()


@job
def gather_source(case_id: int, source: str, *, actor_id: str | None = None) -> str:
    """Search one source for a case; the last source to finish queues the fan-in."""
    outcome = gathering.gather(case_id, source, final_attempt=final_attempt(),
                               actor_id=actor_id)
    if outcome in ("done", "failed", "already-done") and gathering.all_finished(case_id):
        pipeline.enqueue_collect(case_id, gathering.current_round(case_id))
    return outcome


@job
def collect_gathering(case_id: int, *, actor_id: str | None = None) -> str:
    """Fan-in: search again where new identifiers appeared, or move the case to review."""
    outcome, planned = gathering.collect(case_id, actor_id=actor_id)
    pipeline.start(planned)
    if outcome in ("review", "unchanged"):
        if plan.draft_plan(case_id):
            # A request that changes data: its plan waits for the DPO; an objection to direct
            # marketing needs nobody's review, the system approves it at once.
            marketing.approve_plan(case_id)
            return outcome
        # Named by the results' digest: the same results are built once.
        pipeline.enqueue_package(case_id, build.results_digest(case_id))
    return outcome


@job
def build_package(case_id: int, *, actor_id: str | None = None) -> str:
    """Build the answer package of a case whose search is over."""
    return build.build_package(case_id, actor_id=actor_id)


@job
def update_file_indexes() -> int:
    """Periodic: index what was appended to the ``files`` sources since the last run."""
    return sum(stats["bytes_read"] for stats in indexing.update_file_indexes().values())


@job
def purge_expired_exports(*, actor_id: str | None = None) -> int:
    """Periodic: delete the answer packages whose download period is over (and those of
    cases closed without an answer), and spent download codes."""
    return release.purge_expired(actor_id=actor_id)["packages"]


@job
def transmit_package(package_id: int, staff_id: int | None = None, *,
                     actor_id: str | None = None) -> str:
    """Send a released portability package to the receiving controller the person named."""
    return release.transmit_released(package_id, staff_id=staff_id, actor_id=actor_id)


@job
def carry_out_step(case_id: int, source: str, *, actor_id: str | None = None) -> str:
    """Carry out a case's approved plan in one source; the last step to finish queues the
    verification."""
    outcome = execution.carry_out_step(case_id, source, final_attempt=final_attempt(),
                                       actor_id=actor_id)
    if outcome in ("done", "failed", "unsupported", "already-done") and \
            execution.all_steps_finished(case_id):
        pipeline.enqueue_verification(case_id)
    return outcome


@job
def verify_plan(case_id: int, *, actor_id: str | None = None) -> str:
    """Search again where the plan changed data; verified, the certificate is built."""
    outcome = execution.verify(case_id, actor_id=actor_id)
    if outcome == "verified" and notices.all_decided(case_id):
        pipeline.enqueue_certificate(case_id)
    return outcome


@job
def build_certificate(case_id: int, *, actor_id: str | None = None) -> str:
    """Build the answer letter of a case whose plan is verified (the erasure certificate, or
    the letter of a rectification, restriction or objection); an objection to direct
    marketing's is released at once, with no one's decision needed."""
    outcome = answer.build_certificate(case_id, actor_id=actor_id)
    if outcome in ("built", "already-built"):
        marketing.release_answer(case_id)
    return outcome


@job
def lift_due_restrictions() -> int:
    """Periodic: lift the restrictions whose announced date has come (Art. 18(3))."""
    return restriction.lift_due()


@job
def purge_closed_cases(*, actor_id: str | None = None) -> int:
    """Periodic: remove the personal data of the cases closed longer than
    ``CASE_RETENTION_YEARS`` ago, keeping what proves compliance."""
    return retention.purge_expired_cases(actor_id=actor_id)
