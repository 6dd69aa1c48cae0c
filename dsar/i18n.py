"""Language: French first, English available. The choice is explicit (switch), else the
browser's preference among the supported languages, else French."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Flask, current_app, g, redirect, request, session
from flask_babel import format_decimal, get_locale, get_translations
from flask_babel import lazy_gettext as _l

from dsar.extensions import babel
from dsar.i18n_dates import format_date_remembered, format_datetime_remembered
from dsar.models import CaseKind, CaseStatus

bp = Blueprint("i18n", __name__)

KIND_LABELS = {
    CaseKind.ACCESS: _l("Access to my data"),
    CaseKind.PORTABILITY: _l("Portability of my data"),
    CaseKind.RECTIFICATION: _l("Rectification of my data"),
    CaseKind.ERASURE: _l("Erasure of my data"),
    CaseKind.RESTRICTION: _l("Restriction of processing"),
    CaseKind.OBJECTION: _l("Objection to processing"),
    CaseKind.POSTMORTEM_DIRECTIVE: _l("Directives for after my death"),
    CaseKind.POSTMORTEM_EXECUTION: _l("Rights of a deceased person"),
}

STATUS_LABELS = {
    CaseStatus.SUBMITTED: _l("Waiting for you to confirm your e-mail address"),
    CaseStatus.CONFIRMED: _l("Received; we are checking your request"),
    CaseStatus.NEEDS_INFO: _l("We need more information from you"),
    CaseStatus.VERIFIED: _l("Identity checked; processing will start shortly"),
    CaseStatus.IN_PROGRESS: _l("Being processed"),
    CaseStatus.REVIEW: _l("Answer being checked before it is sent"),
    CaseStatus.EXECUTING: _l("Being carried out in our systems"),
    CaseStatus.VERIFYING: _l("Carried out; we are checking that nothing remains"),
    CaseStatus.RECORDED: _l("Your directives are recorded"),
    CaseStatus.COMPLETED: _l("Answered"),
    CaseStatus.REJECTED: _l("Refused (see the reasons we sent you)"),
    CaseStatus.WITHDRAWN: _l("Withdrawn at your request"),
    CaseStatus.EXPIRED: _l("Closed: the e-mail address was never confirmed"),
}


#: The same statuses in the back office's words (the requester's wording addresses them).
STAFF_STATUS_LABELS = {
    CaseStatus.SUBMITTED: _l("Submitted (e-mail not confirmed)"),
    CaseStatus.CONFIRMED: _l("Confirmed"),
    CaseStatus.NEEDS_INFO: _l("Waiting for the requester"),
    CaseStatus.VERIFIED: _l("Identity verified"),
    CaseStatus.IN_PROGRESS: _l("In progress"),
    CaseStatus.REVIEW: _l("In review"),
    CaseStatus.EXECUTING: _l("Plan being carried out"),
    CaseStatus.VERIFYING: _l("Being verified"),
    CaseStatus.RECORDED: _l("Directives recorded"),
    CaseStatus.COMPLETED: _l("Completed"),
    CaseStatus.REJECTED: _l("Refused"),
    CaseStatus.WITHDRAWN: _l("Withdrawn"),
    CaseStatus.EXPIRED: _l("Expired"),
}


def select_locale() -> str:
    """The language of this request (Flask-Babel's locale selector)."""
    supported = current_app.config["LANGUAGES"]
    chosen = session.get("lang")
    if chosen in supported:
        return chosen
    return request.accept_languages.best_match(supported) or current_app.config[
        "BABEL_DEFAULT_LOCALE"
    ]


def current_language() -> str:
    """The two-letter code of the language in use."""
    return str(get_locale() or "fr")


def page_translations():
    """The translations of this request's language, as Flask-Babel's ``get_translations``,
    but remembered for the request: a page asks for them once per sentence, and Flask-Babel
    finds them again each time (locale, domain, cache key) at some 20 µs a sentence. Kept
    with the locale they were found for, so ``force_locale`` (an e-mail rendered in its
    requester's language) gets its own."""
    if not g:  # outside an application: Flask-Babel's own answer (no translation)
        return get_translations()
    state = g.get("_flask_babel")
    locale = getattr(state, "babel_locale", None)
    kept = g.get("_dsar_translations")
    if locale is not None and kept is not None and kept[0] is locale:
        return kept[1]
    translations = get_translations()
    locale = getattr(g.get("_flask_babel"), "babel_locale", None)
    if locale is not None:
        g._dsar_translations = (locale, translations)
    return translations


def language_return_path() -> str:
    """Where the language switch leads back to: this page for a GET; after a POST (a form shown
    again with an error) the page the form came from, since the POST URL cannot be reloaded."""
    if request.method == "GET":
        return request.full_path.rstrip("?")
    referrer = urlsplit(request.referrer or "")
    if referrer.netloc == request.host and referrer.path:
        return safe_next(referrer.path + (f"?{referrer.query}" if referrer.query else ""))
    return "/"


def safe_next(target: str | None) -> str:
    """``target`` if it is a path on this site, else "/"."""
    # Only a path on this site: an open redirect would make our domain a phishing relay.
    if target and target.startswith("/") and not target.startswith("//"):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return "/"


@bp.get("/language/<code>")
def switch_language(code: str):
    """Remember the chosen language and go back to the page the person was on."""
    if code in current_app.config["LANGUAGES"]:
        session["lang"] = code
    return redirect(safe_next(request.args.get("next")))


def init_app(app: Flask) -> None:
    """Set up Flask-Babel, the language switch and the template helpers."""
    app.config.setdefault(
        "BABEL_TRANSLATION_DIRECTORIES", str(app.root_path + "/translations")
    )
    babel.init_app(app, locale_selector=select_locale)
    # The templates' _() through page_translations (Flask-Babel installs the same without
    # the per-request memory).
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: page_translations().ugettext(s),
        ngettext=lambda s, p, n: page_translations().ungettext(s, p, n),
        pgettext=lambda c, s: page_translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: page_translations().unpgettext(c, s, p, n),
        newstyle=True)
    app.register_blueprint(bp)
    app.jinja_env.globals.update(
        current_language=current_language,
        kind_label=lambda kind: KIND_LABELS[CaseKind(kind)],
        status_label=lambda status: STATUS_LABELS[CaseStatus(status)],
        staff_status_label=lambda status: STAFF_STATUS_LABELS[CaseStatus(status)],
        LANGUAGE_NAMES={"fr": "Français", "en": "English"},
        format_date=format_date_remembered,
        language_return_path=language_return_path,
        format_datetime=format_datetime_remembered,
    )
    app.jinja_env.filters["file_size"] = file_size


#: The units of a size, by language (French writes "o" for octet: "335,7 ko").
_SIZE_UNITS = {"fr": ("octets", "ko", "Mo", "Go"), "en": ("bytes", "kB", "MB", "GB")}


def file_size(size: int) -> str:
    """A size in the page's language and number format: "335,7 ko", "335.7 kB" (decimal
    units, as Jinja's ``filesizeformat``, which writes English only)."""
    language = current_language()
    units = _SIZE_UNITS.get(language, _SIZE_UNITS["en"])
    value, unit = float(size), units[0]
    for candidate in units[1:]:
        if value < 1000:
            break
        value, unit = value / 1000, candidate
    if unit == units[0]:
        return f"{format_decimal(int(value))} {unit}"
    return f"{format_decimal(round(value, 1), format='#,##0.0')} {unit}"
