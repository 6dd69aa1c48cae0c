"""End to end in a real headless Chromium, back office: a DPO signs in with a password and a TOTP
code, asks the requester a question, the requester answers from the e-mailed link, then the DPO
extends the deadline (once: a second extension is refused) and signs out.

Same set-up as ``tests/test_browser.py`` (whose fixtures are reused): the real app served over
HTTP in a background thread, the real database, Redis and SMTP catcher, a real RQ worker run in
burst mode after each action that sends e-mail, Debian's Chromium driven by Playwright. The DPO
and the requester use separate browser contexts (own cookies, own ``Accept-Language``).
"""

from __future__ import annotations

import asyncio
import gc
import re

import pytest
from babel.dates import format_date
from flask_babel import gettext
from playwright.sync_api import Browser, expect, sync_playwright
from sqlalchemy import func, select

from dsar import deadlines
from dsar.cases.clock import today_in_paris
from dsar.extensions import db
from dsar.i18n import KIND_LABELS, STAFF_STATUS_LABELS, STATUS_LABELS
from dsar.mail.outbox import SUBJECTS
from dsar.models import AuditEvent, Case, CaseKind, CaseStatus, MailTemplate
from tests import test_browser as portal_test
from tests.conftest import run_queued_jobs
from tests.staff_helpers import PASSWORD, make_case, make_staff
from tests.test_browser import ARTIFACTS, REFERENCE_PATTERN, in_language, spaces

# The fixtures of the portal test, shared: pytest finds fixtures by name in this module.
live_server = portal_test.live_server
new_context = portal_test.new_context

pytestmark = pytest.mark.browser

QUESTION = "Which of your customer accounts is concerned: the one opened in Lyon or in Paris?"
ANSWER = "The account opened in Lyon in 2019 (customer number CUST-1042)."
REASON = "Your data is spread over three archived systems that we must search one by one."
ALREADY_EXTENDED = "This case has already been extended; the law allows it once."


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium, as in the portal test -- the very same one when the portal
    test has launched it in this run: its ``browser`` fixture lives for the whole session and a
    second sync Playwright cannot start in the same thread ("using Playwright Sync API inside
    the asyncio loop"). Our own is closed at the end of this module, so that the portal test can
    start its own after us, whatever the order."""
    running = _running_chromium()
    if running is not None:
        yield running
        return
    if not portal_test.CHROMIUM.exists():
        pytest.fail(f"{portal_test.CHROMIUM} is missing: install Debian's chromium package")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(portal_test.CHROMIUM),
                                              headless=True, args=portal_test.CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _running_chromium() -> Browser | None:
    """The Chromium of a sync Playwright already running in this thread, if any."""
    try:
        asyncio.get_running_loop()  # a live sync Playwright keeps its loop running here
    except RuntimeError:
        return None
    found = [o for o in gc.get_objects() if type(o) is Browser and o.is_connected()]
    assert len(found) == 1, f"a sync Playwright is running with {len(found)} browsers"
    return found[0]


# ------------------------------------------------------------------------------------- helpers


def text_in(app, lang: str, msgid: str, **values) -> str:
    """A message of the app (``gettext`` msgid, i.e. its English text) as rendered in
    ``lang``."""
    return in_language(app, lang, lambda: gettext(msgid, **values))


def subject(app, lang: str, template: MailTemplate, reference: str) -> str:
    return in_language(app, lang, lambda: str(SUBJECTS[template]) % {"reference": reference})


def post_and_wait(page, action: str, button):
    """Click ``button`` of a case action form; returns the response to the POST itself (302
    when the action is done, 400 when it is refused)."""
    with page.expect_response(
        lambda r: r.request.method == "POST" and r.url.endswith(f"/{action}")
    ) as info:
        button.click()
    page.wait_for_load_state()
    return info.value


def file_confirmed_request(page, base: str, app, email: str) -> str:
    """The requester files an access request on the portal and confirms it from the e-mailed
    link (the walk of ``tests/test_browser.py``, in the page's language); returns the
    reference."""
    page.goto(f"{base}/request/access")
    page.locator("#full_name").fill("Camille Martin")
    page.locator("#email").fill(email)
    page.locator("#customer_number").fill("CUST-1042")
    page.locator("#declaration").check()
    page.locator('main form button[type="submit"]').click()
    expect(page).to_have_url(f"{base}/request/sent")
    lead = page.locator("main p.lead")
    expect(lead).to_contain_text(REFERENCE_PATTERN)
    reference = REFERENCE_PATTERN.search(lead.inner_text()).group(0)
    assert run_queued_jobs(app) == 0
    page.goto(f"{base}/demo/mailbox")
    page.locator("article.mail").first.locator(f'a[href^="{base}/confirm/{reference}/"]').click()
    page.locator("#confirm-button").click()
    expect(page).to_have_url(f"{base}/status/{reference}")
    expect(page.locator("#case-status")).to_have_attribute("data-status", "confirmed")
    assert run_queued_jobs(app) == 0  # the acknowledgement
    return reference


def sign_in(page, base: str, app, staff, lang: str) -> None:
    """From ``/staff/`` (redirected to the sign-in page) through password and TOTP code to the
    dashboard."""
    page.goto(f"{base}/staff/")
    expect(page).to_have_url(re.compile(rf"^{re.escape(base)}/staff/login(\?.*)?$"))
    expect(page.locator("html")).to_have_attribute("lang", lang)
    expect(page.locator("main .flash")).to_have_text(text_in(app, lang, "Please sign in."))
    expect(page.locator("#logout-button")).to_have_count(0)
    page.locator("#email").fill(staff.email)
    page.locator("#password").fill(PASSWORD)
    page.locator("#login-button").click()

    expect(page).to_have_url(f"{base}/staff/login/code")
    expect(page.locator("h1")).to_have_text(text_in(app, lang, "Two-step sign-in"))
    page.locator("#code").fill(staff.code())
    page.locator("#code-button").click()

    expect(page).to_have_url(f"{base}/staff/")
    expect(page.locator("#code-error")).to_have_count(0)
    expect(page.locator("html")).to_have_attribute("lang", lang)
    expect(page.locator("h1")).to_have_text(text_in(app, lang, "Open cases"))
    expect(page.locator("header .who")).to_contain_text(staff.email)
    expect(page.locator("#logout-button")).to_be_visible()


def open_case_from_dashboard(page, base: str, reference: str) -> None:
    row = page.locator(f'tr[data-reference="{reference}"]')
    expect(row).to_have_count(1)
    row.get_by_role("link", name=reference).click()
    expect(page).to_have_url(f"{base}/staff/cases/{reference}")
    expect(page.locator("h1")).to_contain_text(reference)


def expected_extended_due(app, reference: str):
    """The extended due date from the case's receipt date and clock pauses in the database
    (LEGAL.md D7, D8), computed by ``dsar.deadlines``, not read from the case."""
    with app.app_context():
        case = db.session.scalar(select(Case).where(Case.reference == reference))
        pauses = [(p.started_on, p.ended_on) for p in case.pauses]
        due = deadlines.effective_due_date(
            case.received_on, extended=True, pauses=pauses, today=today_in_paris(),
            calendar=case.calendar,
        )
        return case.received_on, pauses, due


def audit_actions(app, reference: str) -> list[str]:
    with app.app_context():
        case_id = db.session.scalar(select(Case.id).where(Case.reference == reference))
        return list(db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.case_id == case_id)
            .order_by(AuditEvent.id)))


def mails_with_subject(smtp_server, title: str) -> list:
    return [m for m in smtp_server.messages() if m["Subject"] == title]


def plain_body(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


# ---------------------------------------------------------------------------------------- test


def test_dpo_needs_info_round_trip_and_extension(live_server, new_context, smtp_server):
    app, base = live_server.app, live_server.url
    requester_email = "camille.martin@example.fr"
    dpo = make_staff(app, "dpo", name="Dominique Petit")

    # 1. The requester files an access request on the portal (in English) and confirms it.
    requester = new_context("en-US").new_page()
    reference = file_confirmed_request(requester, base, app, requester_email)

    # 2. The DPO signs in (password, then TOTP) and opens the case from the dashboard.
    page = new_context("en-US").new_page()
    sign_in(page, base, app, dpo, "en")
    row = page.locator(f'tr[data-reference="{reference}"]')
    expect(row).to_contain_text(in_language(app, "en", KIND_LABELS[CaseKind.ACCESS]))
    expect(row).to_contain_text(in_language(app, "en",
                                            STAFF_STATUS_LABELS[CaseStatus.CONFIRMED]))
    open_case_from_dashboard(page, base, reference)
    status = page.locator("#case-status")
    expect(status).to_have_attribute("data-status", "confirmed")
    received, _, _ = expected_extended_due(app, reference)
    one_month_due = deadlines.due_date(received)
    expect(page.locator("#due-on")).to_have_attribute("data-date", one_month_due.isoformat())

    # 3. The DPO asks for information: the case waits for the requester, the clock pauses.
    page.locator("#ask-question").fill(QUESTION)
    response = post_and_wait(page, "ask", page.locator("#ask button[type=submit]"))
    assert response.status == 302, response.status
    expect(page).to_have_url(f"{base}/staff/cases/{reference}#ask")
    expect(page.locator("#ask-error")).to_have_count(0)
    expect(status).to_have_attribute("data-status", "needs_info")
    expect(status).to_have_text(in_language(app, "en",
                                            STAFF_STATUS_LABELS[CaseStatus.NEEDS_INFO]))
    question = page.locator(".question").filter(has_text=QUESTION)
    expect(question).to_have_count(1)
    expect(question).to_contain_text(text_in(app, "en", "Waiting for the answer; the clock is "
                                                        "paused."))

    # 4. The requester gets the question by e-mail, follows its link, answers on the status page.
    assert run_queued_jobs(app) == 0
    info_subject = subject(app, "en", MailTemplate.INFO_REQUEST, reference)
    requester.goto(f"{base}/demo/mailbox")
    newest = requester.locator("article.mail").first
    expect(newest.locator("h2")).to_have_text(info_subject)
    expect(newest).to_have_attribute("data-to", requester_email)
    expect(newest.locator("pre")).to_contain_text(QUESTION)
    newest.locator(f'a[href^="{base}/status/{reference}/"]').click()
    expect(requester).to_have_url(f"{base}/status/{reference}")
    expect(requester.locator("#case-status")).to_have_attribute("data-status", "needs_info")
    expect(requester.locator("#question-text")).to_have_text(QUESTION)
    requester.locator("#answer").fill(ANSWER)
    requester.locator("#answer-button").click()
    expect(requester).to_have_url(f"{base}/status/{reference}")
    expect(requester.locator("#question")).to_have_count(0)
    expect(requester.locator("#question-text")).to_have_count(0)
    expect(requester.locator("#case-status")).to_have_attribute("data-status", "confirmed")
    expect(requester.locator("#case-status")).to_have_text(
        in_language(app, "en", STATUS_LABELS[CaseStatus.CONFIRMED]))

    # 5. The DPO sees the answer under the question; the case is back to "confirmed".
    page.reload()
    expect(status).to_have_attribute("data-status", "confirmed")
    expect(page.get_by_role("heading", name=text_in(app, "en", "Questions to the requester"))
           ).to_be_visible()
    expect(question.locator(".answer")).to_contain_text(ANSWER)
    expect(question).not_to_contain_text(text_in(app, "en", "Waiting for the answer; the clock "
                                                            "is paused."))

    # 6. The DPO extends the deadline by two months, with a reason sent to the requester.
    page.locator("#extend-reason").fill(REASON)
    response = post_and_wait(page, "extend", page.locator("#extend button[type=submit]"))
    assert response.status == 302, response.status
    expect(page).to_have_url(f"{base}/staff/cases/{reference}#extend")
    expect(page.locator("#extend-error")).to_have_count(0)
    received, pauses, due = expected_extended_due(app, reference)
    assert len(pauses) == 1 and pauses[0][1] is not None, pauses  # the answered question
    assert due > one_month_due
    due_on = page.locator("#due-on")
    expect(due_on).to_have_attribute("data-date", due.isoformat())
    assert spaces(due_on.inner_text()) == spaces(format_date(due, "long", locale="en"))
    expect(page.locator("main")).to_contain_text(REASON)
    expect(status).to_have_attribute("data-status", "confirmed")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "staff-case.png"), full_page=True)

    # The requester is told by e-mail, with the reason and the new date, in English.
    assert run_queued_jobs(app) == 0
    extended_subject = subject(app, "en", MailTemplate.EXTENDED, reference)
    sent = mails_with_subject(smtp_server, extended_subject)
    assert len(sent) == 1, [m["Subject"] for m in smtp_server.messages()]
    assert sent[0]["To"] == requester_email
    assert sent[0]["Content-Language"] == "en"
    body = plain_body(sent[0])
    assert REASON in body
    assert format_date(due, "long", locale="en") in body
    requester.goto(f"{base}/demo/mailbox")
    newest = requester.locator("article.mail").first
    expect(newest.locator("h2")).to_have_text(extended_subject)
    expect(newest.locator("pre")).to_contain_text(REASON)
    # ... and the status page shows the extended date.
    requester.goto(f"{base}/status/{reference}")
    expect(requester.locator("#due-on")).to_have_attribute("data-date", due.isoformat())
    expect(requester.locator("#due-on")).to_contain_text(text_in(
        app, "en", "The deadline was extended by two months, for the reasons we sent you."))

    # 7. The law allows one extension: the form is no longer offered, and a second one sent
    # anyway (an old tab) is refused with the reason, nothing changed (tests/test_casework.py
    # covers the refusal page itself).
    expect(page.locator("#extend")).to_have_count(0)
    token = page.locator("#note input[name=csrf_token]").input_value()
    refused = page.request.post(f"{base}/staff/cases/{reference}/extend",
                                form={"csrf_token": token, "reason": "Still more archives."},
                                headers={"Accept-Language": "en-US"})
    assert refused.status == 400, refused.status
    assert text_in(app, "en", ALREADY_EXTENDED) in refused.text()
    page.reload()
    expect(page.locator("#due-on")).to_have_attribute("data-date", due.isoformat())
    assert run_queued_jobs(app) == 0
    assert len(mails_with_subject(smtp_server, extended_subject)) == 1
    with app.app_context():
        stored = db.session.scalar(select(Case).where(Case.reference == reference))
        assert stored.due_on == due and stored.extension_reason == REASON

    # The audit trail has the whole walk, once each.
    actions = audit_actions(app, reference)
    for action in ("case.info_requested", "case.info_answered", "case.extended"):
        assert actions.count(action) == 1, actions
    assert actions.index("case.info_requested") < actions.index("case.info_answered") \
        < actions.index("case.extended")

    # 8. The DPO signs out; the back office asks for a sign-in again.
    page.locator("#logout-button").click()
    expect(page).to_have_url(f"{base}/staff/login")
    expect(page.locator("main .flash")).to_have_text(text_in(app, "en", "You are signed out."))
    expect(page.locator("#logout-button")).to_have_count(0)
    page.goto(f"{base}/staff/")
    expect(page).to_have_url(re.compile(rf"^{re.escape(base)}/staff/login(\?.*)?$"))
    expect(page.locator("#login-button")).to_be_visible()
    response = page.goto(f"{base}/staff/cases/{reference}")
    expect(page).to_have_url(re.compile(rf"^{re.escape(base)}/staff/login(\?.*)?$"))
    expect(page.locator("#case-status")).to_have_count(0)
    with app.app_context():
        logins = db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action.in_(["staff.login", "staff.logout"]),
            AuditEvent.actor_id == str(dpo.id)))
    assert logins == 2


# ------------------------------------------------------------------------------ French variant


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
    body = plain_body(sent[0])
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
