"""The back office in headless Chromium: a requester files and confirms a request, a staff
member signs in (password, then TOTP) and opens the case; what the deadline should be, and what
the audit trail holds."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import select

from dsar import deadlines
from dsar.cases.clock import today_in_paris
from dsar.extensions import db
from dsar.models import AuditEvent, Case
from tests.support.browser import REFERENCE_PATTERN, text_in
from tests.support.staff import PASSWORD
from tests.support.workers import run_queued_jobs

ALREADY_EXTENDED = "This case has already been extended; the law allows it once."


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
    """Open the case from its row on the dashboard."""
    row = page.locator(f'tr[data-reference="{reference}"]')
    expect(row).to_have_count(1)
    row.get_by_role("link", name=reference).click()
    expect(page).to_have_url(f"{base}/staff/cases/{reference}")
    expect(page.locator("h1")).to_contain_text(reference)


def expected_extended_due(app, reference: str):
    """The extended due date from the case's receipt date and clock pauses in the database
    (docs/legal-rules.md D7, D8), computed by ``dsar.deadlines``, not read from the case."""
    with app.app_context():
        case = db.session.scalar(select(Case).where(Case.reference == reference))
        pauses = [(p.started_on, p.ended_on) for p in case.pauses]
        due = deadlines.effective_due_date(
            case.received_on, extended=True, pauses=pauses, today=today_in_paris(),
            calendar=case.calendar,
        )
        return case.received_on, pauses, due


def audit_actions(app, reference: str) -> list[str]:
    """The audit actions recorded about the case, oldest first."""
    with app.app_context():
        case_id = db.session.scalar(select(Case.id).where(Case.reference == reference))
        return list(db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.case_id == case_id)
            .order_by(AuditEvent.id)))
