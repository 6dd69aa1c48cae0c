"""The answer to an erasure request: the certificate (``dsar.exports.certificate``) of what
was erased, anonymised and kept, built once the plan is verified and stored like an answer
package (scope ``erasure``), which the DPO releases and the requester downloads with the same
one-time code flow."""

from __future__ import annotations

import logging
import zipfile

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from dsar.cases.clock import today_in_paris
from dsar.changes.notices import all_decided, notices_of
from dsar.changes.plan import plan_of, planned_collections
from dsar.core import storage
from dsar.core.audit import record_event
from dsar.deadlines import paris_date
from dsar.exports.build import results_digest
from dsar.exports.certificate import CERTIFICATE_PDF, render_certificate
from dsar.exports.certificate_content import (
    CertificateContent,
    CertificateLine,
    CertificateRecipient,
    controller_of,
)
from dsar.extensions import db
from dsar.models import (
    ActorType,
    Case,
    CaseStatus,
    ExportPackage,
    PackageScope,
    PackageStatus,
    PlanStatus,
)
from dsar.models.types import utcnow
from dsar.sources.catalog import get_catalog

logger = logging.getLogger(__name__)

#: The plan's actions in the certificate's words.
CERTIFICATE_ACTIONS = {"delete": "erased", "anonymize": "anonymized", "redact": "redacted",
                       "retain": "kept"}


def certificate_content(case: Case) -> CertificateContent:
    """What the certificate of ``case`` says, from its verified plan."""
    plan = plan_of(case)
    lines = [CertificateLine(source_label=p.source_label, collection_label=p.collection_label,
                             action=CERTIFICATE_ACTIONS[p.action], count=p.count,
                             basis=p.basis if p.kept and not p.exception else None,
                             until=p.until if p.kept else None,
                             reason=p.reason if p.exception else None)
             for p in planned_collections(case, plan)]
    config = current_app.config
    register = get_catalog().register
    recipients = tuple(
        CertificateRecipient(
            name=register.recipients[n.recipient].legal_name
            if n.recipient in register.recipients else n.recipient,
            outcome=str(n.status), reason=n.reason)
        for n in notices_of(case))
    return CertificateContent(
        reference=case.reference, requester_name=case.requester_name,
        language=case.language, received_on=case.received_on,
        carried_out_on=paris_date(plan.verified_at) if plan.verified_at else today_in_paris(),
        controller=controller_of(get_catalog().register, config.get("ORGANISATION_NAME", ""),
                                 config.get("DPO_EMAIL")),
        ground=(case.details or {}).get("erasure_ground") or None,
        lines=tuple(lines), recipients=recipients,
        representative_name=case.representative_name,
        verified_on=paris_date(plan.verified_at) if plan.verified_at else None)


def build_certificate(case_id: int, *, actor_id: str | None = None) -> str:
    """Build and store the certificate of a case whose plan is verified. Returns ``built``,
    or why nothing was done (``not-verified``, ``already-built``, ``superseded``)."""
    case = db.session.get(Case, case_id)
    plan = plan_of(case) if case is not None else None
    if plan is None or case.status is not CaseStatus.REVIEW or \
            plan.status is not PlanStatus.VERIFIED:
        return "not-verified"
    if not all_decided(case_id):
        return "notices-pending"  # built once every recipient's notice has ended
    if db.session.scalar(select(ExportPackage.id).where(
            ExportPackage.case_id == case_id, ExportPackage.status == PackageStatus.READY)):
        return "already-built"
    pdf = render_certificate(certificate_content(case))
    with storage.writer() as out, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(CERTIFICATE_PDF, pdf)
    blob = out.blob
    lines = planned_collections(case, plan)
    package = ExportPackage(case_id=case_id, status=PackageStatus.READY, blob_id=blob.blob_id,
                            size=blob.size, sha256=blob.sha256,
                            results_digest=results_digest(case_id),
                            record_count=sum(p.count for p in lines), file_count=1,
                            scope=PackageScope.ERASURE, redaction_count=0)
    # Lands only if the case is still in review (compare-and-set) and no other build landed
    # (the unique index of ready packages).
    still = db.session.execute(
        update(Case).where(Case.id == case_id, Case.status == CaseStatus.REVIEW)
        .values(updated_at=utcnow()).execution_options(synchronize_session=False)).rowcount
    try:
        if still != 1:
            raise IntegrityError("case moved", None, Exception())
        db.session.add(package)
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        storage.delete(blob.blob_id)
        return "superseded"
    record_event("package.built", case=case, actor_type=ActorType.WORKER, actor_id=actor_id,
                 payload={"package_id": package.id, "scope": "erasure", "files": 1,
                          "records": package.record_count, "size": blob.size})
    db.session.commit()
    logger.info("case %s: erasure certificate built", case_id)
    return "built"
