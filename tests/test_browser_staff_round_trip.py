"""End to end in a real headless Chromium, back office: a DPO signs in with a password and a TOTP
code, asks the requester a question, the requester answers from the e-mailed link, then the DPO
extends the deadline (once: a second extension is refused) and signs out.

Same set-up as ``tests/test_browser.py`` (the fixtures of ``tests/fixtures/browser.py``): the
real app served over HTTP in a background thread, the real database, Redis and SMTP catcher, a
real RQ worker run in burst mode after each action that sends e-mail, Debian's Chromium driven
by Playwright. The DPO and the requester use separate browser contexts (own cookies, own
``Accept-Language``).
"""

from __future__ import annotations

import re

import pytest
from babel.dates import format_date
from playwright.sync_api import expect
from sqlalchemy import func, select

from dsar import deadlines
from dsar.extensions import db
from dsar.i18n import KIND_LABELS, STAFF_STATUS_LABELS, STATUS_LABELS
from dsar.models import AuditEvent, Case, CaseKind, CaseStatus, MailTemplate
from tests.support.browser import (
    ARTIFACTS,
    in_language,
    mails_with_subject,
    post_and_wait,
    spaces,
    subject,
    text_in,
)
from tests.support.browser_staff import (
    ALREADY_EXTENDED,
    audit_actions,
    expected_extended_due,
    file_confirmed_request,
    open_case_from_dashboard,
    sign_in,
)
from tests.support.mailbox import body_of
from tests.support.staff import make_staff
from tests.support.workers import run_queued_jobs

pytestmark = pytest.mark.browser

QUESTION = "Which of your customer accounts is concerned: the one opened in Lyon or in Paris?"
ANSWER = "The account opened in Lyon in 2019 (customer number CUST-1042)."
REASON = "Your data is spread over three archived systems that we must search one by one."


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

    # 3. The DPO asks for information on a reasonable doubt about identity: the case waits for
    # the requester, the clock pauses.
    page.locator("#ask-question").fill(QUESTION)
    page.locator("#ask-doubt").fill("Le nom donné ne correspond pas à celui du compte.")
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
    body = body_of(sent[0])
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
    # anyway (an old tab) is refused with the reason, nothing changed
    # (tests/test_casework_extension.py covers the refusal page itself).
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
