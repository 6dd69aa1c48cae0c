"""Confirming the e-mail address, following a case, answering a question, withdrawing it
(the rules: ``dsar.cases.requester_actions``); reading, changing and revoking post-mortem
directives (``dsar.postmortem.directives``).

Access to a case needs the secret token of an e-mailed link. A valid link puts the case in the
visitor's session and redirects to a URL without the token (so it does not linger in history
or leak in a Referer); a wrong token answers exactly like an unknown reference: 404.

Links end with the case (``dsar.cases.links``): past the download period after closing, a valid
link, and a session it let in, get a page saying the link has expired (410). The session keeps
a mark of the case's salt with the reference, so a revocation (new salt) shuts it out too.
"""

from __future__ import annotations

from contextlib import suppress

from flask import (
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from dsar.cases import requester_actions
from dsar.cases.clock import case_deadlines
from dsar.cases.intake import confirmation_open
from dsar.cases.links import case_for_link, links_alive
from dsar.cases.refusals import ActionRefused
from dsar.changes.notices import erasure_progress
from dsar.core.tokens import check_session_mark, session_mark
from dsar.core.uploads import UploadRejected
from dsar.delivery import release
from dsar.extensions import db
from dsar.models import Case, CaseKind, CaseStatus, DirectiveStatus
from dsar.portal.blueprint import bp
from dsar.portal.directive_forms import (
    DirectiveChangeForm,
    category_labels,
    directive_change_form,
)
from dsar.portal.forms import AnswerForm, read_upload
from dsar.portal.status_facts import StatusFacts, case_with_facts, facts_of
from dsar.postmortem import directives
from dsar.sources.catalog import get_catalog

SESSION_KEY = "cases"
SESSION_MAX_CASES = 20


def _case_by_token(reference: str, token: str, purpose: str) -> Case:
    """The case if ``token`` is right for it; 404 otherwise, whichever part is wrong; the
    expired-link page if the token is right but the case's links have ended."""
    case = case_for_link(reference, token, purpose)
    if case is None:
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


def _session_mark(reference: str) -> str:
    """The mark this session holds for ``reference``; 404 if no link let it in."""
    mark = next((entry[1] for entry in _granted() if entry[0] == reference), None)
    if mark is None:
        abort(404)
    return mark


def _admitted(case: Case | None, reference: str, mark: str) -> Case:
    """``case`` if the session's ``mark`` still opens it; 404 if not (or no case), or if its
    links were revoked since (the salt's mark no longer matches); the expired-link page once
    they have ended."""
    if case is None or not check_session_mark(case.reference, case.token_salt, mark):
        _forget(reference)
        abort(404)
    if not links_alive(case):
        _expired()
    return case


def granted_case(reference: str) -> Case:
    """The case a link let this session in to (see :func:`_admitted`)."""
    mark = _session_mark(reference)
    return _admitted(db.session.scalar(select(Case).where(Case.reference == reference)),
                     reference, mark)


@bp.route("/confirm/<reference>/<token>", methods=["GET", "POST"])
def confirm(reference: str, token: str):
    """The e-mailed confirmation link. GET shows a button (mail scanners that follow links must
    not confirm on the person's behalf); POST confirms."""
    case = _case_by_token(reference, token, "confirm")
    if case.status is not CaseStatus.SUBMITTED:
        _grant(case)
        return redirect(url_for("portal.status", reference=case.reference))
    if not confirmation_open(case):
        return render_template("portal/confirm_expired.html", case=case), 410
    if request.method == "POST":
        requester_actions.confirm_address(case)  # False: done meanwhile in another tab
        _grant(case)
        # The person sees it took, and where to come back: the link is in their mailbox.
        flash(_l("Your request is confirmed. We have sent you by e-mail the link to follow "
                 "it: keep that e-mail."))
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
    mark = _session_mark(reference)
    found = case_with_facts(reference)
    case = _admitted(found[0] if found else None, reference, mark)
    return _render_status(case, facts=found[1])


def _standing_directives(case: Case) -> bool:
    """Whether ``case`` holds directives the person may still change or revoke."""
    return case.kind is CaseKind.POSTMORTEM_DIRECTIVE and case.status is CaseStatus.RECORDED


def _directive_view(case: Case, form: DirectiveChangeForm | None) -> dict | None:
    """What the status page shows of a directive case: the version in force, every version,
    and the change form (prefilled from the version in force) while they stand."""
    if case.kind is not CaseKind.POSTMORTEM_DIRECTIVE:
        return None
    versions = directives.versions(case)
    current = directives.current(case)
    if form is None and _standing_directives(case):
        form = directive_change_form(current)
    return {"current": current, "versions": versions, "labels": category_labels(),
            "choices": directives.CHOICES, "form": form if _standing_directives(case) else None,
            "revoked": any(row.status is DirectiveStatus.REVOKED for row, _ in versions)}


def _render_status(case: Case, answer_form: AnswerForm | None = None, code: int = 200, *,
                   directive_form: DirectiveChangeForm | None = None,
                   facts: StatusFacts | None = None):
    facts = facts or facts_of(case)
    package = facts.package
    # The answer form only with a question (its CSRF token is not free).
    answer_form = answer_form or (AnswerForm() if facts.question else None)
    return render_template("portal/status.html", case=case, clock=case_deadlines(case),
                           history=requester_actions.public_history(case),
                           # Directives standing are revoked, not withdrawn (every version kept).
                           can_withdraw=case.status.is_open and not _standing_directives(case),
                           question=facts.question,
                           package=package, downloadable=release.is_downloadable(package),
                           erasure=erasure_progress(case, facts.plan),
                           directive=_directive_view(case, directive_form),
                           missing=_missing_labels(case),
                           answer_form=answer_form), code


def _missing_labels(case: Case) -> list[str]:
    """The systems a partial answer went without, in the person's language."""
    sources = get_catalog().sources
    return [sources[n].label(case.language) if n in sources else n
            for n in (case.missing_sources or [])] if case.answered_in_part else []


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
    with suppress(ActionRefused):  # answered meanwhile (another tab): nothing new was kept
        requester_actions.answer_question(case, form.answer.data, upload)
    return redirect(url_for("portal.status", reference=case.reference))


@bp.post("/status/<reference>/withdraw")
def withdraw(reference: str):
    """The requester withdraws the case (needs the confirmation box ticked)."""
    case = granted_case(reference)
    if request.form.get("confirm_withdraw") != "yes":
        return redirect(url_for("portal.status", reference=case.reference, withdraw="confirm"))
    if _standing_directives(case):
        # Withdrawing standing directives is revoking them: a version records it.
        with suppress(ActionRefused):
            directives.revoke(case)
    else:
        requester_actions.withdraw(case)  # False: closed meanwhile
    return redirect(url_for("portal.status", reference=case.reference))


def _directive_case(reference: str) -> Case:
    """The session's case, which must be one of post-mortem directives (404 otherwise)."""
    case = granted_case(reference)
    if case.kind is not CaseKind.POSTMORTEM_DIRECTIVE:
        abort(404)
    return case


@bp.post("/status/<reference>/directives")
def change_directives(reference: str):
    """The person changes their directives: a new version, the one before superseded. Bad
    input shows the form again with its messages (400), nothing changed."""
    case = _directive_case(reference)
    form = directive_change_form()
    if not form.validate():
        return _render_status(case, code=400, directive_form=form)
    with suppress(ActionRefused):  # revoked meanwhile (another tab): the page says so
        directives.change(case, directives.Directives.from_form(form.data))
    return redirect(url_for("portal.status", reference=case.reference, _anchor="directives"))


@bp.post("/status/<reference>/directives/revoke")
def revoke_directives(reference: str):
    """The person revokes their directives (needs the confirmation box ticked): a version
    records the revocation and the case is withdrawn."""
    case = _directive_case(reference)
    if request.form.get("confirm_revoke") != "yes":
        return redirect(url_for("portal.status", reference=case.reference, revoke="confirm",
                                _anchor="directives"))
    with suppress(ActionRefused):  # revoked meanwhile (another tab)
        directives.revoke(case)
    return redirect(url_for("portal.status", reference=case.reference, _anchor="directives"))
