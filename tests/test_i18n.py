"""Translations: the French catalog is complete, in step with the sources and the compiled
``.mo``, keeps every placeholder; the pages come out in the right language."""

from __future__ import annotations

import io
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
CATALOG_DIR = ROOT / "dsar" / "translations" / "fr" / "LC_MESSAGES"
PO_FILE = CATALOG_DIR / "messages.po"
MO_FILE = CATALOG_DIR / "messages.mo"
RUN_UPDATE = "run `scripts/i18n update`, translate the new messages, then `scripts/i18n compile`"

# A printf-style conversion as Python's % operator reads it: %(name)s, %d, %%...
PLACEHOLDER = re.compile(r"%(?:\((?P<name>[^)]*)\))?[#0 +-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?"
                         r"[hlL]?[diouxXeEfFgGcrsa%]")

# Translations as they appear on the pages.
FR_TITLE = "Vos droits sur vos données personnelles"
EN_TITLE = "Your rights over your personal data"


def load_po():
    with PO_FILE.open("rb") as f:
        return read_po(f, locale="fr")


def messages(catalog) -> dict:
    """``{(msgid, context): msgstr}`` of the real messages (not the header)."""
    return {(texts(m.id), m.context): texts(m.string) for m in catalog if m.id}


def texts(value) -> tuple[str, ...]:
    """A message id or string as a tuple (plural forms are tuples already)."""
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


def extract_sources() -> dict:
    """What ``pybabel extract -F babel.cfg`` finds right now: ``{(msgid, context): [where]}``."""
    with (ROOT / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f, "babel.cfg")
    found: dict = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=DEFAULT_KEYWORDS
    ):
        msgid = texts(message)[0]
        found.setdefault((msgid, context), []).append(f"{filename}:{lineno}")
    return found


# --- The catalog ----------------------------------------------------------------------------


def test_catalog_is_fully_translated_with_nothing_fuzzy():
    catalog = load_po()
    assert not catalog.fuzzy, f"the header of {PO_FILE.name} is marked fuzzy"
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    untranslated = [m.id for m in catalog if m.id and not all(texts(m.string))]
    assert not (fuzzy or untranslated), (
        f"fuzzy (check the guess, then remove the flag): {fuzzy}\nuntranslated: {untranslated}"
    )
    assert len(messages(catalog)) > 100


def test_extraction_reads_every_kind_of_source():
    """The babel.cfg mapping reaches Python (``_l``, ``lazy_gettext``, ``gettext``), pages and
    e-mail bodies; otherwise the next test would pass on an empty extraction."""
    found = extract_sources()
    expected = {
        "Access to my data": "dsar/i18n.py",  # lazy_gettext as _l
        "Please confirm your request %(reference)s": "dsar/mail/compose.py",  # lazy_gettext
        "This message was sent automatically; please do not reply to it.": "dsar/mail/compose.py",
        EN_TITLE: "templates/portal/index.html",
        "Thank you for confirming your request. Here is what we have recorded:":
            "templates/email/acknowledgement.txt",
    }
    for msgid, source in expected.items():
        places = found.get((msgid, None), [])
        assert any(p.replace("\\", "/").startswith(source) for p in places), (
            f"{msgid!r} not extracted from {source} (babel.cfg?)"
        )


def test_every_source_message_is_in_the_catalog():
    catalog = load_po()
    missing = {
        key: where for key, where in extract_sources().items()
        if catalog.get(key[0], context=key[1]) is None
    }
    assert not missing, (
        "messages in the sources but not in the French catalog ("
        + RUN_UPDATE + "):\n"
        + "\n".join(f"  {msgid!r} at {', '.join(where)}" for (msgid, _), where in missing.items())
    )


def test_committed_mo_matches_the_po():
    assert MO_FILE.is_file(), f"{MO_FILE} is missing: run `scripts/i18n compile`"
    compiled = io.BytesIO()
    write_mo(compiled, load_po())
    compiled.seek(0)
    expected = messages(read_mo(compiled))
    with MO_FILE.open("rb") as f:
        actual = messages(read_mo(f))
    stale = sorted(
        str(key[0]) for key in expected.keys() | actual.keys()
        if expected.get(key) != actual.get(key)
    )
    assert not stale, f"{MO_FILE.name} is out of date (run `scripts/i18n compile`): {stale}"


def placeholders(text: str) -> tuple[set[str], str]:
    """The conversions in ``text`` (``%(name)s``, ``%%``...) and what remains without them."""
    found = {m.group(0) for m in PLACEHOLDER.finditer(text)}
    return found, PLACEHOLDER.sub("", text)


def test_translations_keep_the_placeholders():
    # Templates use Jinja's newstyle gettext, which always applies ``%``: a stray "%" in any
    # translation would break the page, not only in python-format messages.
    wrong = []
    for message in load_po():
        if not message.id:
            continue
        wanted, _ = placeholders(texts(message.id)[0])
        for translation in texts(message.string):
            got, rest = placeholders(translation)
            if got != wanted or "%" in rest:
                wrong.append(f"{message.id!r}: expects {sorted(wanted)}, has {translation!r}")
    assert not wrong, "\n".join(wrong)


def test_translations_format_like_the_msgids():
    for message in load_po():
        if not message.id or "python-format" not in message.flags:
            continue
        names = {m.group("name") for m in PLACEHOLDER.finditer(texts(message.id)[0])}
        values = {name: 7 for name in names if name}
        for translation in texts(message.string):
            assert translation % values, message.id


def test_typography_is_consistent():
    """The catalog's conventions: typographic apostrophe, no-break space before « : ; ? ! »,
    no markup (newstyle gettext marks translations safe in HTML templates)."""
    wrong = []
    for message in load_po():
        if not message.id:
            continue
        source = texts(message.id)[0]
        for translation in texts(message.string):
            if "'" in translation:
                wrong.append(f"straight apostrophe (use ’): {translation!r}")
            if re.search(r"[ \t][:;?!»]|«[ \t]", translation):
                wrong.append(f"ordinary space at « : ; ? ! » (use U+00A0): {translation!r}")
            if set("<>&") & set(translation) - set(source):
                wrong.append(f"markup or entity: {translation!r}")
    assert not wrong, "\n".join(wrong)


def test_english_falls_back_to_the_msgids(app):
    """English is the msgid language and has no catalog: Flask-Babel must then answer every
    msgid unchanged (a NullTranslations), never with the French catalog."""
    from flask_babel import force_locale, gettext

    catalog = load_po()
    with app.test_request_context(), force_locale("en"):
        for message in catalog:
            if message.id and not message.pluralizable and not message.context:
                assert gettext(message.id) == message.id


# --- Rendering ------------------------------------------------------------------------------


def html_lang(html: str) -> str:
    match = re.search(r"<html lang=\"([^\"]*)\"", html)
    assert match, "no <html lang>"
    return match.group(1)


def get_home(client, accept_language: str | None):
    headers = {"Accept-Language": accept_language} if accept_language else {}
    resp = client.get("/", headers=headers)
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def test_home_in_french(client):
    html = get_home(client, "fr-FR,fr;q=0.9,en;q=0.5")
    assert html_lang(html) == "fr"
    assert f"<h1>{FR_TITLE}</h1>" in html
    assert "Accès à mes données" in html  # a lazy label, translated at render time
    assert "Délégué à la protection des données (DPO)\u00a0:" in html
    assert EN_TITLE not in html


def test_home_in_english(client):
    html = get_home(client, "en-GB,en;q=0.9")
    assert html_lang(html) == "en"
    assert f"<h1>{EN_TITLE}</h1>" in html
    assert "Access to my data" in html
    assert FR_TITLE not in html


@pytest.mark.parametrize("accept_language", [None, "de-DE,de;q=0.9", "*"])
def test_french_is_the_default(client, accept_language):
    html = get_home(client, accept_language)
    assert html_lang(html) == "fr"
    assert FR_TITLE in html


def test_explicit_choice_beats_the_browser(client):
    resp = client.get("/language/en?next=/")
    assert resp.status_code == 302
    assert urlsplit(resp.headers["Location"]).path == "/"
    html = get_home(client, "fr")
    assert html_lang(html) == "en"
    assert EN_TITLE in html
    client.get("/language/fr?next=/")
    html = get_home(client, "en")
    assert html_lang(html) == "fr"
    assert FR_TITLE in html


def test_unknown_language_is_ignored(client):
    resp = client.get("/language/xx?next=/")
    assert resp.status_code == 302
    with client.session_transaction() as session:
        assert "lang" not in session
    assert html_lang(get_home(client, "fr")) == "fr"
    assert html_lang(get_home(client, "en")) == "en"
    client.get("/language/en?next=/")
    client.get("/language/xx?next=/")
    assert html_lang(get_home(client, "fr")) == "en"  # the earlier choice stands


@pytest.mark.parametrize("target", [
    "https://evil.example/", "//evil.example/", "http:/evil.example/", "javascript:alert(1)",
    "evil.example", "/\t/evil.example/",
])
def test_language_switch_never_redirects_off_site(client, target):
    resp = client.get("/language/en", query_string={"next": target})
    assert resp.status_code == 302
    location = urlsplit(resp.headers["Location"])
    assert location.netloc in ("", "localhost")
    assert location.path == "/"


@pytest.mark.parametrize("target", ["/\\evil.example/", "/\\/evil.example/"])
def test_language_switch_backslash_stays_on_site(client, target):
    # Browsers read "/\\host" as "//host"; Werkzeug percent-encodes the backslash (%5C).
    resp = client.get("/language/en", query_string={"next": target})
    location = resp.headers["Location"]
    assert urlsplit(location).netloc in ("", "localhost")
    assert not location.startswith(("//", "/\\"))


def test_language_switch_returns_to_the_page(client):
    resp = client.get("/language/en", query_string={"next": "/request/access?x=1"})
    assert resp.headers["Location"].endswith("/request/access?x=1")


def test_form_and_error_pages_are_translated(client):
    page = client.get("/request/access", headers={"Accept-Language": "fr"})
    assert "Nom et prénom de la personne concernée" in page.get_data(as_text=True)
    page = client.get("/request/access", headers={"Accept-Language": "en"})
    assert "Full name of the person concerned" in page.get_data(as_text=True)
    missing = client.get("/no-such-page", headers={"Accept-Language": "fr"})
    assert missing.status_code == 404
    assert "Page introuvable" in missing.get_data(as_text=True)


def test_email_subject_is_translated(app):
    from flask_babel import force_locale

    from dsar.mail.compose import SUBJECTS
    from dsar.models import MailTemplate

    subject = SUBJECTS[MailTemplate.CONFIRM_EMAIL]
    with app.test_request_context():
        with force_locale("fr"):
            french = str(subject) % {"reference": "DSR-ABCD-EFGH"}
        with force_locale("en"):
            english = str(subject) % {"reference": "DSR-ABCD-EFGH"}
    assert french == "Veuillez confirmer votre demande DSR-ABCD-EFGH"
    assert english == "Please confirm your request DSR-ABCD-EFGH"


@pytest.mark.parametrize(("language", "size", "shown"), [
    ("fr", 335_700, "335,7 ko"), ("en", 335_700, "335.7 kB"), ("fr", 999, "999 octets"),
    ("fr", 12_345_678, "12,3 Mo"), ("en", 2_500_000_000, "2.5 GB"),
])
def test_sizes_are_written_in_the_pages_language(app, language, size, shown):
    """A package's size in the back office and on the download page: "335,7 ko" in French,
    never Jinja's English "335.7 kB" on a French page."""
    from flask_babel import force_locale

    from dsar.i18n import file_size

    with app.test_request_context(), force_locale(language):
        assert file_size(size) == shown


def test_a_template_under_force_locale_speaks_that_language(app):
    # The templates keep the page's translations for the request; an e-mail rendered in its
    # requester's language within a page in the other one must still get its own.
    from flask_babel import force_locale

    template = app.jinja_env.from_string('{{ _("Request received") }}')
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        assert template.render() == "Request received"
        with force_locale("fr"):
            assert template.render() == "Demande reçue"
        assert template.render() == "Request received"


def test_remembered_dates_follow_the_language_and_the_value(app):
    # Pages write dates through a per-process memory (dsar.i18n_dates): each language and
    # each value must still get its own text.
    from datetime import UTC, date, datetime

    from flask_babel import force_locale

    template = app.jinja_env.from_string(
        "{{ format_date(day, 'long') }} | {{ format_datetime(moment, 'medium') }}")
    values = {"day": date(2026, 3, 2), "moment": datetime(2026, 3, 2, 22, 30, tzinfo=UTC)}
    with app.test_request_context("/"):
        with force_locale("fr"):
            french = template.render(**values)
        with force_locale("en"):
            english = template.render(**values)
        with force_locale("fr"):
            assert template.render(**values) == french
            later = template.render(day=date(2026, 3, 3), moment=values["moment"])
    assert french.startswith("2 mars 2026 | 2 mars 2026") and "23:30:00" in french
    assert english.startswith("March 2, 2026 | Mar 2, 2026")
    assert later.startswith("3 mars 2026")
