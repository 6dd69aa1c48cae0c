"""End to end in a real headless Chromium, in French: an erasure request from the portal to the
downloaded certificate (issue 13's Chromium walk).

The requester files the erasure on the portal and confirms the e-mailed link; an agent checks
the identity and starts processing; the search runs on a real RQ worker; the DPO signs in
(password, then TOTP), reads the plan, approves it; the steps, the verification and the Art. 19
notices run on the worker; the DPO records the notice that has no e-mail address through the
page's form; the certificate is built and the DPO releases it; the requester reads the erasure
section of the status page, asks for a download code, types it and downloads the ZIP, whose
``certificate.pdf`` is read back with pypdf. The organisation is the small shop and billing of
``tests/support/gathering`` (real SQLite files in the test's folder): the rows are read back.

Same set-up as the other browser walks (``tests/fixtures/browser.py``): the real app over HTTP
in a background thread, the real database, Redis and SMTP catcher, Debian's Chromium.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from dsar.changes.plan import EXCEPTIONS
from dsar.exports.certificate_content import GROUND_LABELS
from dsar.i18n import KIND_LABELS, STAFF_STATUS_LABELS, STATUS_LABELS
from dsar.models import CaseKind, CaseStatus, MailTemplate
from tests.support.browser import (
    ARTIFACTS,
    in_language,
    mails_with_subject,
    post_and_wait,
    spaces,
    subject,
    text_in,
)
from tests.support.browser_erasure import (
    certificate_text,
    english_on_page,
    file_erasure_request,
    record_server_errors,
    sign_in_without_code,
    sqlite_rows,
    template_msgids,
)
from tests.support.browser_staff import audit_actions, open_case_from_dashboard, sign_in
from tests.support.delivery import CODE
from tests.support.gathering import EMAIL
from tests.support.mailbox import body_of
from tests.support.staff import make_staff
from tests.support.workers import run_queued_jobs

pytestmark = pytest.mark.browser

GROUND = "no_longer_needed"
BASIS = "Code de commerce L123-22"
HOST_REASON = "L'hébergeur ne détient que des sauvegardes chiffrées, écrasées sous 30 jours."
CUSTOMERS = "SELECT id, email, name FROM customers ORDER BY id"
INVOICES = "SELECT id, customer_id, amount FROM invoices ORDER BY id"
#: The templates of the staff case page (their texts are looked for in English).
STAFF_PAGE = ("staff/case.html", "staff/_plan.html")


@pytest.fixture
def site(org, live_server):
    """The live server of an app that searches ``org`` (requested first: the app reads
    sources.toml and register.toml when it starts)."""
    return live_server


def test_erasure_from_the_portal_to_the_downloaded_certificate(site, org, new_context,
                                                               smtp_server, tmp_path):
    app, base = site.app, site.url
    customers_before = sqlite_rows(org / "shop.sqlite", CUSTOMERS)
    invoices_before = sqlite_rows(org / "billing.sqlite", INVOICES)
    english: dict[str, list[str]] = {}  # page -> English texts it showed (checked last)

    # 1. The requester files the erasure on the portal, in French, and confirms the address.
    requester_context = new_context("fr-FR")
    errors = record_server_errors(requester_context)
    requester = requester_context.new_page()
    reference = file_erasure_request(requester, base, app, email=EMAIL, ground=GROUND)
    expect(requester.locator("html")).to_have_attribute("lang", "fr")
    expect(requester.locator("#case-kind")).to_have_text(
        in_language(app, "fr", KIND_LABELS[CaseKind.ERASURE]))
    expect(requester.locator("#erasure")).to_have_count(0)  # no plan before the search

    # 2. An agent checks the identity and starts processing; the search runs on the worker.
    agent = make_staff(app, "agent", email="agent-erasure@staff.example", name="Alex Agent")
    staff_context = new_context("fr-FR")
    record_server_errors(staff_context, errors)
    page = staff_context.new_page()
    sign_in_without_code(page, base, agent.email)
    open_case_from_dashboard(page, base, reference)
    status = page.locator("#case-status")
    expect(status).to_have_attribute("data-status", "confirmed")
    page.locator("#verify-method").select_option("email_and_identifiers")
    page.locator("#verify-note").fill("Adresse confirmée, numéro client concordant.")
    assert post_and_wait(page, "verify", page.locator("#verify button[type=submit]")).status == 302
    expect(status).to_have_attribute("data-status", "verified")
    assert post_and_wait(page, "start", page.locator("#start button[type=submit]")).status == 302
    expect(status).to_have_attribute("data-status", "in_progress")
    assert run_queued_jobs(app) == 0
    page.reload()
    expect(status).to_have_attribute("data-status", "review")
    expect(page.locator("#source-shop")).to_have_attribute("data-status", "done")
    expect(page.locator("#source-billing")).to_have_attribute("data-status", "done")
    # The agent sees the plan but may neither keep items nor approve it.
    expect(page.locator("[data-plan-status]")).to_have_attribute("data-plan-status", "draft")
    expect(page.locator("#plan-table tbody tr")).to_have_count(2)
    expect(page.locator("#approve")).to_have_count(0)
    expect(page.locator("#keep")).to_have_count(0)
    page.locator("#logout-button").click()
    assert sqlite_rows(org / "shop.sqlite", CUSTOMERS) == customers_before  # nothing yet

    # 3. The DPO signs in (password, then TOTP) and reads the plan: the customer record
    # anonymised (two fields), the two invoices kept under the Code de commerce, the ground.
    dpo = make_staff(app, "dpo", email="dpo-erasure@staff.example", name="Dominique Petit")
    sign_in(page, base, app, dpo, "fr")
    row = page.locator(f'tr[data-reference="{reference}"]')
    expect(row).to_contain_text(in_language(app, "fr", STAFF_STATUS_LABELS[CaseStatus.REVIEW]))
    open_case_from_dashboard(page, base, reference)
    shop = page.locator('#plan-table tr[data-source="shop"]')
    expect(shop).to_have_attribute("data-collection", "customers")
    expect(shop).to_have_attribute("data-action", "anonymize")
    expect(shop.locator("td").nth(0)).to_have_text("Boutique")
    expect(shop.locator("td").nth(2)).to_have_text("1")
    expect(shop.locator("td").nth(3)).to_contain_text(text_in(app, "fr", "anonymised"))
    expect(shop.locator("td").nth(3)).to_contain_text("2 " + text_in(app, "fr", "fields"))
    billing = page.locator('#plan-table tr[data-source="billing"]')
    expect(billing).to_have_attribute("data-action", "retain")
    expect(billing.locator("td").nth(0)).to_have_text("Facturation")
    expect(billing.locator("td").nth(2)).to_have_text("2")
    expect(billing.locator("td").nth(3)).to_have_text(text_in(app, "fr", "kept"))
    expect(billing.locator("td").nth(4)).to_have_text(BASIS)
    ground_label = in_language(app, "fr", GROUND_LABELS[GROUND])
    expect(page.locator("main")).to_contain_text(ground_label)
    expect(page.locator("#keep")).to_be_visible()
    plan_text = page.locator("main").inner_text()
    english["staff case page, plan to approve"] = english_on_page(
        app, plan_text, template_msgids(*STAFF_PAGE) + list(EXCEPTIONS.values()))
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "erasure-plan.png"), full_page=True)

    # 4. The DPO approves; the steps, the verification and the notices run on the worker.
    approve = page.locator("#approve button[type=submit]")
    expect(approve).to_have_text(text_in(app, "fr", "Approve and carry out"))
    assert post_and_wait(page, "approve", approve).status == 302
    expect(status).to_have_attribute("data-status", "executing")
    expect(page.locator("#approve")).to_have_count(0)
    assert run_queued_jobs(app) == 0
    page.reload()
    expect(status).to_have_attribute("data-status", "review")
    expect(page.locator("[data-plan-status]")).to_have_attribute("data-plan-status", "verified")
    expect(page.locator('#plan-steps tr[data-source="shop"]')).to_have_attribute(
        "data-status", "done")
    # The source rows really changed: her e-mail hashed, her name gone; the namesake, the
    # other customer and every invoice untouched.
    customers = sqlite_rows(org / "shop.sqlite", CUSTOMERS)
    (_, hashed, name), *others = customers
    assert hashed != EMAIL and len(hashed) == 64 and name is None, customers[0]
    assert others == customers_before[1:]
    assert sqlite_rows(org / "billing.sqlite", INVOICES) == invoices_before

    # Art. 19: the router, which declares an address, was e-mailed; the host waits for staff.
    told = [m for m in smtp_server.messages() if m["To"] == "dpo@routeur.example"]
    assert len(told) == 1 and EMAIL in body_of(told[0]), [m["To"] for m in told]
    expect(page.locator('#notice-table tr[data-recipient="mailer"]')).to_have_attribute(
        "data-status", "notified")
    expect(page.locator('#notice-table tr[data-recipient="host"]')).to_have_attribute(
        "data-status", "pending")
    expect(page.locator("#package")).to_have_count(0)  # no certificate while one is pending
    notice = page.locator("#notice")
    notice.locator("select[name=notice_id]").select_option(label="Hébergeur SAS")
    notice.locator("select[name=outcome]").select_option("disproportionate")
    notice.locator("textarea[name=reason]").fill(HOST_REASON)
    assert post_and_wait(page, "notice", notice.locator("button[type=submit]")).status == 302
    expect(page.locator('#notice-table tr[data-recipient="host"]')).to_have_attribute(
        "data-status", "disproportionate")
    expect(page.locator("#notice")).to_have_count(0)

    # 5. The certificate is built; the DPO releases it; the case is completed.
    assert run_queued_jobs(app) == 0
    page.reload()
    english["staff case page, plan carried out"] = english_on_page(
        app, page.locator("main").inner_text(), template_msgids(*STAFF_PAGE))
    expect(page.locator("#package")).to_be_visible()
    steps_text = page.locator("#plan-steps").inner_text()
    release = page.locator("#release button[type=submit]")
    assert post_and_wait(page, "release", release).status == 302
    expect(status).to_have_attribute("data-status", "completed")
    expect(page.locator("#package-released")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "erasure-released.png"), full_page=True)

    # 6. The requester follows the link of the "answer ready" e-mail to the status page.
    assert run_queued_jobs(app) == 0
    requester.goto(f"{base}/demo/mailbox")
    ready = requester.locator("article.mail").filter(has=requester.get_by_role(
        "heading", name=subject(app, "fr", MailTemplate.PACKAGE_READY, reference)))
    expect(ready).to_have_count(1)
    expect(ready).to_have_attribute("data-to", EMAIL)
    [ready_mail] = mails_with_subject(
        smtp_server, subject(app, "fr", MailTemplate.PACKAGE_READY, reference))
    assert "certificate.pdf" in body_of(ready_mail) and "CNIL" in body_of(ready_mail)
    ready.locator(f'a[href^="{base}/status/{reference}/"]').click()
    expect(requester).to_have_url(f"{base}/status/{reference}")
    expect(requester.locator("#case-status")).to_have_text(
        in_language(app, "fr", STATUS_LABELS[CaseStatus.COMPLETED]))
    erasure = requester.locator("#erasure")
    expect(erasure).to_have_attribute("data-stage", "verified")
    expect(erasure).to_contain_text(text_in(
        app, "fr", "Your data has been erased, and we checked that nothing is left."))
    kept = requester.locator("#erasure-kept li")
    expect(kept).to_have_count(1)
    expect(kept).to_contain_text("Facturation")
    expect(kept).to_contain_text(BASIS)
    recipients = requester.locator("#erasure-recipients li")
    expect(recipients).to_have_count(2)
    expect(recipients.filter(has_text="Routeur SAS")).to_contain_text(text_in(app, "fr", "told"))
    expect(recipients.filter(has_text="Hébergeur SAS")).to_contain_text(HOST_REASON)
    english["requester's status page"] = english_on_page(
        app, requester.locator("main").inner_text(), template_msgids("portal/status.html"))
    requester.screenshot(path=str(ARTIFACTS / "erasure-status.png"), full_page=True)

    # 7. A download code by e-mail, typed on the download page: the ZIP and its certificate.
    requester.locator("#download-link").click()
    expect(requester).to_have_url(f"{base}/status/{reference}/download")
    download_text = requester.locator("main").inner_text()
    english["download page"] = english_on_page(app, download_text,
                                                template_msgids("portal/download.html"))
    requester.locator("#code-button").click()
    expect(requester.locator("#code-sent")).to_be_visible()
    assert run_queued_jobs(app) == 0
    code_mail = smtp_server.last_to(EMAIL)
    assert code_mail["Subject"] == subject(app, "fr", MailTemplate.DOWNLOAD_CODE, reference)
    requester.locator("#code").fill(CODE.search(body_of(code_mail)).group(1))
    with requester.expect_download() as download:
        requester.locator("#download-button").click()
    zip_path = tmp_path / download.value.suggested_filename
    download.value.save_as(zip_path)
    names, text = certificate_text(zip_path)
    assert "certificate.pdf" in names, names
    assert "report.pdf" not in names and "export.json" not in names, names  # no access letter
    for expected in ("Camille Martin", reference, BASIS, "Boutique", "Facturation",
                     "Routeur SAS", "Hébergeur SAS", "sauvegardes chiffrées", ground_label):
        assert expected in text, (expected, text[:2000])
    assert EMAIL not in text  # the certificate does not repeat the erased address
    english["certificate.pdf"] = english_on_page(app, text,
                                                 template_msgids("exports/certificate.html"))

    requester.goto(f"{base}/status/{reference}")
    expect(requester.locator(".history")).to_contain_text(text_in(app, "fr", "Answer downloaded"))
    actions = audit_actions(app, reference)
    for action in ("plan.approved", "plan.verified", "notice.decided", "package.downloaded"):
        assert actions.count(action) == 1, (action, actions)
    assert actions.index("plan.approved") < actions.index("plan.verified") \
        < actions.index("package.downloaded")
    assert errors == [], errors

    # Last, the words themselves: nothing English on the pages served in French (the texts
    # above come from the app's catalogue, which falls back to English when a translation is
    # missing), and no internal code shown to the staff as if it were text.
    problems = [f"{where}: {texts}" for where, texts in english.items() if texts]
    if "erasure_ground" in plan_text or GROUND in plan_text:
        problems.append("staff case page: the ground's internal code (erasure_ground, "
                        f"{GROUND}) is shown")
    if "billing" in steps_text or "customers" in steps_text:
        problems.append("staff case page, steps table: the sources' and collections' internal "
                        f"names instead of their labels: {spaces(steps_text)!r}")
    if "report.pdf" in download_text or "export.json" in download_text:
        problems.append("download page: says the ZIP holds report.pdf and export.json; an "
                        "erasure's ZIP holds certificate.pdf")
    if text_in(app, "fr", "Erasure certificate") not in text or "Erasure certificate" in text:
        problems.append("certificate.pdf: not titled in French")
    assert not problems, "\n".join(problems)
