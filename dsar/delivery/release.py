"""Releasing the answer to the requester, and taking it back when its time is up (issue 5).

The DPO releases the package staff have previewed: the case is completed, the requester is
e-mailed that the answer waits on their status page, and the package stays downloadable for
``EXPORT_DAYS`` days. :func:`purge_expired` (a periodic job) then deletes it from storage; only
its row (what was sent, when, its sum) and the audit trail remain (docs/legal-rules.md §6).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, or_, select, update

from dsar import pipeline
from dsar.cases.refusals import ActionRefused
from dsar.cases.staff_actions import move_case
from dsar.cases.workflow import InvalidTransition, transition
from dsar.core import storage
from dsar.core.audit import record_event
from dsar.deadlines import PARIS, paris_date
from dsar.delivery.partial import mark_answered_in_part
from dsar.delivery.transmit import transmit
from dsar.exports.build import current_package, results_digest
from dsar.extensions import db
from dsar.mail.outbox import commit_and_send, queue_email
from dsar.models import (
    CHANGE_KINDS,
    ActorType,
    Case,
    CaseKind,
    CaseStatus,
    ChangePlan,
    DownloadCode,
    ExportPackage,
    GatherStatus,
    MailTemplate,
    PackageStatus,
    PlanStatus,
    SourceResult,
    StaffUser,
    Transmission,
)
from dsar.models.types import utcnow

logger = logging.getLogger(__name__)

#: The kinds answered by a package the DPO releases: a copy of the data, or (the kinds that
#: change data) the answer letter of what was done.
RELEASED_KINDS = frozenset({CaseKind.ACCESS, CaseKind.PORTABILITY, *CHANGE_KINDS})


def failed_sources(case: Case) -> list[str]:
    """The sources whose last search failed: the answer would be incomplete without them."""
    return list(db.session.scalars(
        select(SourceResult.source).where(SourceResult.case_id == case.id,
                                          SourceResult.status == GatherStatus.FAILED)
        .order_by(SourceResult.source)))


def release(case: Case, staff: StaffUser, *, package_id: int | str | None,
            acknowledged: Iterable[str] = ()) -> ExportPackage:
    """Release the package ``package_id`` (the one the DPO saw) to the requester (DPO only,
    checked by the caller).

    Refused while the case is not in review; when the package is not the current one, or no
    package matches the latest search results (a newer one is on its way: the DPO would send
    an answer they have not seen); and while a source failed that the DPO did not
    ``acknowledged`` sending the answer without (the letter tells the person which source is
    missing)."""
    if case.kind not in RELEASED_KINDS:
        raise ActionRefused(_l("This kind of request is completed by its own action, not by "
                               "sending a copy of the data."))
    if case.status is not CaseStatus.REVIEW:
        raise ActionRefused(_l("This action is not possible while the case is in this state."))
    if case.kind in CHANGE_KINDS and db.session.scalar(select(ChangePlan.status).where(
            ChangePlan.case_id == case.id)) is not PlanStatus.VERIFIED:
        raise ActionRefused(_l("The plan must be approved, carried out and verified before "
                               "its answer is sent."))
    package = current_package(case.id)
    if package is None or package.results_digest != results_digest(case.id):
        raise ActionRefused(_l("The answer is still being prepared from the latest search. "
                               "Please try again in a moment."))
    if str(package.id) != str(package_id):
        raise ActionRefused(_l("A newer answer was prepared since this page was shown. Please "
                               "look at it before releasing it."))
    failed = failed_sources(case)
    if set(failed) - set(acknowledged):
        raise ActionRefused(_l("A source could not be searched. Search it again, or confirm "
                               "that the answer is sent without it."))
    _publish(case, package, staff, failed)
    if receiving_endpoint(case):
        # The person asked for the data to go straight to another controller (Art. 20(2)).
        pipeline.enqueue_transmission(package.id, staff.id)
    return package


def _publish(case: Case, package: ExportPackage, staff: StaffUser | None,
             failed: list[str]) -> None:
    """Release ``package``: downloadable for ``EXPORT_DAYS`` days, the case completed, the
    person told; ``staff`` None when the system releases it."""
    now = utcnow()
    package.status = PackageStatus.RELEASED
    package.released_at = now
    package.released_by_id = staff.id if staff else None
    package.expires_at = download_deadline(now, int(current_app.config["EXPORT_DAYS"]))
    mark_answered_in_part(case, failed)
    if staff is not None:
        move_case(case, CaseStatus.COMPLETED, staff, {"package_id": package.id})
    else:
        try:
            transition(case, CaseStatus.COMPLETED, actor_type=ActorType.SYSTEM,
                       payload={"package_id": package.id})
        except InvalidTransition:
            raise ActionRefused(_l("This action is not possible while the case is in this "
                                   "state.")) from None
    actor = ActorType.STAFF if staff else ActorType.SYSTEM
    record_event("package.released", case=case, actor_type=actor,
                 actor_id=staff.id if staff else None,
                 payload={"package_id": package.id, "sources_missing": failed,
                          "expires_at": package.expires_at.isoformat()})
    commit_and_send(queue_email(case, MailTemplate.PACKAGE_READY,
                                payload={"package_id": package.id}))
    logger.info("case %s: package %s released", case.id, package.id)


def release_by_system(case: Case) -> ExportPackage:
    """Release the answer letter of an objection to direct marketing, which needs no DPO
    (``dsar.changes.marketing``): only when the case is in review, its plan verified, its
    letter built from the latest search and every source searched."""
    if case.status is not CaseStatus.REVIEW or db.session.scalar(select(ChangePlan.status).where(
            ChangePlan.case_id == case.id)) is not PlanStatus.VERIFIED:
        raise ActionRefused(_l("This action is not possible while the case is in this state."))
    package = current_package(case.id)
    if package is None or failed_sources(case):
        raise ActionRefused(_l("A source could not be searched."))
    _publish(case, package, None, [])
    return package


def receiving_endpoint(case: Case) -> str | None:
    """The receiving controller's address a portability requester gave, if any."""
    if case.kind is not CaseKind.PORTABILITY:
        return None
    return (case.details or {}).get("receiving_endpoint") or None


def request_transmission(case: Case, staff: StaffUser) -> None:
    """Send the released portability package to the receiving controller again (after a
    failure, or once the receiver is fixed). The job checks the address and records how it
    went."""
    package = released_package(case)
    if not receiving_endpoint(case):
        raise ActionRefused(_l("The requester gave no address to send the data to."))
    if not is_downloadable(package):
        raise ActionRefused(_l("Only a released answer that has not expired can be sent."))
    record_event("package.transmission_requested", case=case, actor_type=ActorType.STAFF,
                 actor_id=staff.id, payload={"package_id": package.id})
    db.session.commit()
    pipeline.enqueue_transmission(package.id, staff.id)


def transmit_released(package_id: int, *, staff_id: int | None = None,
                      actor_id: str | None = None) -> str:
    """The transmission job: send ``package_id`` to the address its case names. Returns the
    outcome (``sent``, ``refused``, ``failed``) or ``no-endpoint``."""
    package = db.session.get(ExportPackage, package_id)
    url = receiving_endpoint(package.case) if package is not None else None
    if url is None:
        return "no-endpoint"
    return str(transmit(package_id, url, staff_id=staff_id, actor_id=actor_id).status)


def download_deadline(released_at: datetime, days: int) -> datetime:
    """The end of the download period: the last second of the day ``days`` days after
    release, Paris time, so the date the person is told is a whole day."""
    last_day = paris_date(released_at) + timedelta(days=days)
    return datetime.combine(last_day, time(23, 59, 59), tzinfo=PARIS).astimezone(UTC)


def released_package_query(case_id) -> Select:
    """The statement of :func:`released_package` for ``case_id`` (a value or a column, for a
    correlated subquery)."""
    return (select(ExportPackage)
            .where(ExportPackage.case_id == case_id, ExportPackage.released_at.is_not(None))
            .order_by(ExportPackage.id.desc()).limit(1))


def released_package(case: Case) -> ExportPackage | None:
    """The package released to the requester, whether still downloadable or expired."""
    return db.session.scalar(released_package_query(case.id))


def is_downloadable(package: ExportPackage | None, now: datetime | None = None) -> bool:
    """Whether the requester may still download ``package`` (released, stored, not expired)."""
    return (package is not None and package.status is PackageStatus.RELEASED
            and package.blob_id is not None and package.expires_at is not None
            and package.expires_at > (now or utcnow()))


def expire(package: ExportPackage, *, actor_type: ActorType = ActorType.SYSTEM,
           actor_id: str | None = None) -> bool:
    """Mark the package expired, delete it from storage, then commit; its codes are spent
    with it. A conditional UPDATE claims it, so two purges at once expire it once. Returns
    whether this call expired it."""
    blob_id = package.blob_id
    claimed = db.session.execute(
        update(ExportPackage).where(ExportPackage.id == package.id,
                                    ExportPackage.blob_id.is_not(None))
        .values(status=PackageStatus.EXPIRED, expired_at=utcnow(), blob_id=None))
    if claimed.rowcount != 1:
        db.session.rollback()
        return False
    db.session.execute(update(DownloadCode).where(DownloadCode.package_id == package.id)
                       .values(sealed_code=None))
    record_event("package.expired", case=package.case, actor_type=actor_type,
                 actor_id=actor_id, payload={"package_id": package.id})
    # Deleted before the commit: if the commit fails the row stays as it was (and is past its
    # date, so nobody can download it) and the next purge finishes; personal data is never
    # left behind by a crash.
    if blob_id:
        storage.delete(blob_id)
    db.session.commit()
    return True


def purge_expired(now: datetime | None = None, *, actor_id: str | None = None) -> dict[str, int]:
    """Delete what has served its time: released packages past their download period,
    packages of cases closed without release (withdrawn, refused), replaced packages still
    stored, and the sealed codes of
    download codes no longer usable. Idempotent; returns what was done."""
    now = now or utcnow()
    closed = select(Case.id).where(Case.status.in_(
        [CaseStatus.WITHDRAWN, CaseStatus.REJECTED, CaseStatus.EXPIRED]))
    due = list(db.session.scalars(select(ExportPackage).where(
        ExportPackage.blob_id.is_not(None),
        or_(ExportPackage.expires_at <= now,
            (ExportPackage.status == PackageStatus.READY) & ExportPackage.case_id.in_(closed),
            # Replaced by a newer build but still stored (a crash between the replacing
            # build's commit and the deletion of the old file).
            ExportPackage.status == PackageStatus.EXPIRED),
    ).order_by(ExportPackage.id)))
    due = [package for package in due if expire(package, actor_id=actor_id)]
    spent = db.session.execute(update(DownloadCode).where(
        DownloadCode.sealed_code.is_not(None), DownloadCode.expires_at <= now)
        .values(sealed_code=None)).rowcount
    db.session.commit()
    if due or spent:
        logger.info("purged %d packages and %d download codes", len(due), spent)
    return {"packages": len(due), "codes": spent}


def transmissions(case: Case) -> list[Transmission]:
    """The direct transmissions of the case's answers, oldest first."""
    return list(db.session.scalars(select(Transmission).where(Transmission.case_id == case.id)
                                   .order_by(Transmission.id)))
