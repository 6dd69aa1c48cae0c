"""End to end in a real headless Chromium, in French: post-mortem directives filed, changed,
then carried out at the request of the person they designate (issue 15's Chromium walk; Loi
Informatique et Libertés, art. 85).

Jeanne Roux files her directives on the portal (a choice per category of the register, her
daughter designated, the specific consent) and confirms the e-mailed link; she changes them
from her status page (version 2: her letters handed over instead of erased). She dies today.
Her daughter Élise files the execution with the death certificate and her identity document,
and confirms her own address. An agent reads the documents, verifies them while confirming
Jeanne's e-mail address and date of death (prefilled from the form), and starts the search,
which runs on Jeanne's identifiers on a real RQ worker; the DPO (password, then TOTP) sees
version 2 applied, approves, records the notice of the recipient without an e-mail address
and releases the answer; Élise downloads it with a one-time code. The organisation is the
training platform of ``tests/support/postmortem_org`` (a real SQLite file, read back): what
the directives erase is gone, the rest stays, and the copy holds the certificates and letters
without credentials nor another person's data.

Same set-up as the other browser walks (``tests/fixtures/browser.py``): the real app over HTTP
in a background thread, the real database, Redis and SMTP catcher, Debian's Chromium.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from dsar.cases.clock import today_in_paris
from dsar.core import storage
from dsar.extensions import db
from dsar.models import Case, IdentityProof, MailTemplate
from dsar.portal.directive_forms import DirectiveFields
from dsar.portal.forms import PostmortemExecutionForm
from dsar.postmortem.directives import CHOICES
from dsar.postmortem.heirs import CHOICE_LABELS
from dsar.postmortem.matching import OUTCOME_LABELS
from tests.support.browser import ARTIFACTS, post_and_wait, subject, text_in
from tests.support.browser_desk import form_texts
from tests.support.browser_erasure import (
    english_on_page,
    record_server_errors,
    sign_in_without_code,
    template_msgids,
)
from tests.support.browser_postmortem import (
    choose_directives,
    download_answer,
    exported_records,
    file_directives,
    file_execution,
    letter_text,
)
from tests.support.browser_staff import audit_actions, open_case_from_dashboard, sign_in
from tests.support.mailbox import body_of
from tests.support.postmortem_org import DECEASED, DESIGNATED, ids, postmortem_org
from tests.support.staff import make_staff
from tests.support.workers import run_queued_jobs

pytestmark = pytest.mark.browser

#: Version 1: her training record handed to her daughter, everything else erased.
FIRST = {"identification": "erase", "contact": "erase", "authentication": "erase",
         "training": "hand_over", "correspondence": "erase", "billing": "erase"}
#: Version 2: her letters handed over too.
SECOND = {**FIRST, "correspondence": "hand_over"}
INSTRUCTIONS = "Remettre mes attestations et mes lettres à ma fille."
NOTE = "Acte de décès et pièce d'identité conformes."
#: The staff case page's templates (their texts are looked for in English).
STAFF_PAGE = ("staff/case.html", "staff/_deceased.html", "staff/_deceased_fields.html",
              "staff/_plan.html")


def proof_blobs(app, reference: str) -> list[str]:
    """The stored documents of the case (None once deleted)."""
    with app.app_context():
        case_id = db.session.scalar(select(Case.id).where(Case.reference == reference))
        return [p.blob_id for p in db.session.scalars(
            select(IdentityProof).where(IdentityProof.case_id == case_id))]


@pytest.fixture
def platform(tmp_path, monkeypatch):
    """The training platform's database and its sources.toml and register.toml (written
    before the app starts: it reads them then)."""
    engine = postmortem_org(tmp_path, monkeypatch)
    yield engine
    engine.dispose()


@pytest.fixture
def site(platform, live_server):
    """The live server of an app that searches the platform."""
    return live_server


def test_directives_filed_changed_then_carried_out_by_the_designated_person(
        site, platform, new_context, smtp_server, tmp_path):
    app, base = site.app, site.url
    english: dict[str, list[str]] = {}  # page -> English texts it showed (checked last)

    # 1. Jeanne files her directives on the portal and confirms her address.
    jeanne_context = new_context("fr-FR")
    errors = record_server_errors(jeanne_context)
    jeanne = jeanne_context.new_page()
    directive_ref, form_text = file_directives(
        jeanne, base, app, name="Jeanne Roux", email=DECEASED, choices=FIRST,
        designated=("Élise Roux", DESIGNATED), instructions=INSTRUCTIONS)
    english["directives form"] = english_on_page(
        app, form_text, template_msgids("portal/request_form.html", "portal/_directives.html")
        + form_texts(DirectiveFields) + list(CHOICES.values()))
    expect(jeanne.locator("html")).to_have_attribute("lang", "fr")
    expect(jeanne.locator("#case-status")).to_have_attribute("data-status", "recorded")
    expect(jeanne.locator("#due-on")).to_have_count(0)  # a standing record, off the clock
    in_force = jeanne.locator("#directives-in-force")
    for category, choice in FIRST.items():
        expect(in_force.locator(f'dd[data-category="{category}"]')).to_have_attribute(
            "data-choice", choice)
    expect(in_force.locator("dd[data-designated]")).to_contain_text(DESIGNATED)
    expect(jeanne.locator("#directive-versions li")).to_have_count(1)
    expect(jeanne.locator('#directive-versions li[data-version="1"]')).to_have_attribute(
        "data-status", "in_force")

    # 2. She changes them from her status page: the form holds version 1; her letters are now
    # handed over too. Version 2 is in force, version 1 superseded, and she is e-mailed.
    change = jeanne.locator("#directive-change")
    for category, choice in FIRST.items():
        expect(change.locator(f'input[name="category_{category}"][value="{choice}"]')) \
            .to_be_checked()
    expect(change.locator("#trusted_person_name")).to_have_value("Élise Roux")
    expect(change.locator("#trusted_person_email")).to_have_value(DESIGNATED)
    expect(change.locator("#directive_instructions")).to_have_value(INSTRUCTIONS)
    expect(change.locator("#consent")).not_to_be_checked()  # given again with each version
    choose_directives(change, {"correspondence": "hand_over"})
    change.locator("#consent").check()
    change.locator("#change-directives-button").click()
    expect(jeanne).to_have_url(re.compile(rf"/status/{directive_ref}#directives$"))
    expect(jeanne.locator("#directive-errors")).to_have_count(0)
    expect(jeanne.locator('#directive-versions li[data-version="2"]')).to_have_attribute(
        "data-status", "in_force")
    expect(jeanne.locator('#directive-versions li[data-version="1"]')).to_have_attribute(
        "data-status", "superseded")
    for category, choice in SECOND.items():
        expect(in_force.locator(f'dd[data-category="{category}"]')).to_have_attribute(
            "data-choice", choice)
    expect(jeanne.locator("#directives")).to_contain_text(
        text_in(app, "fr", "Version %(number)d", number=2))
    english["directives on the status page"] = english_on_page(
        app, jeanne.locator("main").inner_text(),
        template_msgids("portal/status.html", "portal/_directives.html")
        + form_texts(DirectiveFields) + list(CHOICES.values()))
    ARTIFACTS.mkdir(exist_ok=True)
    jeanne.screenshot(path=str(ARTIFACTS / "postmortem-directives.png"), full_page=True)
    assert run_queued_jobs(app) == 0
    changed = subject(app, "fr", MailTemplate.DIRECTIVES_CHANGED, directive_ref)
    assert [m["To"] for m in smtp_server.messages() if m["Subject"] == changed] == [DECEASED]

    # 3. She dies today (after version 2). Her daughter files the execution with the two
    # documents and confirms her own address.
    died = today_in_paris()
    elise_context = new_context("fr-FR")
    record_server_errors(elise_context, errors)
    elise = elise_context.new_page()
    reference, form_text = file_execution(
        elise, base, app, name="Élise Roux", email=DESIGNATED, folder=tmp_path,
        deceased={"name": "Jeanne Roux", "email": DECEASED, "born": "1948-02-11",
                  "died": died.isoformat()})
    english["execution form"] = english_on_page(
        app, form_text, template_msgids("portal/request_form.html")
        + form_texts(PostmortemExecutionForm))
    expect(elise.locator("#case-status")).to_have_attribute("data-status", "confirmed")
    blobs = proof_blobs(app, reference)
    assert len(blobs) == 2 and all(blobs), blobs
    with app.app_context():
        assert all(storage.exists(b) for b in blobs)

    # 4. An agent reads the documents, verifies them confirming the deceased's identifiers
    # (prefilled from the form), and starts: the search runs on Jeanne's, on the worker.
    agent = make_staff(app, "agent", email="agent-pm@staff.example", name="Alex Agent")
    staff_context = new_context("fr-FR")
    record_server_errors(staff_context, errors)
    page = staff_context.new_page()
    sign_in_without_code(page, base, agent.email)
    open_case_from_dashboard(page, base, reference)
    status = page.locator("#case-status")
    expect(status).to_have_attribute("data-status", "confirmed")
    proofs = page.locator("#proofs li")
    expect(proofs).to_have_count(2)
    for kind in ("death_certificate", "identity"):
        expect(page.locator(f'#proofs li[data-kind="{kind}"] a.proof-link')).to_have_count(1)
    expect(page.locator("#deceased-directives")).to_have_count(0)  # nothing matched yet
    page.locator("#verify-method").select_option("document")
    page.locator("#verify-note").fill(NOTE)
    expect(page.locator("#verify-deceased-email")).to_have_value(DECEASED)
    expect(page.locator("#verify-deceased-died")).to_have_value(died.isoformat())
    assert post_and_wait(page, "verify", page.locator("#verify button[type=submit]")).status \
        == 302
    expect(status).to_have_attribute("data-status", "verified")
    # No proof remains: the page says so, with the note, and storage holds none of them.
    deleted = text_in(app, "fr", "deleted after the decision")
    expect(proofs).to_have_count(2)
    for i in range(2):
        expect(proofs.nth(i).locator("em")).to_contain_text(deleted)
        expect(proofs.nth(i).locator("em")).to_contain_text(NOTE)
    expect(page.locator("#proofs a.proof-link")).to_have_count(0)
    assert proof_blobs(app, reference) == [None, None]
    with app.app_context():
        assert not any(storage.exists(b) for b in blobs)
    assert post_and_wait(page, "start", page.locator("#start button[type=submit]")).status \
        == 302
    expect(status).to_have_attribute("data-status", "in_progress")
    assert run_queued_jobs(app) == 0
    page.reload()
    expect(status).to_have_attribute("data-status", "review")
    expect(page.locator("#source-platform")).to_have_attribute("data-status", "done")
    expect(page.locator("#approve")).to_have_count(0)  # agents prepare, DPOs approve
    page.locator("#logout-button").click()
    assert ids(platform, "accounts") == {1, 2}  # nothing changed before the approval

    # 5. The DPO sees version 2 of the directives applied, and what becomes of each
    # collection: the account erased, the certificates and letters handed over (kept), the
    # invoices kept by law.
    dpo = make_staff(app, "dpo", email="dpo-pm@staff.example", name="Dominique Petit")
    sign_in(page, base, app, dpo, "fr")
    open_case_from_dashboard(page, base, reference)
    directives_cell = page.locator("#deceased-directives")
    expect(directives_cell).to_contain_text(directive_ref)
    expect(directives_cell).to_contain_text(text_in(app, "fr", "version %(n)s", n=2))
    expect(page.locator("#deceased-outcome")).to_have_attribute("data-outcome", "directives")
    expect(page.locator("#deceased")).to_have_text(text_in(app, "fr", "The deceased person"))
    choices = page.locator("#postmortem-table")
    for collection, choice in (("accounts", "erase"), ("certificates", "hand_over"),
                               ("messages", "hand_over")):
        expect(choices.locator(f'tr[data-collection="platform/{collection}"]')) \
            .to_have_attribute("data-choice", choice)
    for collection in ("certificates", "messages"):  # in the copy
        expect(choices.locator(f'tr[data-collection="platform/{collection}"] td').nth(3)) \
            .to_have_text(text_in(app, "fr", "yes"))
    for collection in ("accounts", "invoices"):  # nothing of them in the copy
        expect(choices.locator(f'tr[data-collection="platform/{collection}"] td').nth(3)) \
            .to_have_text(text_in(app, "fr", "no"))
    plan = page.locator("#plan-table")
    for collection in ("certificates", "messages"):  # left as they are
        expect(plan.locator(f'tr[data-collection="{collection}"] td').nth(3)) \
            .to_contain_text(text_in(app, "fr", "left as it is"))
    expect(plan.locator('tr[data-collection="accounts"]')).to_have_attribute("data-action",
                                                                             "delete")
    expect(plan.locator('tr[data-collection="invoices"]')).to_have_attribute("data-action",
                                                                             "retain")
    english["staff case page, plan to approve"] = english_on_page(
        app, page.locator("main").inner_text(), template_msgids(*STAFF_PAGE)
        + list(OUTCOME_LABELS.values()) + list(CHOICE_LABELS.values()))
    page.screenshot(path=str(ARTIFACTS / "postmortem-plan.png"), full_page=True)
    assert post_and_wait(page, "approve", page.locator("#approve button[type=submit]")).status \
        == 302
    expect(status).to_have_attribute("data-status", "executing")
    assert run_queued_jobs(app) == 0
    page.reload()
    expect(status).to_have_attribute("data-status", "review")
    expect(page.locator("[data-plan-status]")).to_have_attribute("data-plan-status", "verified")
    expect(page.locator('#plan-steps tr[data-source="platform"]')).to_have_attribute(
        "data-status", "done")
    # The source afterwards: her account erased, Paul's untouched; what version 2 hands over
    # (her certificates, her letters, which version 1 erased) stays; the invoices are kept.
    assert ids(platform, "accounts") == {2}
    assert ids(platform, "certificates") == {10, 11, 12}
    assert ids(platform, "messages") == {20, 21}
    assert ids(platform, "invoices") == {30, 31}

    # The router, which declares an address, is told whose data it was (Jeanne's address,
    # never her daughter's); the host waits for the DPO, who records it.
    told = [m for m in smtp_server.messages() if m["To"] == "dpo@routeur.example"]
    assert len(told) == 1, [m["To"] for m in smtp_server.messages()]
    assert DECEASED in body_of(told[0]) and DESIGNATED not in body_of(told[0])
    expect(page.locator('#notice-table tr[data-recipient="mailer"]')).to_have_attribute(
        "data-status", "notified")
    expect(page.locator('#notice-table tr[data-recipient="host"]')).to_have_attribute(
        "data-status", "pending")
    notice = page.locator("#notice")
    notice.locator("select[name=notice_id]").select_option(label="Hébergeur SAS")
    notice.locator("select[name=outcome]").select_option("notified")
    assert post_and_wait(page, "notice", notice.locator("button[type=submit]")).status == 302
    expect(page.locator('#notice-table tr[data-recipient="host"]')).to_have_attribute(
        "data-status", "notified")

    # 6. The answer is built; the DPO releases it.
    assert run_queued_jobs(app) == 0
    page.reload()
    expect(page.locator("#package")).to_be_visible()
    assert post_and_wait(page, "release", page.locator("#release button[type=submit]")) \
        .status == 302
    expect(status).to_have_attribute("data-status", "completed")
    expect(page.locator("#package-released")).to_be_visible()
    english["staff case page, released"] = english_on_page(
        app, page.locator("main").inner_text(), template_msgids(*STAFF_PAGE)
        + list(OUTCOME_LABELS.values()) + list(CHOICE_LABELS.values()))
    page.screenshot(path=str(ARTIFACTS / "postmortem-released.png"), full_page=True)

    # 7. Élise downloads the answer with a one-time code: the copy of what version 2 hands
    # over, without a credential nor anyone else's data, and the letter.
    assert run_queued_jobs(app) == 0
    files = download_answer(elise, base, app, smtp_server, reference, DESIGNATED, tmp_path)
    assert {"certificate.pdf", "export.json"} <= set(files), sorted(files)
    records = exported_records(files)
    assert sorted(r["title"] for r in records["platform/certificates"]) == [
        "Anglais B1", "Aquarelle niveau 2"]
    assert [r["subject"] for r in records["platform/messages"]] == ["Sortie du samedi"]
    assert not records.get("platform/accounts"), records.get("platform/accounts")
    assert all("body" not in r for r in records["platform/messages"])  # others' data
    export = files["export.json"].decode()
    for absent in ("argon2id", "Médor", "claire.dubois", "Comptabilité", "paul.durand",
                   "password_hash", "security_answer"):
        assert absent not in export, absent
    letter = letter_text(files)
    for expected in ("Loi Informatique et Libertés, art. 85", "Jeanne Roux", reference,
                     "Attestations de formation", "Messages", "Comptes", "Code de commerce",
                     "CNIL"):
        assert expected in letter, (expected, letter[:2000])
    elise.goto(f"{base}/status/{reference}")
    expect(elise.locator("#case-status")).to_have_attribute("data-status", "completed")
    expect(elise.locator(".history")).to_contain_text(text_in(app, "fr", "Answer downloaded"))

    assert audit_actions(app, directive_ref).count("directive.recorded") == 2
    actions = audit_actions(app, reference)
    for action in ("deceased.confirmed", "plan.approved", "plan.verified",
                   "package.downloaded"):
        assert actions.count(action) == 1, (action, actions)
    assert errors == [], errors

    # Last, the words themselves: nothing English on the pages served in French.
    problems = [f"{where}: {texts}" for where, texts in english.items() if texts]
    assert not problems, "\n".join(problems)
