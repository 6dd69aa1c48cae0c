"""What the erasure walk in headless Chromium (``tests/test_browser_erasure.py``) needs beyond
``tests/support/browser*.py``: filing an erasure request, an agent's sign-in (no second
factor), the organisation's rows as the test reads them back, the server errors a browser met,
and the English a French page still shows."""

from __future__ import annotations

import io
import re
import sqlite3
import zipfile
from pathlib import Path

from babel.support import Translations
from playwright.sync_api import expect
from pypdf import PdfReader

from dsar.paths import PACKAGE_DIR, TRANSLATIONS_DIR
from tests.support.browser import REFERENCE_PATTERN, in_language, spaces
from tests.support.staff import PASSWORD
from tests.support.workers import run_queued_jobs

TEMPLATES = PACKAGE_DIR.parent / "templates"
#: ``_("…")`` / ``_('…')`` in a template: the msgids it may render.
MSGID = re.compile(r"""\b_l?\(\s*(?:"((?:[^"\\]|\\.)+)"|'((?:[^'\\]|\\.)+)')""")


def file_erasure_request(page, base: str, app, *, email: str, ground: str) -> str:
    """The requester picks the erasure request on the portal's home page, fills it in (name,
    e-mail, customer number, the Art. 17(1) ``ground``), sends it and confirms the address
    from the e-mailed link (through the demo mailbox); returns the reference."""
    page.goto(f"{base}/")
    page.locator('a[data-kind="erasure"]').click()
    expect(page).to_have_url(f"{base}/request/erasure")
    page.locator("#full_name").fill("Camille Martin")
    page.locator("#email").fill(email)
    page.locator("#customer_number").fill("CUST-1042")
    page.locator("#erasure_ground").select_option(ground)
    page.locator("#declaration").check()
    page.locator('main form button[type="submit"]').click()
    expect(page).to_have_url(f"{base}/request/sent")
    expect(page.locator("#form-errors")).to_have_count(0)
    lead = page.locator("main p.lead")
    expect(lead).to_contain_text(REFERENCE_PATTERN)
    reference = REFERENCE_PATTERN.search(lead.inner_text()).group(0)
    assert run_queued_jobs(app) == 0  # the confirmation e-mail
    page.goto(f"{base}/demo/mailbox")
    page.locator("article.mail").first.locator(f'a[href^="{base}/confirm/{reference}/"]').click()
    page.locator("#confirm-button").click()
    expect(page).to_have_url(f"{base}/status/{reference}")
    expect(page.locator("#case-status")).to_have_attribute("data-status", "confirmed")
    assert run_queued_jobs(app) == 0  # the acknowledgement
    return reference


def sign_in_without_code(page, base: str, email: str) -> None:
    """An agent (no second factor) signs in with a password alone and lands on the
    dashboard."""
    page.goto(f"{base}/staff/login")
    page.locator("#email").fill(email)
    page.locator("#password").fill(PASSWORD)
    page.locator("#login-button").click()
    expect(page).to_have_url(f"{base}/staff/")
    expect(page.locator("#logout-button")).to_be_visible()


def record_server_errors(context, errors: list[str] | None = None) -> list[str]:
    """The responses of 500 and above the pages of ``context`` receive, as ``"500 GET URL"``,
    appended to ``errors`` (a new list by default) while the walk goes on; the test asserts
    it stays empty."""
    errors = [] if errors is None else errors
    context.on("response", lambda r: errors.append(f"{r.status} {r.request.method} {r.url}")
               if r.status >= 500 else None)
    return errors


def sqlite_rows(path: Path, query: str) -> list[tuple]:
    """The rows ``query`` returns from the SQLite database at ``path``."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


def certificate_text(zip_path: Path) -> tuple[list[str], str]:
    """The names in the downloaded ZIP, and the text of its ``certificate.pdf`` with the
    whitespace collapsed (lines wrap where table cells end)."""
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
        pdf = PdfReader(io.BytesIO(archive.read("certificate.pdf")))
    return names, spaces("\n".join(p.extract_text() for p in pdf.pages))


# ------------------------------------------------------------------------ French, not English


def _french_catalogue() -> dict:
    """The compiled French catalogue the app serves (fuzzy entries are not in it)."""
    return Translations.load(str(TRANSLATIONS_DIR), ["fr"])._catalog


def template_msgids(*names: str) -> list[str]:
    """The msgids of ``templates/<name>`` that have no placeholder (those can be looked for
    literally on a page)."""
    found = []
    for name in names:
        for match in MSGID.finditer((TEMPLATES / name).read_text()):
            msgid = match.group(1) or match.group(2)
            if "%(" not in msgid and msgid not in found:
                found.append(msgid)
    return found


def english_on_page(app, text: str, msgids) -> list[str]:
    """The messages (``msgids``: strings or lazy strings) that have no French translation and
    appear word for word in ``text``, the visible text of a page served in French."""
    catalogue = _french_catalogue()
    text = spaces(text)
    shown = []
    for message in msgids:
        msgid = message if isinstance(message, str) else in_language(app, "en", message)
        if catalogue.get(msgid):
            continue
        if re.search(rf"(?<!\w){re.escape(msgid)}(?!\w)", text):
            shown.append(msgid)
    return shown
