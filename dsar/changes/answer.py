"""The answer to a request that changes data: the letter (``dsar.exports.certificate``) of
what was done — erased, anonymised and kept (erasure), corrected or completed by a statement
(rectification), restricted (restriction), unsubscribed or stopped (objection) — built once the
plan is verified and stored like an answer package (scope: the case's kind), which the DPO
releases and the requester downloads with the same one-time code flow."""

from __future__ import annotations

import logging
import zipfile

from flask import current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from dsar.cases.clock import today_in_paris
from dsar.changes.notices import all_decided, notices_of
from dsar.changes.objection import processing_label
from dsar.changes.plan import plan_of, planned_collections
from dsar.changes.rectification import items_of
from dsar.core import storage
from dsar.core.audit import record_event
from dsar.deadlines import paris_date
from dsar.exports.build import results_digest
from dsar.exports.certificate import CERTIFICATE_PDF, certificate_member, render_certificate
from dsar.exports.certificate_content import (
    CertificateContent,
    CertificateLine,
    CertificateRecipient,
    CorrectionLine,
    HandedOverLine,
    ObjectionDecision,
    controller_of,
)
from dsar.exports.content import ExportContent
from dsar.exports.package import write_package
from dsar.extensions import db
from dsar.models import (
    ActorType,
    Case,
    CaseKind,
    CaseStatus,
    ExportPackage,
    PackageScope,
    PackageStatus,
    PlanStatus,
)
from dsar.models.types import utcnow
from dsar.postmortem import heirs
from dsar.postmortem.copy import copy_content
from dsar.postmortem.matching import DIRECTIVES, match_of
from dsar.sources.catalog import get_catalog

logger = logging.getLogger(__name__)

#: The plan's actions in the letter's words.
CERTIFICATE_ACTIONS = {"delete": "erased", "anonymize": "anonymized", "redact": "redacted",
                       "retain": "kept", "restrict": "restricted",
                       "not_restrictable": "not_restricted", "unsubscribe": "unsubscribed",
                       "update": "corrected", "statement": "statement", "left": "left"}
#: Why a restriction could not be applied in a source (the letter says it in words): the
#: restriction register covers a restriction's; nothing covers an objection's.
NOT_RESTRICTABLE = {
    CaseKind.RESTRICTION: _l("This system offers no way to mark data as restricted; your data "
                             "there is covered by our register of restrictions, which our "
                             "teams and tools check before any use."),
    CaseKind.OBJECTION: _l("This system offers no way to mark data as restricted: the "
                           "processing could not be stopped there this way."),
}


def certificate_content(case: Case, copy: ExportContent | None = None) -> CertificateContent:
    """What the answer letter of ``case`` says, from its verified plan (and, for a deceased
    person's rights, the ``copy`` handed over with it)."""
    plan = plan_of(case)
    planned = planned_collections(case, plan)
    with force_locale(case.language):
        not_restrictable = str(NOT_RESTRICTABLE.get(case.kind, ""))
    lines = [CertificateLine(source_label=p.source_label, collection_label=p.collection_label,
                             action=CERTIFICATE_ACTIONS[p.action], count=p.count,
                             basis=p.basis if p.kept and not p.exception else None,
                             until=p.until if p.kept else None,
                             reason=(p.reason if p.exception else not_restrictable
                                     if p.action == "not_restrictable" else None))
             for p in planned if case.kind is not CaseKind.RECTIFICATION]
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
        verified_on=paris_date(plan.verified_at) if plan.verified_at else None,
        kind=str(case.kind), **_kind_parts(case, plan, planned, copy))


def _kind_parts(case: Case, plan, planned, copy: ExportContent | None = None) -> dict:
    """The parts of the letter only one kind has."""
    if case.kind is CaseKind.POSTMORTEM_EXECUTION:
        return postmortem_parts(case, copy)
    if case.kind is CaseKind.RECTIFICATION:
        return {"corrections": correction_lines(case, plan, planned)}
    if case.kind is CaseKind.RESTRICTION:
        return {"lift_on": plan.lift_on}
    if case.kind is CaseKind.OBJECTION:
        target = (case.details or {}).get("objection_target")
        target = "direct_marketing" if target == "direct_marketing" else "other"
        return {"objection_target": target,
                "decisions": () if target == "direct_marketing" else objection_decisions(
                    case, plan)}
    return {}


def correction_lines(case: Case, plan, planned) -> tuple[CorrectionLine, ...]:
    """Each field corrected or completed by a statement, then each refused correction."""
    labels = {(p.source, p.collection): p for p in planned}
    sources = get_catalog().sources
    items = items_of(plan)
    lines = []
    for c in items["corrections"]:
        p = labels.get((c["source"], c["collection"]))
        if p is None:
            continue
        # Planned, so declared: the field in words as sources.toml names it.
        config = sources[p.source].collections[p.collection]
        lines.append(CorrectionLine(
            source_label=p.source_label, collection_label=p.collection_label,
            field_label=config.field_label(c["field"], case.language),
            old_value=c["old"], new_value=c["new"],
            outcome="corrected" if p.action == "update" else "statement"))
    lines += [CorrectionLine(source_label="", collection_label="", field_label=r["what"],
                             old_value=None, new_value=None, outcome="refused",
                             reason=r["reason"]) for r in items["refused"]]
    return tuple(lines)


def objection_decisions(case: Case, plan) -> tuple[ObjectionDecision, ...]:
    """The DPO's decision on each processing objected to, in the register's words."""
    register = get_catalog().register
    decided = []
    for name, entry in sorted((plan.decisions or {}).items()):
        processing = register.processing.get(name)
        label = processing_label(processing, case.language) if processing else name
        decided.append(ObjectionDecision(
            processing_label=label,
            decision="grounds" if entry.get("decision") == "grounds" else "stopped",
            text=entry.get("text")))
    return tuple(decided)


def postmortem_parts(case: Case, copy: ExportContent | None) -> dict:
    """Whose data, when they died, on what basis, and the copy handed over."""
    details = case.details or {}
    match = match_of(case)
    catalog = get_catalog()
    handed = []
    for source in (copy.sources if copy else ()):
        config = catalog.sources.get(source.name)
        for collection in source.collections:
            if collection.record_count:
                label = (config.collections[collection.name].label(case.language)
                         if config and collection.name in config.collections
                         else collection.name)
                handed.append(HandedOverLine(source.label, label, collection.record_count))
    return {"deceased_name": details.get("deceased_name") or "-",
            "died_on": match.date_of_death if match else None,
            "postmortem_basis": "directives" if match and match.outcome == DIRECTIVES
            else "heir",
            "heir_requests": tuple(heirs.requests_of(details)),
            "handed_over": tuple(handed)}


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
    copy = (copy_content(case, plan) if case.kind is CaseKind.POSTMORTEM_EXECUTION else None)
    letter = certificate_content(case, copy)
    if copy is not None:
        # The copy's data files and manifest, the letter beside them.
        with storage.writer() as out:
            manifest = write_package(copy, out, extra=[certificate_member(letter)])
        files = len(manifest.files) + 1
    else:
        pdf = render_certificate(letter)
        with storage.writer() as out, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(CERTIFICATE_PDF, pdf)
        files = 1
    blob = out.blob
    lines = planned_collections(case, plan)
    package = ExportPackage(case_id=case_id, status=PackageStatus.READY, blob_id=blob.blob_id,
                            size=blob.size, sha256=blob.sha256,
                            results_digest=results_digest(case_id),
                            record_count=sum(p.count for p in lines), file_count=files,
                            scope=PackageScope(str(case.kind)), redaction_count=0)
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
                 payload={"package_id": package.id, "scope": str(case.kind), "files": files,
                          "records": package.record_count, "size": blob.size})
    db.session.commit()
    logger.info("case %s: answer letter built", case_id)
    return "built"
