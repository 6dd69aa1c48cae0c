"""The end of a closed case: after ``CASE_RETENTION_YEARS`` its personal data goes, what proves
compliance stays (docs/legal-rules.md §6).

A closed case is kept for a while as the organisation's proof that it answered, on time and
lawfully (GDPR arts. 5(2) and 12: a complaint to the CNIL or a court case can come years
later). Past that period nothing justifies keeping the person's data any longer (art. 5(1)(e)),
so a daily job removes it and marks the case ``purged_at``.

What stays is what a regulator asks to see, and none of it is the person's data as such:

- the case's reference, kind, channel, language, statuses and every date (received, due,
  extended, confirmed, verified, closed), who was in charge, whether it was flagged as possibly
  excessive;
- the decisions and the reasons staff wrote for them, because the law makes those reasons the
  decision itself: a refusal's or a partial refusal's reasons and the extension's (Art. 12(4)),
  the Art. 12(5) justification, the reasonable doubt that paused the clock (D8: it moved the
  due date), a DPO's exceptions and objection grounds, a restriction's lift reason, why a
  recipient could not be told (Art. 19). They are written by staff about the request;
- how identity was checked: the generated part of the note ("checked on D by staff N, method
  M"); the free words staff added after it can hold a document's number and go;
- counts, statuses and checksums of what was searched, changed and sent (the package's row,
  its SHA-256 and size, as after ``EXPORT_DAYS``), the deceased person's date of death and
  which directives decided (they are what an execution case's outcome rests on);
- the audit trail, untouched: it is hash-chained and holds ids and codes only.

What goes is everything the person gave or that describes them: name, e-mail address (and
its normalised copy), representative's name, identifiers, request details, message; the
questions asked and the person's answers (the question's date, and the pause's reason,
stay); staff's internal notes (their author and date stay); every stored blob of the case
(documents, search results, answer packages); every sealed column (identifiers searched with,
a plan's operations and corrections, download codes, the deceased's confirmed identifiers);
the versions of a withdrawn or refused case's post-mortem directives and the keyed hashes
that found them; and any e-mail still waiting to be sent to the person, which could no longer
be addressed (an e-mail's text is never stored: it is rendered when sent).

Never purged: open cases, a directive case that stands (``recorded``: the person's directives
wait for their death), and a restriction still in force (lifting it must first be announced to
the person, at the address this would remove). Never touched: the suppression list, the
restriction register and the supplementary statements (Art. 16): they exist to honour the
person's rights after the case, and hold only keyed hashes or sealed statements.

Each case is purged in a transaction of its own, claimed by a compare-and-set on
``purged_at`` (two runs at once purge it once) and audited as ``case.purged`` with counts
only. The blobs are deleted before that transaction commits, as everywhere in dsar: a crash
then leaves rows naming blobs that no longer exist (an absence, never a leftover copy) and
``purged_at`` unset, so the next run finishes the case (deleting a missing blob is a no-op).
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, date, datetime, time

from flask import current_app
from sqlalchemy import delete, exists, func, select, update

from dsar.cases.clock import today_in_paris
from dsar.changes.restriction import IN_FORCE
from dsar.core import storage
from dsar.core.audit import record_event
from dsar.deadlines import PARIS, add_months
from dsar.extensions import db
from dsar.models import (
    CLOSED_STATUSES,
    ActorType,
    Case,
    CaseKind,
    CaseNote,
    ChangePlan,
    ChangeStep,
    DeceasedMatch,
    DirectiveKey,
    DirectiveVersion,
    DownloadCode,
    ExportPackage,
    IdentityProof,
    InfoRequest,
    MailStatus,
    OutboundEmail,
    PackageStatus,
    RestrictionEntry,
    SourceResult,
)
from dsar.models.types import utcnow

logger = logging.getLogger(__name__)

#: The audit action of a purge (its payload: counts only).
PURGED_EVENT = "case.purged"
#: What ``dsar.cases.staff_actions.verify_identity`` generates before the staff's own words.
_CHECKED = re.compile(r"^(checked on \S+ by staff \d+, method [a-z_]+): ")
#: ``OutboundEmail.last_error`` of an e-mail the purge cancelled (a code, like the others).
CANCELLED = "CasePurged"


def retention_cutoff(today: date) -> datetime:
    """The instant before which a case must have closed to be purged on ``today``: the start,
    in Paris, of the same day ``CASE_RETENTION_YEARS`` years earlier (29 February → 28)."""
    years = int(current_app.config["CASE_RETENTION_YEARS"])
    first_kept_day = add_months(today, -12 * years)
    return datetime.combine(first_kept_day, time(0), tzinfo=PARIS).astimezone(UTC)


def due_cases(today: date) -> list[int]:
    """The ids of the closed cases past the retention period and not yet purged."""
    restricted = (exists().where(ChangePlan.case_id == Case.id,
                                 ChangePlan.status.in_(IN_FORCE),
                                 ChangePlan.lifted_at.is_(None))
                  | exists().where(RestrictionEntry.case_id == Case.id,
                                   RestrictionEntry.lifted_at.is_(None)))
    return list(db.session.scalars(
        select(Case.id).where(
            Case.status.in_(CLOSED_STATUSES), Case.purged_at.is_(None),
            # A case closed before ``closed_at`` was recorded: its last change is the closing.
            func.coalesce(Case.closed_at, Case.updated_at) < retention_cutoff(today),
            ~((Case.kind == CaseKind.RESTRICTION) & restricted))
        .order_by(Case.id)))


def purge_expired_cases(today: date | None = None, *, actor_id: str | None = None) -> int:
    """Remove the personal data of every case closed longer than ``CASE_RETENTION_YEARS``
    before ``today`` (Paris), keeping what proves compliance (this module's docstring says
    what and why). Each case commits on its own; a case already purged, or moved meanwhile,
    is left alone. Returns how many cases were purged."""
    today = today or today_in_paris()
    purged = 0
    for case_id in due_cases(today):
        try:
            purged += purge_case(case_id, actor_id=actor_id)
        except Exception as exc:  # one case's fault must not hold back the others
            db.session.rollback()
            logger.error("case %s: its personal data could not be purged (%s); next run",
                         case_id, type(exc).__name__)
    if purged:
        logger.info("purged the personal data of %d closed cases", purged)
    return purged


def purge_case(case_id: int, *, actor_id: str | None = None) -> bool:
    """Purge one closed case (see the module's docstring) and commit; False, changing
    nothing, if it is not closed or was purged already."""
    case = db.session.get(Case, case_id)
    if case is None or case.purged_at is not None or case.status not in CLOSED_STATUSES:
        db.session.rollback()
        return False
    claimed = db.session.execute(
        update(Case).where(Case.id == case_id, Case.purged_at.is_(None),
                           Case.status.in_(CLOSED_STATUSES))
        .values(purged_at=utcnow(), requester_name="", requester_email="",
                email_normalized="", representative_name=None, identifiers={}, details={},
                message=None, identity_note=_checked_part(case.identity_note))
        .execution_options(synchronize_session=False)).rowcount
    if claimed != 1:  # purged by another run meanwhile
        db.session.rollback()
        return False
    counts, blobs = _forget_related(case_id)
    db.session.expire(case)
    record_event(PURGED_EVENT, case=case, actor_type=ActorType.SYSTEM, actor_id=actor_id,
                 payload={**counts, "blobs_deleted": len(blobs)})
    # Before the commit: a crash leaves the case unmarked, and the next run finishes it.
    for blob_id in blobs:
        storage.delete(blob_id)
    db.session.commit()
    return True


def _checked_part(note: str | None) -> str | None:
    """The generated part of an identity note, without the words staff added after it."""
    if note is None:
        return None
    match = _CHECKED.match(note)
    return match.group(1) if match else note


def _forget_related(case_id: int) -> tuple[dict[str, int], list[str]]:
    """Empty the case's other rows of personal data (in the caller's transaction); returns
    the counts for the audit event and the blob ids to delete."""
    session = db.session
    blobs: list[str] = []
    proofs = session.scalars(select(IdentityProof).where(IdentityProof.case_id == case_id)).all()
    for proof in proofs:
        if proof.blob_id:
            blobs.append(proof.blob_id)
            proof.blob_id, proof.deleted_at = None, proof.deleted_at or utcnow()
        proof.decision_note = _checked_part(proof.decision_note)
    results = session.scalars(select(SourceResult.result_blob_id).where(
        SourceResult.case_id == case_id, SourceResult.result_blob_id.is_not(None))).all()
    blobs += results
    session.execute(update(SourceResult).where(SourceResult.case_id == case_id)
                    .values(result_blob_id=None, input_sealed=None, input_digest=None))
    packages = session.scalars(select(ExportPackage.blob_id).where(
        ExportPackage.case_id == case_id, ExportPackage.blob_id.is_not(None))).all()
    blobs += packages
    session.execute(update(ExportPackage).where(ExportPackage.case_id == case_id,
                                                ExportPackage.blob_id.is_not(None))
                    .values(blob_id=None, status=PackageStatus.EXPIRED,
                            expired_at=func.coalesce(ExportPackage.expired_at, utcnow())))
    session.execute(update(DownloadCode).where(DownloadCode.case_id == case_id)
                    .values(sealed_code=None))
    notes = session.execute(update(CaseNote).where(CaseNote.case_id == case_id)
                            .values(body="")).rowcount
    questions = session.execute(update(InfoRequest).where(InfoRequest.case_id == case_id)
                                .values(question="")).rowcount
    # An answered question keeps an (empty) answer: its date says it was answered.
    session.execute(update(InfoRequest).where(InfoRequest.case_id == case_id,
                                              InfoRequest.answer.is_not(None))
                    .values(answer=""))
    session.execute(update(ChangePlan).where(ChangePlan.case_id == case_id)
                    .values(items_sealed=None))
    session.execute(update(ChangeStep).where(ChangeStep.case_id == case_id)
                    .values(operations_sealed=None))
    directive_versions = session.execute(
        delete(DirectiveVersion).where(DirectiveVersion.case_id == case_id)).rowcount
    session.execute(delete(DirectiveKey).where(DirectiveKey.case_id == case_id))
    _forget_deceased(case_id)
    cancelled = session.execute(
        update(OutboundEmail).where(OutboundEmail.case_id == case_id,
                                    OutboundEmail.recipient_staff_id.is_(None),
                                    OutboundEmail.status == MailStatus.PENDING)
        .values(status=MailStatus.FAILED, last_error=CANCELLED)).rowcount
    counts = {"proofs": len(proofs), "search_results": len(results), "packages": len(packages),
              "notes": notes, "questions": questions,
              "directive_versions": directive_versions, "emails_cancelled": cancelled}
    return counts, blobs


def _forget_deceased(case_id: int) -> None:
    """Seal empty identifiers in place of the deceased's (the column is required, and
    ``dsar.postmortem.matching`` opens it under this context); the date and outcome stay."""
    empty = json.dumps({"email": "", "customer_number": ""}).encode()
    db.session.execute(update(DeceasedMatch).where(DeceasedMatch.case_id == case_id).values(
        identity_sealed=storage.seal(empty, f"deceased_matches:{case_id}:identity")))
