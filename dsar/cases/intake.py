"""Filing a request from the portal: the proof document stored encrypted, the case opened (and
flagged for staff when its address files more than the daily count) and the confirmation e-mail
queued, all or nothing; and the window the requester has to confirm their address
(``CONFIRMATION_DAYS``)."""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache

from flask import current_app
from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError

from dsar.cases.clock import today_in_paris
from dsar.cases.proofs import copy_proof, store_upload
from dsar.cases.workflow import open_case, record_created, reference_taken
from dsar.core import storage
from dsar.core.audit import record_event
from dsar.core.tokens import new_reference
from dsar.deadlines import paris_date
from dsar.extensions import db
from dsar.mail.outbox import commit_and_send, queue_email
from dsar.models import Case, CaseKind, IdentityProof, MailTemplate, ProofKind
from dsar.models.case import POSSIBLY_EXCESSIVE_EVENT
from dsar.models.types import utcnow


def requests_in_last_day(email: str) -> int:
    """How many requests ``email`` filed in the last 24 hours (the one being filed included
    once it is flushed)."""
    return db.session.scalar(_count_since_query(), {
        "email": email.strip().lower(), "since": utcnow() - timedelta(days=1)})


@cache
def _count_since_query():
    # Built once: every filing runs it, and building a statement costs more than running it.
    return select(func.count(Case.id)).where(Case.email_normalized == bindparam("email"),
                                             Case.received_at >= bindparam("since"))


def flag_if_excessive(case: Case) -> None:
    """Flag ``case`` as possibly excessive when its address filed more than
    ``RATELIMIT_INTAKE_PER_EMAIL_PER_DAY`` requests in 24 hours, with an audit event of its own
    (the count only). Never a refusal: the e-mail link is the first identity check, so a flood
    of requests must be seen by staff, but whether one is excessive (Art. 12(5)) is the DPO's
    written decision, not the software's."""
    count = requests_in_last_day(case.email_normalized)
    if count <= current_app.config["RATELIMIT_INTAKE_PER_EMAIL_PER_DAY"]:
        return
    case.possibly_excessive = True
    record_event(POSSIBLY_EXCESSIVE_EVENT, case=case, payload={"requests_in_24h": count})


def proof_kind(kind: CaseKind, *, representative: bool) -> ProofKind:
    """What the form's general document proves: a mandate when someone acts for the person;
    for the rights of a deceased person something else (their proofs have fields of their
    own); the person's identity otherwise."""
    if representative:
        return ProofKind.MANDATE
    if kind is CaseKind.POSTMORTEM_EXECUTION:
        return ProofKind.OTHER
    return ProofKind.IDENTITY


#: How many references one filing may draw. A reference is 8 symbols of 30 (about 39 bits):
#: against ten million cases a second draw is needed about once in 65,000 filings, a third
#: about once in four billion.
REFERENCE_DRAWS = 3


def file_case(kind: CaseKind, *, requester_name: str, requester_email: str, language: str,
              identifiers: dict[str, str | None], details: dict, message: str | None,
              representative_name: str | None,
              upload: tuple[bytes, str] | None,
              documents: list[tuple[tuple[bytes, str], ProofKind]] = ()) -> str:
    """Open a case from the portal's form: store the proof ``upload`` and the labelled
    ``documents`` (bytes and checked type, with what each proves) encrypted, create the case
    with the identifiers given (empty ones dropped), flag it if its address filed too many
    today, queue the confirmation e-mail, commit, then enqueue it; returns the new case's
    reference. If anything fails, the stored documents are deleted: no ciphertext is left for
    a case that does not exist."""
    proofs = []
    try:
        if upload is not None:
            # A representative's name as typed, as the form judged it when it asked for the
            # mandate.
            proofs.append(store_upload(
                upload, proof_kind(kind, representative=bool(representative_name))))
        for document, document_kind in documents:
            proofs.append(store_upload(document, document_kind))
    except Exception:
        for proof in proofs:
            storage.delete(proof.blob_id)
        raise
    fields = dict(
        kind=kind,
        requester_name=requester_name.strip(),
        requester_email=requester_email.strip(),
        language=language,
        identifiers={key: value.strip() for key, value in identifiers.items()
                     if value and value.strip()},
        details=details,
        message=(message or "").strip(),
        representative_name=(representative_name or "").strip(),
    )
    draws = 1
    try:
        while True:
            try:
                return _open_and_commit(fields, proofs)
            except IntegrityError as error:
                db.session.rollback()
                if draws == REFERENCE_DRAWS or not reference_taken(error):
                    raise
                draws += 1
                # New rows for the same documents: those of the rolled-back attempt are not
                # reused in the next transaction.
                proofs = [copy_proof(proof) for proof in proofs]
    except Exception:
        db.session.rollback()
        for proof in proofs:
            storage.delete(proof.blob_id)
        raise


def _open_and_commit(fields: dict, proofs: list[IdentityProof]) -> str:
    """One attempt at filing: the case under a reference drawn without looking it up (the
    cases' unique reference refuses one already in use: see :func:`file_case`), its e-mail,
    its audit events, the commit; returns the reference."""
    case = open_case(**fields, proofs=proofs, reference=new_reference())
    outbound = queue_email(case, MailTemplate.CONFIRM_EMAIL)
    # The audit events last: recording one locks the chain's head until the commit, and
    # every other filing waits for it meanwhile (on PostgreSQL; SQLite locks the whole
    # database from the case's insert anyway).
    record_created(case, proofs)
    # Counted under that lock: filings from one address at the same moment are counted
    # one after the other, each seeing those committed before it, so a flood is flagged.
    flag_if_excessive(case)
    # Read before the commit, which expires the case (reading it after would reload it).
    reference = case.reference
    # Enqueuing never raises (the sweep retries), so only the commit can fail here.
    commit_and_send(outbound)
    return reference


def confirmation_deadline(case: Case) -> date:
    """The last day the requester may confirm their address; the case expires after it.
    Counted from the day the case was filed (a request received by post last week and filed
    today by staff has its days to be confirmed)."""
    filed_on = paris_date(case.created_at) if case.created_at else case.received_on
    return filed_on + timedelta(days=current_app.config["CONFIRMATION_DAYS"])


def confirmation_open(case: Case) -> bool:
    """Whether the confirmation link still confirms (today, Paris time, is not past the last
    day)."""
    return confirmation_deadline(case) >= today_in_paris()
