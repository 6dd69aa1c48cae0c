"""What the requester does on their case from the e-mailed links: confirm the address,
answer a question, withdraw; and what the status page shows them of its history.

The portal's views check the link (``dsar.cases.links``) and the session, then call these.
Each change is audited, and its e-mail queued, in the change's transaction; the functions
commit, then enqueue. A move that is no longer possible (done meanwhile in another tab)
changes nothing.
"""

from __future__ import annotations

from functools import cache

from flask_babel import lazy_gettext as _l
from sqlalchemy import Row, Select, bindparam, or_, select

from dsar.cases.clock import today_in_paris
from dsar.cases.proofs import store_upload
from dsar.cases.refusals import ActionRefused, required_text
from dsar.cases.workflow import InvalidTransition, refresh_due_date, transition
from dsar.core import storage
from dsar.core.audit import record_event
from dsar.extensions import db
from dsar.mail.outbox import commit_and_send, queue_email
from dsar.models import (
    ActorType,
    AuditEvent,
    Case,
    CaseStatus,
    IdentityProof,
    InfoRequest,
    MailTemplate,
    ProofKind,
)
from dsar.models.types import utcnow

#: Audit actions shown to the requester in the public history (downloads too: a download the
#: person did not make is a warning sign they can report).
PUBLIC_ACTIONS = ("case.created", "case.status_changed", "case.extended", "package.downloaded",
                  "package.transmitted")


@cache
def _public_history_query():
    # Built once (building a statement costs more than running its cached compilation); the
    # three columns the page shows, as rows rather than whole audit events. The actions as
    # equalities rather than IN: an IN list is expanded into the SQL at every execution.
    return (select(AuditEvent.action, AuditEvent.created_at, AuditEvent.payload)
            .where(AuditEvent.case_id == bindparam("case_id"),
                   or_(*(AuditEvent.action == action for action in PUBLIC_ACTIONS)))
            .order_by(AuditEvent.id))


def public_history(case: Case) -> list[Row]:
    """The events of ``case`` its requester may see, oldest first: rows of ``action``,
    ``created_at`` and ``payload``."""
    return list(db.session.execute(_public_history_query(), {"case_id": case.id}))


def _requester_move(case: Case, target: CaseStatus, template: MailTemplate) -> bool:
    """Move ``case`` to ``target`` at the requester's request and tell them by e-mail; False
    (rolled back, nothing changed) if the state machine no longer allows it."""
    try:
        transition(case, target, actor_type=ActorType.REQUESTER)
    except InvalidTransition:
        db.session.rollback()
        return False
    commit_and_send(queue_email(case, template))
    return True


def confirm_address(case: Case) -> bool:
    """The requester confirms their e-mail address (the POST behind the e-mailed link): the
    case is confirmed and acknowledged by e-mail. False if it was confirmed or withdrawn
    meanwhile (another tab). Whether the link still confirms is
    ``dsar.cases.intake.confirmation_open``. An objection to direct marketing is then taken
    up by the system at once (``dsar.changes.marketing``); post-mortem directives are recorded
    (``dsar.postmortem.directives``)."""
    moved = _requester_move(case, CaseStatus.CONFIRMED, MailTemplate.ACKNOWLEDGEMENT)
    if moved:
        from dsar.changes.marketing import take_up
        from dsar.postmortem import directives

        take_up(case)
        directives.take_up(case)
    return moved


def withdraw(case: Case) -> bool:
    """The requester withdraws the case; they are told by e-mail. False if it is closed
    already."""
    return _requester_move(case, CaseStatus.WITHDRAWN, MailTemplate.WITHDRAWN)


def open_info_request_query(case_id) -> Select:
    """The statement of :func:`open_info_request` for ``case_id`` (a value or a column, for a
    correlated subquery)."""
    return (select(InfoRequest)
            .where(InfoRequest.case_id == case_id, InfoRequest.answered_at.is_(None))
            .order_by(InfoRequest.id.desc()).limit(1))


def open_info_request(case: Case) -> InfoRequest | None:
    """The question waiting for the requester's answer, if any."""
    return db.session.scalar(open_info_request_query(case.id))


def answer_question(case: Case, answer: str, upload: tuple[bytes, str] | None = None) -> None:
    """The requester answers the open question, with a document if ``upload`` (bytes, checked
    type) is given, stored encrypted: the clock resumes from today and the case goes back to
    where it was. Refused (``ActionRefused``) when no question is open, answered meanwhile
    in another tab for instance; the document is then deleted and nothing is kept."""
    proof = store_upload(upload, ProofKind.OTHER) if upload is not None else None
    try:
        _record_answer(case, answer, proof)
    except ActionRefused:
        db.session.rollback()
        if proof is not None:
            storage.delete(proof.blob_id)
        raise


def _record_answer(case: Case, answer: str, proof: IdentityProof | None) -> None:
    request = open_info_request(case)
    if request is None or case.status is not CaseStatus.NEEDS_INFO:
        raise ActionRefused(_l("There is no open question on this request."))
    request.answer = required_text(answer, _l("Please write your answer."))
    request.answered_at = utcnow()
    if proof is not None:
        case.proofs.append(proof)
        db.session.flush()
        request.answer_proof_id = proof.id
    if request.pause is not None:  # only a doubt about identity paused the clock
        request.pause.ended_on = today_in_paris()
    try:
        transition(case, request.resume_status, actor_type=ActorType.REQUESTER,
                   payload={"info_request_id": request.id})
    except InvalidTransition:  # staff moved the case the same instant
        db.session.rollback()
        raise ActionRefused(_l("There is no open question on this request.")) from None
    refresh_due_date(case)
    record_event("case.info_answered", case=case, actor_type=ActorType.REQUESTER,
                 payload={"info_request_id": request.id, "proof": proof.id if proof else None})
    db.session.commit()
