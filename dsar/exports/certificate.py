"""``certificate.pdf``: the answer to a request that changes data, rendered with WeasyPrint.

One letter per kind (``CertificateContent.kind``), each citing its own article in the
requester's language ("RGPD, art. 16", "GDPR, Art. 16"). The erasure certificate says who
asked and when, what was erased, anonymised, masked or kept in each system (with the basis and
the end date of each kept item); the rectification letter each correction, before and after;
the restriction letter where it holds and where it could not be applied; the objection letter
where the person was unsubscribed from direct marketing, or the decision on each processing
(the words of those three are :mod:`.answer_letters`). Each says which recipients were told
(Art. 19), and, when part of the request was refused, why, with the right to complain to the
CNIL and to go to court (Art. 12(4)). It is never the access letter: nothing of
``report.html`` is used but the letterhead's few shared words.

Usage, inside an app context::

    content = CertificateContent(reference=..., requester_name=..., language="fr", ...)
    pdf = render_certificate(content)                # bytes

It renders like the access report (:mod:`.pdf`): the template and stylesheets are read from
the package, fonts are system fonts shared with the report (the same cached font
configuration, and the same lock: Pango's font map is not thread-safe), every URL WeasyPrint
asks for is refused (:class:`~.pdf.RefusingFetcher`), and the PDF is tagged (PDF/UA-1:
structure, language, title). Texts given by staff or the register are autoescaped.
"""

from __future__ import annotations

import logging
from datetime import date
from functools import cache
from typing import Any

from flask import render_template
from flask_babel import force_locale, format_date, gettext, ngettext
from flask_babel import lazy_gettext as _l
from weasyprint import CSS

from dsar.exports.answer_letters import MORE_ACTION_LABELS, letter_context
from dsar.exports.certificate_content import GROUND_LABELS, CertificateContent
from dsar.exports.package import PackageMember
from dsar.exports.pdf_rendering import RefusingFetcher, font_config, render_letter
from dsar.paths import STATIC_DIR

logger = logging.getLogger(__name__)

CERTIFICATE_PDF = "certificate.pdf"
TEMPLATE = "exports/certificate.html"
#: What the certificate adds to the report's stylesheet (``report.css``, shared).
STYLESHEET = STATIC_DIR / "certificate.css"

#: What became of the records, as the tables say it.
ACTION_LABELS = {
    "erased": _l("Erased"),
    "anonymized": _l("Anonymised"),
    "redacted": _l("Your details masked"),
    "kept": _l("Kept"),
    **MORE_ACTION_LABELS,
}
#: The erasure's actions, explained in plain words under the tables (only the actions that occur).
ACTION_MEANINGS = {
    "erased": _l("The records were deleted from the system."),
    "anonymized": _l("What identified you in the records was removed or replaced by a value "
                     "that does not reveal it; what is left (for example for statistics) is "
                     "no longer linked to your name."),
    "redacted": _l("Your details were masked in the lines of the file where they appeared; "
                   "the rest of each line stays."),
    "kept": _l("We must keep these records, for the reason shown, until the date shown."),
}
#: How the notice to a recipient ended.
OUTCOME_LABELS = {
    "notified": _l("Informed"),
    "impossible": _l("Could not be informed"),
    "disproportionate": _l("Not informed: it would take a disproportionate effort"),
    "pending": _l("Being informed"),
}


@cache
def stylesheet_text() -> str:
    """The certificate's own stylesheet (``dsar/static/certificate.css``), read once."""
    return STYLESHEET.read_text(encoding="utf-8")


@cache
def _certificate_stylesheet() -> CSS:
    # No url() nor @import in it: parsing fetches nothing (a fetch would be refused).
    return CSS(string=stylesheet_text(), url_fetcher=RefusingFetcher(),
               font_config=font_config())


def _long_date(value: date) -> str:
    return format_date(value, "long")


def until_text(until: str | None) -> str:
    """A kept item's end as the certificate shows it: an ISO date in words of the current
    language, any other text as given, nothing known as "as long as the reason applies"."""
    if not until:
        return gettext("As long as the reason given applies")
    try:
        return _long_date(date.fromisoformat(until.strip()))
    except ValueError:
        return until


def ground_text(ground: str | None) -> str | None:
    """The Art. 17(1) ground the person gave: a portal code in the portal's words, or the
    text itself."""
    if not ground:
        return None
    label = GROUND_LABELS.get(ground)
    return str(label) if label is not None else ground


def _count(action: str, n: int) -> str:
    """``n`` records and what became of them, for the summary (one literal ngettext per
    action: the extraction reads them, and a plural needs its number)."""
    if action == "erased":
        return ngettext("%(num)d record erased", "%(num)d records erased", n)
    if action == "anonymized":
        return ngettext("%(num)d record anonymised", "%(num)d records anonymised", n)
    if action == "redacted":
        return ngettext("%(num)d record with your details masked",
                        "%(num)d records with your details masked", n)
    return ngettext("%(num)d record kept", "%(num)d records kept", n)


def _context(content: CertificateContent) -> dict[str, Any]:
    """What the template needs, in the certificate's language (call inside
    ``force_locale``)."""
    # The summary and meanings are the erasure's (its four actions); the other kinds say
    # theirs in their own body (letter_context).
    totals = content.totals() if content.kind == "erasure" else {}
    return {
        **letter_context(content),
        "content": content,
        "kind": content.kind,
        "citation": content.citation,
        "language": content.language,
        "date": _long_date(content.carried_out_on),
        "received_on": _long_date(content.received_on),
        "carried_out_on": _long_date(content.carried_out_on),
        "verified_on": _long_date(content.verified_on) if content.verified_on else None,
        "ground": ground_text(content.ground),
        "sources": content.by_source(),
        "counts": [_count(a, n) for a, n in totals.items()],
        "meanings": [(str(ACTION_LABELS[a]), str(ACTION_MEANINGS[a])) for a in totals],
        "actions": {k: str(v) for k, v in ACTION_LABELS.items()},
        "outcomes": {k: str(v) for k, v in OUTCOME_LABELS.items()},
        "until": until_text,
    }


def certificate_html(content: CertificateContent) -> str:
    """The certificate's HTML, in its language (what WeasyPrint lays out). Needs an app
    context."""
    with force_locale(content.language):
        return render_template(TEMPLATE, **_context(content))


def render_certificate(content: CertificateContent) -> bytes:
    """The answer letter of ``content`` (of its kind: the erasure certificate, or the
    rectification, restriction or objection letter) as a tagged PDF, in its language. Needs
    an app context; reads no database. Raises :class:`~.pdf_rendering.ReportError` if the
    rendering asked for any URL (it never should: nothing in the template or the texts is
    fetched)."""
    pdf, document = render_letter(certificate_html(content), _certificate_stylesheet())
    # Counts only: no label nor value (they may be the person's data).
    logger.info("certificate.pdf (%s) written: %d pages, %d lines, %d corrections, "
                "%d decisions, %d recipients", content.kind, len(document.pages),
                len(content.lines), len(content.corrections), len(content.decisions),
                len(content.recipients or ()))
    return pdf


def certificate_member(content: CertificateContent) -> PackageMember:
    """``certificate.pdf`` as a member of :func:`~.package.write_package`, should the answer
    be sent as a package."""
    return PackageMember(CERTIFICATE_PDF, "application/pdf",
                         lambda stream: stream.write(render_certificate(content)))
