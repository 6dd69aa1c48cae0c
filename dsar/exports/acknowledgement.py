"""The printable acknowledgement of a request received by post, telephone or in person, for a
person whose e-mail address is not known (docs/channels.md): the organisation, the person's
name and postal address, the reference, the date of receipt, the due date, what happens next
and how to reach the DPO, in the case's language.

Rendered like the certificate (:mod:`.certificate`): the template and the report's stylesheet
are read from the package, fonts are the shared system fonts (under the same lock), every URL
WeasyPrint asks for is refused, and every value is autoescaped text.
"""

from __future__ import annotations

import logging

from flask import current_app, render_template
from flask_babel import force_locale, format_date

from dsar.cases.clock import today_in_paris
from dsar.cases.details import CHANNEL_LABELS
from dsar.exports.certificate_content import controller_of
from dsar.exports.pdf_rendering import render_letter
from dsar.i18n import KIND_LABELS
from dsar.models import Case
from dsar.sources.catalog import get_catalog

logger = logging.getLogger(__name__)

TEMPLATE = "exports/acknowledgement.html"


def acknowledgement_html(case: Case) -> str:
    """The letter's HTML in the case's language (what WeasyPrint lays out). Needs an app
    context."""
    config = current_app.config
    controller = controller_of(get_catalog().register, config.get("ORGANISATION_NAME", ""),
                               config.get("DPO_EMAIL"))
    with force_locale(case.language):
        return render_template(
            TEMPLATE, case=case, controller=controller, language=case.language,
            postal_address=(case.details or {}).get("postal_address", ""),
            kind=str(KIND_LABELS[case.kind]),
            channel=str(CHANNEL_LABELS.get(str(case.channel), case.channel)),
            date=format_date(today_in_paris(), "long"),
            received_on=format_date(case.received_on, "long"),
            due_on=format_date(case.due_on, "long"))


def render_acknowledgement(case: Case) -> bytes:
    """The acknowledgement letter of ``case`` as a tagged PDF. Needs an app context. Raises
    :class:`~.pdf_rendering.ReportError` if the rendering asked for any URL (it never should)."""
    pdf, document = render_letter(acknowledgement_html(case))
    logger.info("acknowledgement letter of case %s written: %d pages", case.id,
                len(document.pages))
    return pdf
