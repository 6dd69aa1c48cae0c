"""End to end in a real headless Chromium: file an access request, follow the e-mailed link from
the demo mailbox, read the status page with its due date -- in French and in English.

The real app is served over HTTP by a werkzeug server in a background thread, on the same
SQLite/PostgreSQL database, real Redis and real SMTP catcher as the other tests; e-mails are
sent by a real RQ worker run in burst mode once the browser has submitted the form. Chromium is
Debian's (``/usr/bin/chromium``), driven by Python Playwright (no browser download).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.dates import format_date
from flask import Flask
from flask_babel import force_locale
from playwright.sync_api import expect, sync_playwright
from werkzeug.serving import make_server

from dsar import create_app, deadlines
from dsar.i18n import KIND_LABELS, STATUS_LABELS
from dsar.mail.outbox import SUBJECTS
from dsar.models import CaseKind, CaseStatus, MailTemplate
from dsar.paths import TRANSLATIONS_DIR
from dsar.web.errors import MESSAGES as ERROR_MESSAGES
from tests.conftest import _config, reset_state, run_queued_jobs

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # the tests run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium keeps calling Google services, which floods a closed network.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
FR_CATALOG = TRANSLATIONS_DIR / "fr" / "LC_MESSAGES" / "messages.mo"
REFERENCE_PATTERN = re.compile(r"DSR-[0-9A-Z]{4}-[0-9A-Z]{4}")


# ------------------------------------------------------------------------------------ fixtures


@dataclass
class LiveServer:
    app: Flask
    url: str


@pytest.fixture
def live_server(_schema, database_url, redis_url, key_file, smtp_server, tmp_path):
    """The real app over HTTP on 127.0.0.1 (free port), with the demo mailbox on the test SMTP
    catcher's Maildir and e-mailed links pointing at this server. Cleans up like ``app``."""
    app = create_app({
        **_config(database_url, redis_url, key_file, tmp_path / "storage", smtp_server.port),
        "DEMO_MAILBOX_DIR": str(smtp_server.directory),
    })
    server = make_server("127.0.0.1", 0, app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    app.config["BASE_URL"] = url
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(app=app, url=url)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        reset_state(app, redis_url, smtp_server)


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, once per run."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package "
                    "(scripts/test installs it)")
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
    except Exception:
        playwright.stop()
        raise
    yield chromium
    chromium.close()
    playwright.stop()


@pytest.fixture
def new_context(browser):
    """Make fresh browser contexts (own cookies, own ``Accept-Language``); all closed after."""
    contexts = []

    def make(locale: str):
        context = browser.new_context(locale=locale)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


# ------------------------------------------------------------------------------------- helpers


def in_language(app: Flask, lang: str, text) -> str:
    """``text`` (a lazy string, or a callable returning text) as the app renders it in
    ``lang``, from the app's own catalogue: the test does not hard-code translations."""
    with app.test_request_context(), force_locale(lang):
        return str(text() if callable(text) else text)


def spaces(text: str) -> str:
    """Collapse whitespace (including the no-break spaces of French formatting)."""
    return " ".join(text.replace("\u00a0", " ").replace("\u202f", " ").split())


@dataclass(frozen=True)
class Scenario:
    lang: str
    #: The browser's own language: the portal starts in it, then the visitor switches.
    first_locale: str
    #: The browser that opens the status link from the e-mail (no session: Accept-Language).
    second_locale: str
    #: Words only a page in ``lang`` has (checked literally, not from the catalogue).
    heading_word: str
    subject_word: str


SCENARIOS = [
    Scenario("fr", first_locale="en-US", second_locale="fr-FR", heading_word="demande",
             subject_word="demande"),
    Scenario("en", first_locale="fr-FR", second_locale="en-US", heading_word="Your request",
             subject_word="We have received your request"),
]


def check_status_page(page, *, lang: str, reference: str, status: str, kind: str,
                      received, due) -> None:
    """The status page of a freshly confirmed access request, in ``lang``."""
    expect(page.locator("html")).to_have_attribute("lang", lang)
    expect(page.locator("h1")).to_contain_text(reference)
    expect(page.locator("#case-kind")).to_have_text(kind)
    expect(page.locator("#case-status")).to_have_attribute("data-status", "confirmed")
    expect(page.locator("#case-status")).to_have_text(status)
    expect(page.locator("#received-on")).to_be_visible()
    assert spaces(page.locator("#received-on").inner_text()) == spaces(
        format_date(received, "long", locale=lang)
    )
    due_on = page.locator("#due-on")
    expect(due_on).to_have_attribute("data-date", due.isoformat())
    visible = spaces(due_on.inner_text())
    assert visible == spaces(format_date(due, "long", locale=lang)), visible
    assert format_date(due, "MMMM", locale=lang) in visible  # "décembre" / "December"
    expect(page.locator("#withdraw-button")).to_be_visible()


# ---------------------------------------------------------------------------------------- test


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.lang for s in SCENARIOS])
def test_access_request_from_form_to_status_page(live_server, new_context, smtp_server,
                                                 scenario):
    app, base, lang = live_server.app, live_server.url, scenario.lang
    other = "en" if lang == "fr" else "fr"
    email = f"camille.martin.{lang}@example.fr"
    kind_label = in_language(app, lang, KIND_LABELS[CaseKind.ACCESS])
    status_label = in_language(app, lang, STATUS_LABELS[CaseStatus.CONFIRMED])

    # The portal opens in the browser's language; the header link switches to ``lang``.
    page = new_context(scenario.first_locale).new_page()
    page.goto(f"{base}/")
    expect(page.locator("html")).to_have_attribute("lang", other)
    expect(page.locator(f'header nav [aria-current="true"][lang="{other}"]')).to_be_visible()
    page.locator(f'header a[data-lang="{lang}"]').click()
    expect(page.locator("html")).to_have_attribute("lang", lang)
    expect(page.locator(f'header nav [aria-current="true"][lang="{lang}"]')).to_be_visible()
    expect(page.locator(f'header a[data-lang="{other}"]')).to_be_visible()
    assert page.url == f"{base}/?" or page.url == f"{base}/"

    # The access request form.
    page.locator('a[data-kind="access"]').click()
    expect(page).to_have_url(f"{base}/request/access")
    expect(page.locator("html")).to_have_attribute("lang", lang)
    expect(page.locator("h1")).to_have_text(kind_label)
    page.locator("#full_name").fill("Camille Martin")
    page.locator("#email").fill(email)
    page.locator("#customer_number").fill("CUST-1042")
    page.locator("#phone").fill("06 12 34 56 78")
    page.locator("#message").fill("Je souhaite une copie de mes données.")
    page.locator("#declaration").check()
    page.locator('main form button[type="submit"]').click()

    # "Check your mailbox", with the reference.
    expect(page).to_have_url(f"{base}/request/sent")
    expect(page.locator("#form-errors")).to_have_count(0)
    expect(page.locator("html")).to_have_attribute("lang", lang)
    lead = page.locator("main p.lead")
    expect(lead).to_contain_text(REFERENCE_PATTERN)
    reference = REFERENCE_PATTERN.search(lead.inner_text()).group(0)
    received = deadlines.paris_date(datetime.now(UTC))
    due = deadlines.due_date(received)

    # The worker sends the confirmation e-mail; the demo mailbox shows it with its link.
    assert run_queued_jobs(app) == 0
    page.goto(f"{base}/demo/mailbox")
    mails = page.locator("article.mail")
    expect(mails).to_have_count(1)
    newest = mails.first
    expect(newest).to_have_attribute("data-to", email)
    expect(newest.locator("h2")).to_have_text(in_language(
        app, lang, lambda: str(SUBJECTS[MailTemplate.CONFIRM_EMAIL]) % {"reference": reference}
    ))
    confirm_link = newest.locator(f'a[href^="{base}/confirm/{reference}/"]')
    expect(confirm_link).to_have_count(1)
    confirm_link.click()

    # The confirmation page: a button (a GET alone confirms nothing), then the status page.
    expect(page).to_have_url(re.compile(rf"^{re.escape(base)}/confirm/{reference}/[\w-]+$"))
    expect(page.locator("html")).to_have_attribute("lang", lang)
    page.locator("#confirm-button").click()
    expect(page).to_have_url(f"{base}/status/{reference}")
    check_status_page(page, lang=lang, reference=reference, status=status_label,
                      kind=kind_label, received=received, due=due)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"status-{lang}.png"), full_page=True)

    # The acknowledgement e-mail, in the requester's language, carries the status link.
    assert run_queued_jobs(app) == 0
    ack_subject = in_language(
        app, lang, lambda: str(SUBJECTS[MailTemplate.ACKNOWLEDGEMENT]) % {"reference": reference}
    )
    page.goto(f"{base}/demo/mailbox")
    expect(page.locator("article.mail")).to_have_count(2)
    ack = page.locator("article.mail").filter(has=page.get_by_role("heading", name=ack_subject))
    expect(ack).to_have_count(1)
    # Newest first, even when both e-mails were sent within the same second.
    expect(page.locator("article.mail").first.locator("h2")).to_have_text(ack_subject)
    expect(ack).to_have_attribute("data-to", email)
    status_link = ack.locator(f'a[href^="{base}/status/{reference}/"]')
    expect(status_link).to_have_count(1)
    status_url = status_link.get_attribute("href")
    sent = [m for m in smtp_server.messages() if m["Subject"] == ack_subject]
    assert len(sent) == 1
    assert sent[0]["Content-Language"] == lang
    assert status_url in sent[0].get_body(preferencelist=("plain",)).get_content()

    # The status link works in another browser (no session), which drops the token from the URL.
    elsewhere = new_context(scenario.second_locale).new_page()
    response = elsewhere.goto(status_url)
    assert response is not None and response.status == 200
    expect(elsewhere).to_have_url(f"{base}/status/{reference}")
    check_status_page(elsewhere, lang=lang, reference=reference, status=status_label,
                      kind=kind_label, received=received, due=due)

    # A token with its last character changed is a plain 404, and grants nothing.
    token = status_url.rsplit("/", 1)[1]
    tampered = status_url[: -1] + ("A" if token[-1] != "A" else "B")
    stranger = new_context(scenario.second_locale).new_page()
    response = stranger.goto(tampered)
    assert response is not None and response.status == 404
    expect(stranger.locator("html")).to_have_attribute("lang", lang)
    expect(stranger.locator("h1")).to_have_text(in_language(app, lang, ERROR_MESSAGES[404][0]))
    expect(stranger.locator("#case-status")).to_have_count(0)
    response = stranger.goto(f"{base}/status/{reference}")
    assert response is not None and response.status == 404

    # Last, the words themselves: the pages and the e-mail really are in ``lang`` (above, the
    # expected texts come from the app's catalogue, which falls back to English when a
    # translation is missing).
    if lang == "fr":
        assert FR_CATALOG.exists(), f"{FR_CATALOG} is missing: compile the French catalogue"
    heading = elsewhere.locator("h1").inner_text()
    assert scenario.heading_word.lower() in heading.lower(), heading
    assert scenario.subject_word.lower() in ack_subject.lower(), ack_subject
    if lang == "fr":
        for english in (STATUS_LABELS[CaseStatus.CONFIRMED], KIND_LABELS[CaseKind.ACCESS],
                        SUBJECTS[MailTemplate.ACKNOWLEDGEMENT]):
            assert in_language(app, "fr", english) != in_language(app, "en", english)
        expect(elsewhere.locator("main")).not_to_contain_text("Answer due by")
