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

from sqlalchemy import select

from dsar.core import storage
from dsar.core.audit import record_event
from dsar.core.keys import derived_key
from dsar.exports.content import build_content
from dsar.exports.package import write_package
from dsar.exports.pdf import report_member
from dsar.extensions import db
from dsar.models import (
    ActorType,
    Case,
    CaseKind,
    CaseStatus,
    ExportPackage,
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
    (``not-in-review``, ``already-built``)."""
    case = db.session.get(Case, case_id)
    if case is None or case.status is not CaseStatus.REVIEW:
        return "not-in-review"
    digest = results_digest(case_id)
    latest = current_package(case_id)
    if latest is not None and latest.results_digest == digest:
        return "already-built"
    scope = package_scope(case)
    content = build_content(case, scope=scope)
    extra = [report_member(content)] if scope == "access" else []
    with storage.writer() as out:
        manifest = write_package(content, out, extra=extra)
    blob = out.blob
    stale = list(db.session.scalars(select(ExportPackage).where(
        ExportPackage.case_id == case_id, ExportPackage.status == PackageStatus.READY)))
    package = ExportPackage(case_id=case_id, status=PackageStatus.READY, blob_id=blob.blob_id,
                            size=blob.size, sha256=blob.sha256, results_digest=digest,
                            record_count=manifest.records, file_count=len(manifest.files) + 1,
                            scope=scope, redaction_count=len(content.limitations.redactions))
    db.session.add(package)
    for old in stale:
        old.status, old.expired_at = PackageStatus.EXPIRED, utcnow()
    db.session.flush()
    record_event("package.built", case=case, actor_type=ActorType.WORKER, actor_id=actor_id,
                 payload={"package_id": package.id, "scope": scope,
                          "records": manifest.records, "files": package.file_count,
                          "size": blob.size, "redactions": package.redaction_count})
    # Read before the commit expires them (each would cost a query after it).
    package_id, redactions = package.id, package.redaction_count
    old_blobs = [old.blob_id for old in stale if old.blob_id]
    db.session.commit()
    for blob_id in old_blobs:
        storage.delete(blob_id)
    logger.info("case %s: %s package %s built (%d records, %d redactions)", case_id, scope,
                package_id, manifest.records, redactions)
    return "built"
