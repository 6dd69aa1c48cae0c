"""End to end in a real headless Chromium, in French, on the demo organisation: a rectification,
a restriction and an objection to direct marketing, each from the portal to the downloaded
answer (issue 14's Chromium walks).

Each walk files its request on the portal and confirms the e-mailed link (the demo mailbox);
the search and the plan's steps run on a real RQ worker against the demo's six sources (the
platform's SQLite database, the CRM and newsletter APIs over HTTP); staff act through the case
page's forms (an agent signs in with a password, a DPO with a TOTP code too); the requester
reads the status page and downloads the ZIP with a one-time code, whose ``certificate.pdf`` is
read back with pypdf. Every source is read back straight from its files afterwards: the
person's records changed as asked, and nothing else by a byte (the showcase near-twins
included).

Texts are looked for as the app's French catalogue renders them; a few titles are expected
word for word (``FRENCH``); English left on a French page is reported last, page by page.
"""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
import pytest
from playwright.sync_api import expect

from dsar.cases.clock import today_in_paris
from dsar.demo.org import SHOWCASE
from dsar.exports.answer_letters import CORRECTION_LABELS, MORE_ACTION_LABELS, TITLES
from dsar.i18n import KIND_LABELS, STATUS_LABELS
from dsar.models import ActorType, CaseKind, CaseStatus, MailTemplate
from tests.support.browser import ARTIFACTS, in_language, post_and_wait, subject, text_in
from tests.support.browser_erasure import (
    record_server_errors,
    sign_in_without_code,
    template_msgids,
)
from tests.support.browser_rights import (
    CHECK_TOKEN,
    actor_types,
    approve,
    download_answer,
    file_request,
    french_date,
    french_problems,
    live_horizon,
    map_correction,
    open_status_from_ready_mail,
    pick_list,
    record_notices,
    release,
    verify_and_start,
)
from tests.support.browser_staff import audit_actions, open_case_from_dashboard, sign_in
from tests.support.erasure_demo import changed_entries, snapshot
from tests.support.mailbox import body_of
from tests.support.staff import make_staff
from tests.support.workers import run_queued_jobs

pytestmark = pytest.mark.browser

A, E = SHOWCASE["A"], SHOWCASE["E"]
#: French the pages and letters must show word for word (new texts of issue 14).
FRENCH = {
    "rectification": "Rectification de vos données",  # "Correction of your data" (status)
    "rectification letter": "Rectification de vos données",  # "Rectification of your data"
    "restriction": "Limitation du traitement de vos données",  # status page and letter
    "objection": "Votre opposition",  # "Your objection" (status page)
    "objection letter": "Votre opposition au traitement de vos données",
}
STAFF_PAGE = ("staff/case.html", "staff/_plan.html", "staff/_plan_kinds.html")
STATUS_PAGE = ("portal/status.html", "portal/_change_progress.html")
LETTER_WORDS = [*TITLES.values(), *MORE_ACTION_LABELS.values(), *CORRECTION_LABELS.values()]


@pytest.fixture
def horizon(tmp_path, monkeypatch, app, database_url, redis_url, key_file, smtp_server):
    """The demo organisation and dsar serving it (``app`` is requested for its clean-up)."""
    with live_horizon(tmp_path, monkeypatch, database_url, redis_url, key_file,
                      smtp_server) as site:
        yield site


def letter_msgids(kind: str) -> list:
    """The messages an answer letter of ``kind`` may show."""
    return template_msgids("exports/certificate.html", f"exports/_{kind}.html",
                           "exports/_lines.html") + LETTER_WORDS


def untranslated(app, msgid: str, **values) -> bool:
    """Whether a message with placeholders renders the same in French as in English."""
    return text_in(app, "fr", msgid, **values) == text_in(app, "en", msgid, **values)


def test_rectification_from_the_portal_to_the_answer(horizon, new_context, smtp_server,
                                                     tmp_path):
    app, base = horizon.app, horizon.url
    before = snapshot(horizon.data)
    [contact] = horizon.ids("crm.sqlite", "contacts", "email", E["email"])
    [invoice] = horizon.ids("platform.sqlite", "invoices", "account_id", E["customer_id"])
    assert horizon.row("platform.sqlite", "invoices", invoice)["billed_to"] == "Cléa Fontaine"

    # 1. Cléa Fontaine asks, in French, for her married name on her account and her invoice.
    requester_context = new_context("fr-FR")
    errors = record_server_errors(requester_context)
    requester = requester_context.new_page()

    def details(page):
        page.locator("#data_to_correct").fill(
            "Mon nom de famille est incomplet depuis mon mariage, y compris sur ma facture.")
        page.locator("#correct_value").fill("Cléa Fontaine-Morel")

    reference = file_request(requester, base, app, "rectification", E, details)
    expect(requester.locator("#case-status")).to_have_attribute("data-status", "confirmed")
    expect(requester.locator("#case-kind")).to_have_text(
        in_language(app, "fr", KIND_LABELS[CaseKind.RECTIFICATION]))
    assert run_queued_jobs(app) == 0  # the acknowledgement

    # 2. An agent checks the identity, starts, and maps the correction in the pick list.
    agent = make_staff(app, "agent", email="agent-rectif@staff.example", name="Alex Agent")
    staff_context = new_context("fr-FR")
    record_server_errors(staff_context, errors)
    page = staff_context.new_page()
    sign_in_without_code(page, base, agent.email)
    open_case_from_dashboard(page, base, reference)
    verify_and_start(page, app)
    offered = pick_list(page)
    wanted = {"account": ("platform", "accounts", "last_name", str(E["customer_id"])),
              "contact": ("crm", "contacts", "last_name", str(contact)),
              "invoice": ("platform", "invoices", "billed_to", str(invoice))}
    missing = {what: where for what, where in wanted.items() if where not in offered}
    assert not missing, f"the pick list ({len(offered)} fields) does not offer {missing}"
    name = [offered[wanted["account"]], offered[wanted["contact"]]]
    billed = offered[wanted["invoice"]]
    map_correction(page, name, "Fontaine-Morel")  # one correction, two systems
    map_correction(page, [billed], "Cléa Fontaine-Morel")
    rows = page.locator("#correction-table tr[data-field]")
    expect(rows).to_have_count(3)
    expect(page.locator('#correction-table tr[data-collection="invoices"] td').nth(2)) \
        .to_have_text("Cléa Fontaine")
    plan = page.locator("#plan-table")
    expect(plan.locator('tr[data-collection="accounts"]')).to_have_attribute("data-action",
                                                                             "update")
    expect(plan.locator('tr[data-source="crm"]')).to_have_attribute("data-action", "update")
    # Invoices are read-only: the person's statement is kept instead.
    expect(plan.locator('tr[data-collection="invoices"]')).to_have_attribute("data-action",
                                                                             "statement")
    expect(page.locator("#approve")).to_have_count(0)  # agents prepare, DPOs approve
    staff_page = {"staff case page, corrections mapped": page.locator("main").inner_text()}
    page.locator("#logout-button").click()
    assert snapshot(horizon.data) == before  # nothing changed yet

    # 3. The DPO approves; the workers update the account and the CRM contact, verify them.
    dpo = make_staff(app, "dpo", email="dpo-rectif@staff.example", name="Dominique Petit")
    sign_in(page, base, app, dpo, "fr")
    open_case_from_dashboard(page, base, reference)
    approve(page, app)
    for source in ("platform", "crm"):
        expect(page.locator(f'#plan-steps tr[data-source="{source}"]')).to_have_attribute(
            "data-status", "done")
    assert changed_entries(before, snapshot(horizon.data)) == {
        "platform.accounts": {E["customer_id"]}, "crm.contacts": {contact}}
    account = horizon.row("platform.sqlite", "accounts", E["customer_id"])
    assert (account["first_name"], account["last_name"]) == ("Cléa", "Fontaine-Morel")
    with horizon.crm() as crm:
        [crm_contact] = crm.get(f"/api/v1/contacts/{contact}").json()["data"]
    assert crm_contact["last_name"] == "Fontaine-Morel"
    assert horizon.row("platform.sqlite", "invoices", invoice)["billed_to"] == "Cléa Fontaine"

    # 4. Art. 19 notices recorded, the answer built; the DPO releases it.
    told = record_notices(page, app)
    assert {"ovh", "stripe", "zoho"} <= set(told), told
    release(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "rectification-released.png"), full_page=True)

    # 5. The requester reads the status page and downloads the answer.
    assert run_queued_jobs(app) == 0
    open_status_from_ready_mail(requester, base, app, smtp_server, reference, E["email"])
    expect(requester.locator("#case-status")).to_have_text(
        in_language(app, "fr", STATUS_LABELS[CaseStatus.COMPLETED]))
    change = requester.locator("#change")
    expect(change).to_have_attribute("data-kind", "rectification")
    expect(change).to_have_attribute("data-stage", "verified")
    expect(change).to_contain_text(text_in(
        app, "fr", "Your data has been corrected, and we checked the result."))
    expect(requester.locator("#change-recipients li")).to_have_count(len(told))
    status_text = requester.locator("main").inner_text()
    requester.screenshot(path=str(ARTIFACTS / "rectification-status.png"), full_page=True)
    names, letter = download_answer(requester, base, app, smtp_server, reference, E["email"],
                                    tmp_path)
    assert "certificate.pdf" in names and "report.pdf" not in names, names
    for expected in ("RGPD, art. 16", reference, "Cléa Fontaine", "Fontaine-Morel",
                     "Cléa Fontaine-Morel", "Plateforme de formation", "Factures"):
        assert expected in letter, (expected, letter)
    assert "art. 15" not in letter and "art. 17" not in letter
    requester.goto(f"{base}/status/{reference}")
    expect(requester.locator(".history")).to_contain_text(text_in(app, "fr",
                                                                  "Answer downloaded"))
    actions = audit_actions(app, reference)
    assert actions.count("plan.correction_added") == 2 and "plan.verified" in actions
    assert errors == [], errors

    problems = french_problems(
        app, {**staff_page, "status page": status_text, "certificate.pdf": letter},
        {"status page": [FRENCH["rectification"]],
         "certificate.pdf": [FRENCH["rectification letter"]]},
        {"staff case page, corrections mapped": template_msgids(*STAFF_PAGE),
         "status page": template_msgids(*STATUS_PAGE),
         "certificate.pdf": letter_msgids("rectification")})
    assert not problems, "\n".join(problems)


def test_restriction_from_the_portal_to_an_announced_lift(horizon, new_context, smtp_server,
                                                          tmp_path):
    app, base = horizon.app, horizon.url
    before = snapshot(horizon.data)
    contacts = set(horizon.ids("crm.sqlite", "contacts", "customer_id", A["customer_id"]))
    assert len(contacts) == 2  # her own address and her work address

    # 1. Léa Fontaine contests the accuracy of her data and asks for a restriction.
    requester_context = new_context("fr-FR")
    errors = record_server_errors(requester_context)
    requester = requester_context.new_page()
    reference = file_request(
        requester, base, app, "restriction", A, lambda page: page.locator(
            'input[name="restriction_ground"][value="accuracy_contested"]').check())
    expect(requester.locator("#case-status")).to_have_attribute("data-status", "confirmed")
    assert run_queued_jobs(app) == 0

    # 2. An agent verifies and starts; the DPO approves; the workers restrict.
    agent = make_staff(app, "agent", email="agent-restrict@staff.example", name="Alex Agent")
    staff_context = new_context("fr-FR")
    record_server_errors(staff_context, errors)
    page = staff_context.new_page()
    sign_in_without_code(page, base, agent.email)
    open_case_from_dashboard(page, base, reference)
    verify_and_start(page, app)
    expect(page.locator("#approve")).to_have_count(0)
    page.locator("#logout-button").click()
    dpo = make_staff(app, "dpo", email="dpo-restrict@staff.example", name="Dominique Petit")
    sign_in(page, base, app, dpo, "fr")
    open_case_from_dashboard(page, base, reference)
    plan = page.locator("#plan-table")
    expect(plan.locator('tr[data-collection="accounts"]')).to_have_attribute("data-action",
                                                                             "restrict")
    expect(plan.locator('tr[data-collection="invoices"]')).to_have_attribute(
        "data-action", "not_restrictable")
    staff_page = {"staff case page, plan": page.locator("main").inner_text()}
    approve(page, app)
    assert changed_entries(before, snapshot(horizon.data)) == {
        "platform.accounts": {A["customer_id"]}, "crm.contacts": contacts}
    assert horizon.row("platform.sqlite", "accounts", A["customer_id"])[
        "processing_restricted"] == 1
    with horizon.crm() as crm:
        assert all(crm.get(f"/api/v1/contacts/{c}").json()["data"][0]["processing_restricted"]
                   for c in contacts)
    # The organisation's tools ask the register over HTTP: she is restricted, her twin not.
    for email, restricted in ((A["email"], True), (SHOWCASE["B"]["email"], False)):
        answer = httpx.post(f"{base}/api/restriction/check", json={"email": email},
                            headers={"Authorization": f"Bearer {CHECK_TOKEN}"},
                            trust_env=False, timeout=10)
        assert answer.json()["restricted"] is restricted, email

    told = record_notices(page, app)
    assert "zoho" in told, told
    release(page)

    # 3. The requester reads where the restriction stands and downloads the answer.
    assert run_queued_jobs(app) == 0
    open_status_from_ready_mail(requester, base, app, smtp_server, reference, A["email"])
    change = requester.locator("#change")
    expect(change).to_have_attribute("data-kind", "restriction")
    expect(change).to_have_attribute("data-stage", "verified")
    expect(change).to_contain_text(text_in(
        app, "fr", "Your data is restricted: we only store it, and will tell you before any "
        "lift."))
    expect(requester.locator("#restriction-lift")).to_have_count(0)
    status_text = requester.locator("main").inner_text()
    names, letter = download_answer(requester, base, app, smtp_server, reference, A["email"],
                                    tmp_path)
    assert "certificate.pdf" in names, names
    for expected in ("RGPD, art. 18", reference, "Plateforme de formation", "Factures",
                     "Fiche contact"):
        assert expected in letter, (expected, letter)

    # 4. The DPO announces a lift for a later date; the person is told before, with it.
    lift_on = today_in_paris() + timedelta(days=3)
    reason = "L'exactitude de vos coordonnées a été vérifiée avec vous."
    lift = page.locator("#lift")
    lift.locator("input[name=lift_on]").fill(lift_on.isoformat())
    lift.locator("textarea[name=reason]").fill(reason)
    assert post_and_wait(page, "lift", lift.locator("button[type=submit]")).status == 302
    expect(page.locator("#restriction-lift")).to_contain_text(french_date(app, lift_on))
    assert run_queued_jobs(app) == 0
    day = french_date(app, lift_on)
    requester.goto(f"{base}/demo/mailbox")
    notice = requester.locator("article.mail").filter(has=requester.get_by_role(
        "heading", name=subject(app, "fr", MailTemplate.RESTRICTION_LIFT_NOTICE, reference)))
    expect(notice).to_have_count(1)
    expect(notice).to_contain_text(day)
    assert reason in body_of(smtp_server.last_to(A["email"]))
    requester.goto(f"{base}/status/{reference}")
    shown = requester.locator("#restriction-lift")
    expect(shown).to_contain_text(day)
    expect(shown).to_contain_text(reason)
    lift_msgid = "We will lift the restriction on %(date)s, for this reason: %(reason)s"
    expect(shown).to_have_text(text_in(app, "fr", lift_msgid, date=day, reason=reason))
    requester.screenshot(path=str(ARTIFACTS / "restriction-lift.png"), full_page=True)
    # Nothing is lifted before the date.
    assert horizon.row("platform.sqlite", "accounts", A["customer_id"])[
        "processing_restricted"] == 1
    assert errors == [], errors

    problems = french_problems(
        app, {**staff_page, "status page": status_text, "certificate.pdf": letter},
        {"status page": [FRENCH["restriction"]], "certificate.pdf": [FRENCH["restriction"]]},
        {"staff case page, plan": template_msgids(*STAFF_PAGE),
         "status page": template_msgids(*STATUS_PAGE),
         "certificate.pdf": letter_msgids("restriction")})
    if untranslated(app, lift_msgid, date=day, reason=reason):
        problems.append(f"status page: English shown {[lift_msgid]}")
    assert not problems, "\n".join(problems)


def test_objection_to_direct_marketing_is_done_with_no_staff_action(horizon, new_context,
                                                                     smtp_server, tmp_path):
    app, base = horizon.app, horizon.url
    before = snapshot(horizon.data)
    # Her newsletter subscription is under her address in other capitals.
    [subscription] = horizon.ids("newsletter.sqlite", "contacts", "email", A["email"])

    # 1. Léa Fontaine objects to direct marketing and confirms her address.
    requester_context = new_context("fr-FR")
    errors = record_server_errors(requester_context)
    requester = requester_context.new_page()
    reference = file_request(
        requester, base, app, "objection", A, lambda page: page.locator(
            'input[name="objection_target"][value="direct_marketing"]').check())
    confirmed = time.monotonic()

    # 2. No staff: the workers search, unsubscribe, verify, build and release the answer.
    assert run_queued_jobs(app) == 0
    assert time.monotonic() - confirmed < 60
    assert changed_entries(before, snapshot(horizon.data)) == {
        "newsletter.contacts": {subscription}}
    with horizon.newsletter() as letter:
        assert letter.get(f"/v3/contacts/{subscription}").json()["email_blacklisted"] is True
        # A later sign-up with her address is refused by dsar's suppression list.
        refused = letter.post("/v3/contacts", json={"email": A["email"],
                                                    "optin_source": "Formulaire du site"})
        assert refused.status_code == 403 and refused.json()["code"] == "suppressed"
    assert ActorType.STAFF not in actor_types(app, reference)

    # 3. The requester's status page says it is done; the answer downloads.
    open_status_from_ready_mail(requester, base, app, smtp_server, reference, A["email"])
    expect(requester.locator("#case-status")).to_have_attribute("data-status", "completed")
    expect(requester.locator("#case-status")).to_have_text(
        in_language(app, "fr", STATUS_LABELS[CaseStatus.COMPLETED]))
    change = requester.locator("#change")
    expect(change).to_have_attribute("data-kind", "objection")
    expect(change).to_have_attribute("data-stage", "verified")
    expect(change).to_contain_text(text_in(
        app, "fr", "You are unsubscribed from our marketing, and your address is on our list "
        "of people never to contact for it again."))
    status_text = requester.locator("main").inner_text()
    requester.screenshot(path=str(ARTIFACTS / "objection-status.png"), full_page=True)
    names, letter = download_answer(requester, base, app, smtp_server, reference, A["email"],
                                    tmp_path)
    assert "certificate.pdf" in names, names
    for expected in ("RGPD, art. 21", reference, "Abonnement à la lettre d'information"):
        assert expected in letter, (expected, letter)
    assert errors == [], errors

    problems = french_problems(
        app, {"status page": status_text, "certificate.pdf": letter},
        {"status page": [FRENCH["objection"]], "certificate.pdf": [FRENCH["objection letter"]]},
        {"status page": template_msgids(*STATUS_PAGE),
         "certificate.pdf": letter_msgids("objection")})
    assert not problems, "\n".join(problems)
