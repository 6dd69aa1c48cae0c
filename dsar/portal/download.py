"""The requester downloads the released answer from the status page, with a one-time code
e-mailed on request (``dsar.delivery.download_codes``, ``dsar.delivery.downloads``)."""

from __future__ import annotations

from flask import abort, current_app, redirect, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from dsar.core.blob_download import streamed_zip
from dsar.delivery import release
from dsar.delivery.download_codes import CodeProblem, CodeRefused, issue_code, new_session_nonce
from dsar.delivery.downloads import PackageUnavailable, open_download
from dsar.extensions import limiter
from dsar.portal.blueprint import bp
from dsar.portal.status import granted_case

#: The session key of the random value that binds codes to this browser.
NONCE_KEY = "download_nonce"

MESSAGES = {
    CodeProblem.NONE_ASKED: _l("Please ask for a code first: we will send it to you by e-mail. "
                               "A code works only in the browser where it was asked for."),
    CodeProblem.MALFORMED: _l("Please enter the 6 digits of the code you received by e-mail."),
    CodeProblem.LOCKED: _l("This code is locked after too many wrong tries. Please ask for a "
                           "new code."),
    CodeProblem.EXPIRED: _l("This code has expired. Please ask for a new code."),
    CodeProblem.USED: _l("This code has already been used. Please ask for a new code."),
    CodeProblem.TOO_MANY_REQUESTS: _l("You have asked for several codes in the last hour. "
                                      "Please wait before asking for another one."),
}


def _message(refused: CodeRefused) -> str:
    if refused.problem is CodeProblem.WRONG:
        return ngettext("This code is not right. You have %(num)d try left.",
                        "This code is not right. You have %(num)d tries left.",
                        refused.attempts_left)
    return str(MESSAGES[refused.problem])


def _page(case, package, *, error: str | None = None, status: int = 200):
    if not release.is_downloadable(package):
        return render_template("portal/download_expired.html", case=case, package=package), 410
    return render_template("portal/download.html", case=case, package=package, error=error,
                           code_sent=request.args.get("sent") == "1",
                           code_asked=bool(session.get(NONCE_KEY))), status


def _released(reference: str):
    case = granted_case(reference)
    package = release.released_package(case)
    if package is None:  # nothing released yet: the status page says where the case stands
        abort(redirect(url_for("portal.status", reference=case.reference)))
    return case, package


@bp.get("/status/<reference>/download")
def download_page(reference: str):
    """Where the requester asks for a code and enters it; a clear page once expired."""
    case, package = _released(reference)
    return _page(case, package)


@bp.post("/status/<reference>/download/code")
@limiter.limit(lambda: current_app.config["RATELIMIT_DOWNLOAD_CODE_PER_ADDRESS"])
def download_code(reference: str):
    """E-mail a fresh code to the requester's address (never shown on the page)."""
    case, package = _released(reference)
    if not release.is_downloadable(package):
        return _page(case, package)
    nonce = session.get(NONCE_KEY) or new_session_nonce()
    try:
        issue_code(case, package, nonce)
    except CodeRefused as refused:
        return _page(case, package, error=_message(refused), status=429)
    session[NONCE_KEY] = nonce
    return redirect(url_for("portal.download_page", reference=case.reference, sent="1"))


@bp.post("/status/<reference>/download")
@limiter.limit(lambda: current_app.config["RATELIMIT_DOWNLOAD_PER_ADDRESS"])
def download(reference: str):
    """Check the code and send the ZIP (``dsar.delivery.downloads``)."""
    case, package = _released(reference)
    if not release.is_downloadable(package):
        return _page(case, package)
    try:
        reader = open_download(case, package, session.get(NONCE_KEY),
                               request.form.get("code", ""))
    except CodeRefused as refused:
        return _page(case, package, error=_message(refused), status=400)
    except PackageUnavailable as unavailable:
        if unavailable.expired:
            return _page(case, package)
        return _page(case, package, error=str(_l("The file cannot be read. Please contact us.")),
                     status=503)
    return streamed_zip(reader, package.size, f"{case.reference}.zip")
