"""The life of identity documents: kept only until staff have decided, then deleted.

A proof (ID copy, mandate, death certificate…) is needed for one decision. It is deleted from
the encrypted store when identity is verified, when processing starts (a document sent in
answer to a later question has then served), and on every closing move (expired, withdrawn,
refused, completed). A periodic purge deletes whatever is left: documents of cases that moved
on or closed by a path that did not delete them, and uploads of cases never confirmed within
the confirmation period. Only the note of what was checked remains (docs/legal-rules.md §3).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import or_, select

from dsar.cases.clock import today_in_paris
from dsar.core import storage
from dsar.core.audit import record_event
from dsar.extensions import db
from dsar.models import ActorType, Case, CaseStatus, IdentityProof, ProofKind
from dsar.models.types import utcnow

logger = logging.getLogger(__name__)

#: Statuses after which no document of the case is needed any more: the identity decision is
#: behind (processing started) or the case is closed.
DECIDED_STATUSES = frozenset({CaseStatus.IN_PROGRESS, CaseStatus.REVIEW, CaseStatus.EXECUTING,
                              CaseStatus.RECORDED,
                              CaseStatus.VERIFYING, CaseStatus.COMPLETED, CaseStatus.REJECTED,
                              CaseStatus.WITHDRAWN, CaseStatus.EXPIRED})


def store_upload(upload: tuple[bytes, str], kind: ProofKind) -> IdentityProof:
    """A document the requester sent (bytes and their checked type), stored encrypted: its
    proof row, not yet added to a case. If the case is not committed, delete its blob."""
    data, content_type = upload
    blob = storage.put(data)
    return IdentityProof(kind=kind, blob_id=blob.blob_id, size=blob.size, sha256=blob.sha256,
                         content_type=content_type)


def copy_proof(proof: IdentityProof) -> IdentityProof:
    """A new, unsaved row for the same stored document as ``proof`` (a filing that tries
    again after its transaction was rolled back)."""
    return IdentityProof(kind=proof.kind, blob_id=proof.blob_id, size=proof.size,
                         sha256=proof.sha256, content_type=proof.content_type)


def delete_case_proofs(case: Case, note: str) -> list[int]:
    """Delete every stored document of ``case``, keeping ``note`` on each proof row; returns
    the ids deleted. The blob goes first: if the transaction then fails, the row still names
    a blob that no longer exists (an absence, never a leftover copy)."""
    deleted = []
    for proof in case.proofs:
        # The evidence of a receipt date (an e-mail, a scanned letter) proves when the clock
        # started, which is compliance evidence, not a proof of identity: it stays until the
        # retention period's purge (dsar.cases.retention).
        if proof.blob_id and proof.kind is not ProofKind.EVIDENCE:
            storage.delete(proof.blob_id)
            proof.blob_id = None
            proof.deleted_at = utcnow()
            proof.decision_note = note
            deleted.append(proof.id)
    return deleted


def closing_note(case: Case, target: CaseStatus, today: str) -> str:
    """What remains of the documents of a case that moved to ``target`` on ``today``."""
    if case.identity_note:
        return case.identity_note
    return f"deleted on {today} when the case became {target}; identity not checked"


def delete_after_move(case: Case, target: CaseStatus, today: str) -> list[int]:
    """Called by every status change: delete the documents once ``target`` means they have
    served (see ``DECIDED_STATUSES``). The caller audits the move."""
    if target not in DECIDED_STATUSES:
        return []
    return delete_case_proofs(case, closing_note(case, target, today))


def purge_leftover_proofs(now: datetime | None = None) -> int:
    """Delete the documents still stored for cases that are past their decision or closed,
    and for cases never confirmed within ``CONFIRMATION_DAYS``. Returns how many; each case
    gets one audit event. Commits."""

    now = now or utcnow()
    unconfirmed_before = now - timedelta(days=current_app.config["CONFIRMATION_DAYS"])
    cases = db.session.scalars(
        select(Case).where(Case.id.in_(select(IdentityProof.case_id)
                                       .where(IdentityProof.blob_id.is_not(None),
                                              IdentityProof.kind != ProofKind.EVIDENCE)))
        .where(or_(Case.status.in_(DECIDED_STATUSES),
                   (Case.status == CaseStatus.SUBMITTED)
                   & (Case.created_at < unconfirmed_before) & (Case.requester_email != "")))
        .order_by(Case.id)
    ).all()
    today = today_in_paris().isoformat()
    total = 0
    for case in cases:
        note = (closing_note(case, case.status, today) if case.status in DECIDED_STATUSES
                else f"deleted on {today}: the request was not confirmed in time")
        deleted = delete_case_proofs(case, note)
        record_event("proof.purged", case=case, actor_type=ActorType.SYSTEM,
                     payload={"proofs_deleted": deleted})
        total += len(deleted)
    db.session.commit()
    if total:
        logger.info("purged %d identity documents of %d cases", total, len(cases))
    return total
