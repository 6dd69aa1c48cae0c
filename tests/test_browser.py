"""End to end in a real headless Chromium: file an access request, follow the e-mailed link from
the demo mailbox, read the status page with its due date -- in French and in English.

The real app is served over HTTP by a werkzeug server in a background thread, on the same
SQLite/PostgreSQL database, real Redis and real SMTP catcher as the other tests; e-mails are
sent by a real RQ worker run in burst mode once the browser has submitted the form. Chromium is
Debian's (``/usr/bin/chromium``), driven by Python Playwright (no browser download).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from babel.dates import format_date
from playwright.sync_api import expect

from dsar import deadlines
from dsar.i18n import KIND_LABELS, STATUS_LABELS
from dsar.mail.compose import SUBJECTS
from dsar.models import CaseKind, CaseStatus, MailTemplate
from dsar.paths import TRANSLATIONS_DIR
from dsar.web.errors import MESSAGES as ERROR_MESSAGES
from tests.support.browser import ARTIFACTS, REFERENCE_PATTERN, in_language, spaces
from tests.support.workers import run_queued_jobs

pytestmark = pytest.mark.browser

FR_CATALOG = TRANSLATIONS_DIR / "fr" / "LC_MESSAGES" / "messages.mo"


# ------------------------------------------------------------------------------------- helpers


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
