"""What the Chromium walk of the DPO's desk (``tests/test_browser_desk.py``) needs beyond
``tests/support/browser*.py``: the e-mail a request came in (a ``.eml`` file), the English
texts and raw names a French staff page must not show, and the history read back in words.

The English is looked for as :func:`tests.support.browser_erasure.english_on_page` does (an
msgid without a French translation, word for word); the raw names are the keys the forms,
the request details and ``sources.toml`` use internally (``data_to_correct``,
``channel_note``…), which a page should only show through their labels."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.messages.pofile import read_po
from flask_babel import force_locale, gettext
from wtforms.fields.core import UnboundField

from dsar.cases import details
from dsar.i18n import KIND_LABELS, STAFF_STATUS_LABELS
from dsar.models import CaseKind, CaseStatus, Channel, IdentityMethod
from dsar.paths import TRANSLATIONS_DIR
from dsar.sources.catalog import get_catalog
from dsar.staff.cases import IDENTITY_METHODS
from dsar.staff.filing import FilingForm
from dsar.staff.history import MAIL_LABELS, SENTENCES
from tests.support.browser import in_language, spaces
from tests.support.browser_erasure import _french_catalogue, english_on_page, template_msgids

#: An event code as the audit trail writes it ("case.viewed", "identity.verified").
EVENT_CODE = re.compile(r"\b[a-z]+\.[a-z_]+\b")
#: English the app writes into a stored text that a staff page then shows (no msgid to look
#: for): what it is -> how it reads. The identity check's summary is written by
#: ``dsar.cases.staff_actions`` (and ``dsar.changes.marketing``) into ``Case.identity_note``.
GENERATED_ENGLISH = {
    "checked on <date> by staff <id>, method <code>":
        re.compile(r"\bchecked on \d{4}-\d{2}-\d{2} by (staff \d+|the system), method \w+"),
}
#: The templates every staff page is made of, around its content.
FRAME = ("base.html", "staff/layout.html")
#: Each staff page of the walk: its own templates.
PAGE_TEMPLATES = {
    "dashboard": ("staff/dashboard.html",),
    "filing form": ("staff/file_request.html", "_form.html"),
    "case": ("staff/case.html", "staff/_directives.html", "staff/_deceased.html",
             "staff/_deceased_fields.html", "staff/_plan.html"),
}


def write_eml(folder: Path, *, sender: str, name: str, to: str, sent: date,
              subject: str, body: str) -> Path:
    """The request as the mail client saves it (``.eml``: From, To, Date, Subject headers,
    then the text), sent on ``sent`` at 9:30 in Paris; returns its path."""
    message = EmailMessage()
    message["From"] = f"{name} <{sender}>"
    message["To"] = to
    message["Date"] = format_datetime(
        datetime.combine(sent, time(9, 30), tzinfo=ZoneInfo("Europe/Paris")))
    message["Subject"] = subject
    message.set_content(body)
    path = folder / "demande-acces.eml"
    path.write_bytes(bytes(message))
    return path


def form_texts(*forms) -> list:
    """The labels and help texts of the form classes' fields (lazy strings)."""
    found = []
    for form in forms:
        for name in dir(form):
            unbound = getattr(form, name, None)
            if isinstance(unbound, UnboundField):
                label = unbound.args[0] if unbound.args else unbound.kwargs.get("label")
                found += [t for t in (label, unbound.kwargs.get("description")) if t]
    return found


def catalogue_msgids() -> list[str]:
    """Every msgid of the French catalogue's source (``messages.po``) without a placeholder:
    those the compiled catalogue translates are skipped by ``english_on_page``, so what is
    looked for is what is still untranslated or fuzzy."""
    with open(TRANSLATIONS_DIR / "fr" / "LC_MESSAGES" / "messages.po", "rb") as po:
        catalog = read_po(po)
    return [m.id for m in catalog
            if m.id and isinstance(m.id, str) and "%(" not in m.id and "%" not in m.id]


def label_texts() -> list:
    """The labels the back office shows for codes (lazy strings)."""
    return [*KIND_LABELS.values(), *STAFF_STATUS_LABELS.values(),
            *details.CHANNEL_LABELS.values(), *details.FIELD_LABELS.values(),
            *details.PROOF_KIND_LABELS.values(), *IDENTITY_METHODS.values(),
            *MAIL_LABELS.values()]


def history_english(app, actors: list[str]) -> list[str]:
    """The history's sentences in English, filled in with ``actors`` (staff names, "the
    requester", "the system"): a line of the French page must be none of them."""
    with app.test_request_context(), force_locale("en"):
        whos = [*actors, gettext("the requester"), gettext("the system")]
        found = [str(text) % {"actor": who} for text in SENTENCES.values() for who in whos]
        found += [gettext("E-mail sent: %(what)s", what=str(label))
                  for label in MAIL_LABELS.values()]
        found += [gettext("Status: %(status)s (%(actor)s)", status=str(status), actor=who)
                  for status in STAFF_STATUS_LABELS.values() for who in whos]
    return sorted(set(found))


def english_on_staff_page(app, page_name: str, text: str, actors: list[str]) -> list[str]:
    """The English texts ``text`` (a staff page's visible text, served in French) shows:
    msgids of its templates and of the frame, of the filing form, labels of codes, the
    catalogue's untranslated source strings, the history's sentences in English, and the
    English the app stores in a text (``GENERATED_ENGLISH``)."""
    msgids = [*template_msgids(*FRAME, *PAGE_TEMPLATES[page_name]), *form_texts(FilingForm),
              *label_texts(), *catalogue_msgids(), *history_english(app, actors)]
    text = spaces(text)
    generated = [what for what, pattern in GENERATED_ENGLISH.items() if pattern.search(text)]
    return sorted({*english_on_page(app, text, msgids), *english_despite_translation(
        app, text, msgids), *generated})


def english_despite_translation(app, text: str, msgids) -> list[str]:
    """The msgids that have a French translation different from them and still appear word
    for word in ``text``: a text rendered outside the page's language (a lazy string turned
    into English too early, a stored English sentence). One-word msgids are left out: a
    French page may use the same word ("e-mail", "Document")."""
    catalogue = _french_catalogue()
    shown = []
    for message in msgids:
        msgid = message if isinstance(message, str) else in_language(app, "en", message)
        french = catalogue.get(msgid)
        if not french or spaces(french) == spaces(msgid) or " " not in msgid.strip():
            continue
        if re.search(rf"(?<!\w){re.escape(spaces(msgid))}(?!\w)", text):
            shown.append(msgid)
    return shown


def raw_names(app) -> list[str]:
    """The internal names a page should only show through a label: the request details'
    keys and choice codes, the filing form's field names, the codes of kinds, statuses,
    channels, proofs and identity methods, and the fields, collections and sources of
    ``sources.toml`` (the test app declares none unless a test writes one). Only names with
    an underscore: a one-word code ("post", "identity") is also an ordinary word."""
    names = set(details.FIELD_LABELS) | set(details.PROOF_KIND_LABELS)
    for choices in (details.ERASURE_GROUND_CHOICES, details.RESTRICTION_GROUND_CHOICES,
                    details.OBJECTION_TARGET_CHOICES, details.DIRECTIVE_CHOICE_CHOICES,
                    details.REQUESTER_ROLE_CHOICES):
        names |= {code for code, _label in choices}
    names |= {name for name in dir(FilingForm) if isinstance(getattr(FilingForm, name, None),
                                                              UnboundField)}
    for enum in (CaseKind, CaseStatus, Channel, IdentityMethod):
        names |= {member.value for member in enum}
    with app.app_context():
        for source in get_catalog().sources.values():
            names.add(source.name)
            for collection in source.collections.values():
                names |= {collection.name, *collection.fields}
    return sorted(n for n in names if "_" in n)


def raw_names_on_page(app, text: str) -> list[str]:
    """The raw names (:func:`raw_names`) ``text`` shows as a word of their own."""
    text = spaces(text)
    return [name for name in raw_names(app)
            if re.search(rf"(?<![\w.@]){re.escape(name)}(?![\w@])", text)]


def history_lines(page) -> list[str]:
    """The lines of the case page's history (``ol.history``) without their time, whitespace
    collapsed."""
    return [spaces(t).split(" · ", 1)[-1]
            for t in page.locator("ol.history li").all_inner_texts()]
