"""Building a case's answer package when its search is over (the job behind
``workers.jobs.build_package``): content from the search results and the register, the ZIP
written straight into an encrypted streamed blob, one ``ExportPackage`` row per build.

A portability case (Art. 20) gets the data the person provided (scope ``portability``):
export.json, the CSVs, the schema and the manifest, without report.pdf. Art. 20 asks for a
structured, machine-readable copy, which the package may also be sent to another controller
as; the report is the Art. 15 letter, which answers another request (an access request gives
it). Every other case gets the whole answer (scope ``access``) with report.pdf."""

from __future__ import annotations

import hashlib
import hmac
import logging
import time

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from dsar import pipeline
from dsar.core import storage
from dsar.core.audit import record_event
from dsar.core.keys import derived_key
from dsar.exports.content import build_content
from dsar.exports.package import write_package
from dsar.exports.pdf import report_member
from dsar.extensions import db
from dsar.mail.outbox import queue_email
from dsar.models import (
    CHANGE_KINDS,
    ActorType,
    Case,
    CaseKind,
    CaseStatus,
    ExportPackage,
    MailTemplate,
    OutboundEmail,
    PackageStatus,
    SourceResult,
)
from dsar.models.types import utcnow

logger = logging.getLogger(__name__)


def results_digest(case_id: int) -> str:
    """A keyed digest of what the case's search found (each source's status and result sum):
    the package of the same results need not be built twice."""
    rows = db.session.execute(
        select(SourceResult.source, SourceResult.status, SourceResult.result_sha256)
        .where(SourceResult.case_id == case_id).order_by(SourceResult.source)).all()
    text = "\n".join(f"{s}:{st}:{sha or '-'}" for s, st, sha in rows)
    return hmac.new(derived_key("case-tokens"), text.encode(), hashlib.sha256).hexdigest()


def current_package(case_id: int) -> ExportPackage | None:
    """The latest package that is still stored."""
    return db.session.scalar(
        select(ExportPackage).where(ExportPackage.case_id == case_id,
                                    ExportPackage.status == PackageStatus.READY)
        .order_by(ExportPackage.id.desc()).limit(1))


def package_scope(case: Case) -> str:
    """What the case's package holds: ``portability`` for a portability request, else
    ``access``."""
    return "portability" if case.kind is CaseKind.PORTABILITY else "access"


def build_package(case_id: int, *, actor_id: str | None = None) -> str:
    """Build the package of a case in review. Returns ``built``, or why nothing was done
    (``not-in-review``, ``already-built``, ``superseded``: the results changed, or another
    build landed, while this one ran)."""
    case = db.session.get(Case, case_id)
    if case is None or case.status is not CaseStatus.REVIEW:
        return "not-in-review"
    if case.kind in CHANGE_KINDS:
        return "not-a-copy"  # answered by what was done (its certificate), never a copy
    digest = results_digest(case_id)
    latest = current_package(case_id)
    if latest is not None and latest.results_digest == digest:
        return "already-built"
    scope = package_scope(case)
    started = time.monotonic()
    content = build_content(case, scope=scope)
    extra = [report_member(content)] if scope == "access" else []
    with storage.writer() as out:
        manifest = write_package(content, out, extra=extra)
    blob = out.blob
    package = ExportPackage(case_id=case_id, status=PackageStatus.READY, blob_id=blob.blob_id,
                            size=blob.size, sha256=blob.sha256, results_digest=digest,
                            record_count=manifest.records, file_count=len(manifest.files) + 1,
                            scope=scope, redaction_count=len(content.limitations.redactions),
                            build_seconds=round(time.monotonic() - started, 3))
    stale = _replace_ready_package(case_id, digest, package)
    if stale is None:
        db.session.rollback()
        storage.delete(blob.blob_id)
        logger.info("case %s: another build landed, or the results changed, while this one "
                    "ran; its package is dropped", case_id)
        return "superseded"
    record_event("package.built", case=case, actor_type=ActorType.WORKER, actor_id=actor_id,
                 payload={"package_id": package.id, "scope": scope,
                          "records": manifest.records, "files": package.file_count,
                          "size": blob.size, "redactions": package.redaction_count})
    # Read before the commit expires them (each would cost a query after it).
    package_id, redactions = package.id, package.redaction_count
    notice = masked_data_notice(case, package) if redactions else None
    db.session.commit()
    if notice is not None:
        pipeline.enqueue_email(notice)
    for blob_id in stale:
        storage.delete(blob_id)
    logger.info("case %s: %s package %s built (%d records, %d redactions)", case_id, scope,
                package_id, manifest.records, redactions)
    return "built"


def masked_data_notice(case: Case, package: ExportPackage) -> int | None:
    """Queue (in the build's transaction) the notice that the answer masks other people's
    data: a partial refusal (Art. 15(4), 20(4)), told when it is decided, with the remedies
    (Art. 12(4)); once per case, whatever the rebuilds. Returns the e-mail's id, or None."""
    if db.session.scalar(select(OutboundEmail.id).where(
            OutboundEmail.case_id == case.id,
            OutboundEmail.template == MailTemplate.MASKED_DATA_NOTICE).limit(1)):
        return None
    return queue_email(case, MailTemplate.MASKED_DATA_NOTICE,
                       payload={"package_id": package.id}).id


def _replace_ready_package(case_id: int, digest: str, package: ExportPackage) -> list | None:
    """Make ``package`` the case's one ready package, expiring the one it replaces; the blobs
    to delete after the commit, or None (nothing done) when the build is not to land: the
    search results changed while it ran, or another build landed first. Every step is a
    compare-and-set and a partial unique index allows one ready package per case, so of two
    builds racing exactly one lands, on SQLite as on PostgreSQL."""
    case_moved = db.session.execute(
        update(Case).where(Case.id == case_id, Case.status == CaseStatus.REVIEW)
        .values(updated_at=utcnow()).execution_options(synchronize_session=False)).rowcount
    if case_moved != 1 or results_digest(case_id) != digest:
        return None
    ready = db.session.execute(select(ExportPackage.id, ExportPackage.blob_id,
                                      ExportPackage.results_digest)
                               .where(ExportPackage.case_id == case_id,
                                      ExportPackage.status == PackageStatus.READY)).all()
    if any(row.results_digest == digest for row in ready):
        return None
    if ready:
        expired = db.session.execute(
            update(ExportPackage)
            .where(ExportPackage.id.in_([row.id for row in ready]),
                   ExportPackage.status == PackageStatus.READY)
            .values(status=PackageStatus.EXPIRED, expired_at=utcnow(), blob_id=None)
            .execution_options(synchronize_session=False)).rowcount
        if expired != len(ready):
            return None
    db.session.add(package)
    try:
        db.session.flush()
    except IntegrityError:  # another build's package landed between the two statements
        return None
    return [row.blob_id for row in ready if row.blob_id]
