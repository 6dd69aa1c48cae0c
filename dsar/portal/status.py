"""Confirming the e-mail address, following a case, withdrawing it.

Access to a case needs the secret token of an e-mailed link. A valid link puts the case in the
visitor's session and redirects to a URL without the token (so it does not linger in history
or leak in a Referer); a wrong token answers exactly like an unknown reference: 404.

Links end with the case (``dsar.cases.links``): past the download period after closing, a valid
link, and a session it let in, get a page saying the link has expired (410). The session keeps
a mark of the case's salt with the reference, so a revocation (new salt) shuts it out too.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import (
    abort,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy import select

from dsar import deadlines, pipeline
from dsar.cases import staff_actions
from dsar.cases.clock import today_in_paris
from dsar.cases.links import links_alive
from dsar.cases.workflow import InvalidTransition, transition
from dsar.core import storage
from dsar.core.tokens import check_case_token, check_session_mark, normalise_reference, session_mark
from dsar.core.uploads import UploadRejected
from dsar.delivery import release
from dsar.extensions import db
from dsar.mail.outbox import queue_email
from dsar.models import (
    ActorType,
    AuditEvent,
    Case,
    CaseStatus,
    IdentityProof,
    MailTemplate,
    ProofKind,
)
from dsar.portal.blueprint import bp
from dsar.portal.forms import AnswerForm
from dsar.portal.intake import read_upload

logger = logging.getLogger(__name__)

SESSION_KEY = "cases"
SESSION_MAX_CASES = 20

#: Audit actions shown to the requester in the public history (downloads too: a download the
#: person did not make is a warning sign they can report).
PUBLIC_ACTIONS = ("case.created", "case.status_changed", "case.extended", "package.downloaded",
                  "package.transmitted")


def _case_by_token(reference: str, token: str, purpose: str) -> Case:
    """The case if ``token`` is right for it; 404 otherwise, whichever part is wrong; the
    expired-link page if the token is right but the case's links have ended."""
    case = db.session.scalar(select(Case).where(Case.reference == normalise_reference(reference)))
    # Compare against a dummy when the case is unknown, so both failures cost the same time.
    salt = case.token_salt if case else "0" * 32
    valid = check_case_token(case.reference if case else "DSR-0000-0000", salt, purpose, token)
    if case is None or not valid:
        abort(404)
    if not links_alive(case):
        _expired()
    return case


def _expired():
    """Answer that the link has expired (only to someone who held a valid link or session: the
    others get the 404 of an unknown reference)."""
    abort(make_response(render_template(
        "portal/link_expired.html", days=current_app.config["EXPORT_DAYS"]), 410))


def _granted() -> list[list[str]]:
    """The session's cases: ``[reference, mark of the salt]`` pairs (older sessions' bare
    references no longer count: their holder follows the link again)."""
    return [entry for entry in session.get(SESSION_KEY, [])
            if isinstance(entry, list) and len(entry) == 2]


def _forget(reference: str) -> None:
    session[SESSION_KEY] = [entry for entry in _granted() if entry[0] != reference]


def _grant(case: Case) -> None:
    granted = [entry for entry in _granted() if entry[0] != case.reference]
    session[SESSION_KEY] = [[case.reference, session_mark(case.reference, case.token_salt)],
                            *granted][:SESSION_MAX_CASES]


def granted_case(reference: str) -> Case:
    """The case a link let this session in to; 404 if none did, or if its links were revoked
    since (the salt's mark no longer matches); the expired-link page once they have ended."""
    mark = next((entry[1] for entry in _granted() if entry[0] == reference), None)
    if mark is None:
        abort(404)
    case = db.session.scalar(select(Case).where(Case.reference == reference))
    if case is None or not check_session_mark(case.reference, case.token_salt, mark):
        _forget(reference)
        abort(404)
    if not links_alive(case):
        _expired()
    return case


def _confirmation_open(case: Case) -> bool:
    days = current_app.config["CONFIRMATION_DAYS"]
    return case.received_on + timedelta(days=days) >= today_in_paris()


@bp.route("/confirm/<reference>/<token>", methods=["GET", "POST"])
def confirm(reference: str, token: str):
    """The e-mailed confirmation link. GET shows a button (mail scanners that follow links must
    not confirm on the person's behalf); POST confirms."""
    case = _case_by_token(reference, token, "confirm")
    if case.status is not CaseStatus.SUBMITTED:
        _grant(case)
        return redirect(url_for("portal.status", reference=case.reference))
    if not _confirmation_open(case):
        return render_template("portal/confirm_expired.html", case=case), 410
    if request.method == "POST":
        try:
            transition(case, CaseStatus.CONFIRMED, actor_type=ActorType.REQUESTER)
        except InvalidTransition:
            db.session.rollback()  # confirmed or withdrawn meanwhile in another tab
        else:
            outbound = queue_email(case, MailTemplate.ACKNOWLEDGEMENT)
            db.session.commit()
            pipeline.enqueue_email(outbound.id)
        _grant(case)
        return redirect(url_for("portal.status", reference=case.reference))
    return render_template("portal/confirm.html", case=case)


@bp.get("/status/<reference>/<token>")
def status_link(reference: str, token: str):
    """The e-mailed status link: remember the case in the session, drop the token from the URL."""
    case = _case_by_token(reference, token, "status")
    _grant(case)
    return redirect(url_for("portal.status", reference=case.reference))


@bp.get("/status/<reference>")
def status(reference: str):
    """The requester's view of the case: status in plain words, dates, public history."""
    return _render_status(granted_case(reference))


def _render_status(case: Case, answer_form: AnswerForm | None = None, code: int = 200):
    clock = deadlines.compute_deadlines(
        case.received_on,
        extended=case.extended,
        pauses=[(p.started_on, p.ended_on) for p in case.pauses],
        today=today_in_paris(),
        calendar=case.calendar,
    )
    history = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.case_id == case.id, AuditEvent.action.in_(PUBLIC_ACTIONS))
        .order_by(AuditEvent.id)
    ).all()
    question = staff_actions.open_info_request(case)
    package = release.released_package(case)
    return render_template("portal/status.html", case=case, clock=clock, history=history,
                           can_withdraw=case.status.is_open, question=question,
                           package=package, downloadable=release.is_downloadable(package),
                           answer_form=answer_form or AnswerForm()), code


@bp.post("/status/<reference>/answer")
def answer(reference: str):
    """The requester answers the open question (text, optional document); the clock resumes."""
    case = granted_case(reference)
    form = AnswerForm()
    if not form.validate():
        return _render_status(case, form, 400)
    try:
        upload = read_upload(form)
    except UploadRejected:
        return _render_status(case, form, 400)
    proof = None
    if upload is not None:
        data, content_type = upload
        blob = storage.put(data)
        proof = IdentityProof(kind=ProofKind.OTHER, blob_id=blob.blob_id, size=blob.size,
                              sha256=blob.sha256, content_type=content_type)
    try:
        staff_actions.answer_info(case, form.answer.data, proof)
    except staff_actions.ActionRefused:  # answered meanwhile (another tab): keep nothing new
        db.session.rollback()
        if proof is not None:
            storage.delete(proof.blob_id)
    return redirect(url_for("portal.status", reference=case.reference))


@bp.post("/status/<reference>/withdraw")
def withdraw(reference: str):
    """The requester withdraws the case (needs the confirmation box ticked)."""
    case = granted_case(reference)
    if request.form.get("confirm_withdraw") != "yes":
        return redirect(url_for("portal.status", reference=case.reference, withdraw="confirm"))
    try:
        transition(case, CaseStatus.WITHDRAWN, actor_type=ActorType.REQUESTER)
    except InvalidTransition:
        db.session.rollback()
        return redirect(url_for("portal.status", reference=case.reference))
    outbound = queue_email(case, MailTemplate.WITHDRAWN)
    db.session.commit()
    pipeline.enqueue_email(outbound.id)
    return redirect(url_for("portal.status", reference=case.reference))
