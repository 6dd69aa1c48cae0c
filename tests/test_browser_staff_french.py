"""End to end in a real headless Chromium, back office in French (the default language): a DPO
signs in and extends a case's deadline; French pages, French dates, the requester's e-mail in
French -- and the texts really are French, not the English msgids.

Same set-up as ``tests/test_browser_staff_round_trip.py`` (the fixtures of
``tests/fixtures/browser.py``).
"""

from __future__ import annotations

import pytest
from babel.dates import format_date
from playwright.sync_api import expect

from dsar import deadlines
from dsar.i18n import KIND_LABELS
from dsar.models import CaseKind, MailTemplate
from tests.support.browser import (
    in_language,
    mails_with_subject,
    post_and_wait,
    spaces,
    subject,
    text_in,
)
from tests.support.browser_staff import (
    ALREADY_EXTENDED,
    expected_extended_due,
    open_case_from_dashboard,
)
from tests.support.mailbox import body_of
from tests.support.staff import PASSWORD, make_case, make_staff
from tests.support.workers import run_queued_jobs

pytestmark = pytest.mark.browser


class Untranslated(AssertionError):
    """Text of the French back office that is still the English msgid."""


#: What the French walk shows: (CSS selector on the page, English msgid it renders).
FRENCH_PAGE_TEXTS = {
    "login": [("h1", "Sign in to the back office"), ("#login-button", "Continue")],
    "code": [("h1", "Two-step sign-in"), ("#code-button", "Sign in")],
    "dashboard": [("h1", "Open cases"), ("#logout-button", "Sign out")],
    "case": [("#extend h3", "Extend by two months"), ("#extend button", "Extend")],
}


def test_dpo_signs_in_and_extends_in_french(live_server, new_context, smtp_server):
    """Steps 2 and 6 in French (the default language): French pages, French dates, the
    requester's e-mail in French; the last check (are the texts really French, not the English
    msgids?) raises ``Untranslated`` if a back-office message loses its translation."""
    app, base = live_server.app, live_server.url
    requester_email = "claude.bernard@example.fr"
    dpo = make_staff(app, "dpo", name="Dominique Petit")
    case = make_case(app, email=requester_email)  # language "fr"
    reference = case.reference
    still_english: list[str] = []

    def check_words(page, step: str) -> None:
        for selector, english in FRENCH_PAGE_TEXTS[step]:
            shown = spaces(page.locator(selector).first.inner_text())
            expect(page.locator(selector).first).to_have_text(text_in(app, "fr", english))
            if shown == english:
                still_english.append(f"{step} {selector}: {english!r}")

    page = new_context("fr-FR").new_page()
    page.goto(f"{base}/staff/")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    check_words(page, "login")
    page.locator("#email").fill(dpo.email)
    page.locator("#password").fill(PASSWORD)
    page.locator("#login-button").click()
    expect(page).to_have_url(f"{base}/staff/login/code")
    check_words(page, "code")
    page.locator("#code").fill(dpo.code())
    page.locator("#code-button").click()
    expect(page).to_have_url(f"{base}/staff/")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    check_words(page, "dashboard")
    row = page.locator(f'tr[data-reference="{reference}"]')
    expect(row).to_have_count(1)
    one_month_due = deadlines.due_date(case.received_on)
    assert spaces(row.locator("td").first.inner_text()).startswith(
        spaces(format_date(one_month_due, "medium", locale="fr")))  # "12 janv. 2026"
    expect(row).to_contain_text(in_language(app, "fr", KIND_LABELS[CaseKind.ACCESS]))
    open_case_from_dashboard(page, base, reference)
    check_words(page, "case")

    page.locator("#extend-reason").fill("Vos données sont réparties dans trois archives.")
    response = post_and_wait(page, "extend", page.locator("#extend button[type=submit]"))
    assert response.status == 302, response.status
    _, pauses, due = expected_extended_due(app, reference)
    assert pauses == []
    assert due == deadlines.due_date(case.received_on, extended=True)
    due_on = page.locator("#due-on")
    expect(due_on).to_have_attribute("data-date", due.isoformat())
    assert spaces(due_on.inner_text()) == spaces(format_date(due, "long", locale="fr"))
    assert format_date(due, "MMMM", locale="fr") in due_on.inner_text()  # "mars", "avril"...

    assert run_queued_jobs(app) == 0
    extended_subject = subject(app, "fr", MailTemplate.EXTENDED, reference)
    sent = mails_with_subject(smtp_server, extended_subject)
    assert len(sent) == 1, [m["Subject"] for m in smtp_server.messages()]
    assert sent[0]["To"] == requester_email and sent[0]["Content-Language"] == "fr"
    body = body_of(sent[0])
    assert "Vos données sont réparties dans trois archives." in body
    assert format_date(due, "long", locale="fr") in body

    token = page.locator("#note input[name=csrf_token]").input_value()
    refused = page.request.post(f"{base}/staff/cases/{reference}/extend",
                                form={"csrf_token": token, "reason": "Encore des archives."},
                                headers={"Accept-Language": "fr-FR"})
    assert refused.status == 400, refused.status
    assert text_in(app, "fr", ALREADY_EXTENDED) in refused.text()

    # Last, the words: French pages and a French e-mail, not the English msgids.
    english_subject = subject(app, "en", MailTemplate.EXTENDED, reference)
    if extended_subject == english_subject:
        still_english.append(f"e-mail subject: {english_subject!r}")
    if still_english:
        raise Untranslated("still in English in French:\n" + "\n".join(still_english))
