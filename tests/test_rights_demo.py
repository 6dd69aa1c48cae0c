"""Issue 14's acceptance on the demo organisation: Léa Fontaine (showcase person A) asks for
rectification, restriction and an end to direct marketing, and each is carried out through the
back office (or, for marketing, by the system alone) and real workers in the platform's SQLite
database, the CRM and the newsletter APIs running in their own processes. Read straight from
the sources afterwards: her records changed as asked, and nothing else by a byte — not her
namesake (B), not her colleague (C), not her manager (D), not the person whose address
contains hers (E)."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import timedelta

import pytest
from babel.dates import format_date
from sqlalchemy import select

from dsar.cases.clock import today_in_paris
from dsar.cases.requester_actions import confirm_address
from dsar.changes import restriction
from dsar.changes.restriction_register import is_restricted
from dsar.changes.suppression import is_suppressed
from dsar.demo.org import SHOWCASE
from dsar.extensions import db
from dsar.models import (
    Case,
    CaseKind,
    CaseStatus,
    ChangePlan,
    ChangeStep,
    ExportPackage,
    PlanStatus,
    StepStatus,
)
from tests.support.erasure_demo import changed_entries, snapshot
from tests.support.exports import built_package, zip_members
from tests.support.gathering import case_status, start
from tests.support.mailbox import body_of
from tests.support.rights_demo import (
    package_files,
    pdf_text,
    pick_list,
    record_notices,
    release,
    rights_demo,
    staff_client,
)
from tests.support.staff import make_case, post_action
from tests.support.workers import run_queued_jobs

A, B, C, D, E = (SHOWCASE[k] for k in "ABCDE")
TWINS = (B, C, D, E)
NEW_CITY = "Villeurbanne"
#: The invoice she wants billed to her service: an issued invoice is never altered.
BILLED_TO = "Clinique Saint-Roch, service de soins palliatifs"


@pytest.fixture
def org(tmp_path, monkeypatch, app, database_url, redis_url, key_file, smtp_server):
    """A private demo organisation, dsar served over HTTP (``app``: for its clean-up)."""
    with rights_demo(tmp_path, monkeypatch, database_url, redis_url, key_file,
                     smtp_server) as demo:
        yield demo


def her_contacts(before: dict[str, dict]) -> tuple[int, int]:
    """Her two CRM contacts: under her own address, and under her work address (linked by
    her customer id only)."""
    crm = before["crm.contacts"]
    [own] = [i for i, r in crm.items() if r[3].lower() == A["email"]]
    [work] = [i for i, r in crm.items() if r[3] == A["work_email"]]
    assert crm[work][11] == str(A["customer_id"])
    return own, work


def her_newsletter_contact(before: dict[str, dict]) -> int:
    [contact] = [i for i, r in before["newsletter.contacts"].items()
                 if r[1].lower() == A["email"]]
    return contact


def her_case(app, status: CaseStatus, kind: CaseKind, details: dict) -> Case:
    """A case of hers, in ``status``."""
    case = make_case(app, status=status, kind=kind, email=A["email"], details=details)
    with app.app_context():
        db.session.get(Case, case.id).requester_name = f"{A['first_name']} {A['last_name']}"
        db.session.commit()
    return case


def in_review(app, kind: CaseKind, details: dict) -> Case:
    """Her case of ``kind``, searched in the six sources by real workers."""
    case = her_case(app, CaseStatus.VERIFIED, kind, details)
    start(app, case.id)
    assert run_queued_jobs(app) == 0
    assert case_status(app, case.id) is CaseStatus.REVIEW
    return case


def plan_and_steps(app, case) -> tuple[PlanStatus, dict[str, ChangeStep]]:
    with app.app_context():
        plan = db.session.scalar(select(ChangePlan).where(ChangePlan.case_id == case.id))
        steps = {s.source: s for s in db.session.scalars(select(ChangeStep).where(
            ChangeStep.case_id == case.id))}
        db.session.expunge_all()
        return plan.status, steps


def test_a_rectification_reaches_the_platform_and_the_crm_and_the_next_access_answer(org):
    app = org.app
    before = snapshot(org.data)
    own, work = her_contacts(before)
    case = in_review(app, CaseKind.RECTIFICATION, {
        "data_to_correct": "Ma ville (j'ai déménagé) ; le destinataire d'une facture",
        "correct_value": f"{NEW_CITY} ; {BILLED_TO}"})
    assert snapshot(org.data) == before

    # An agent maps her corrections from the page's pick list of what the search found.
    agent = staff_client(app, "agent")
    offered = pick_list(agent, case.reference)
    me, invoice = str(A["customer_id"]), next(
        str(i) for i, r in before["platform.invoices"].items()
        if r[1] == A["customer_id"] and r[5] == "Clinique Saint-Roch")
    wanted = {("platform", "accounts", "city", me), ("crm", "contacts", "city", str(own)),
              ("platform", "invoices", "billed_to", invoice)}
    assert wanted <= offered.keys(), ("not offered", wanted - offered.keys(), "offered",
                                      Counter(place[:2] for place in offered))
    city = [offered[("platform", "accounts", "city", me)],
            offered[("crm", "contacts", "city", str(own))]]
    billed = [offered[("platform", "invoices", "billed_to", invoice)]]
    assert [label for _, label in city] == [
        "Plateforme de formation · Compte d'apprenant · Ville = Lyon 3e",
        "Gestion de la relation client (CRM) · Fiche contact · city = Lyon 3e"]
    # Only her records were found and offered, not a near-twin's (E's contact, which the
    # CRM's fuzzy search returns, included).
    assert {key[3] for key in offered if key[:2] == ("platform", "accounts")} == {me}
    assert {key[3] for key in offered if key[:2] == ("crm", "contacts")} == {str(own)}
    for chosen, value in ((city, NEW_CITY), (billed, BILLED_TO)):
        assert post_action(agent, case.reference, "correct", {
            "targets": [token for token, _ in chosen], "new_value": value}).status_code == 302
    page = agent.get(f"/staff/cases/{case.reference}").get_data(as_text=True)
    for source, collection, action in [("platform", "accounts", "update"),
                                       ("crm", "contacts", "update"),
                                       ("platform", "invoices", "statement")]:
        assert (f'data-source="{source}" data-collection="{collection}" '
                f'data-action="{action}"') in page, (source, collection, action)
    assert post_action(agent, case.reference, "approve").status_code == 403  # DPOs approve

    dpo = staff_client(app, "dpo")
    assert post_action(dpo, case.reference, "approve").status_code == 302
    assert run_queued_jobs(app) == 0
    status, steps = plan_and_steps(app, case)
    assert status is PlanStatus.VERIFIED
    assert {name: s.status for name, s in steps.items()} == {
        "platform": StepStatus.DONE, "crm": StepStatus.DONE}

    # The sources hold the new value; exactly her two records changed.
    after = snapshot(org.data)
    assert changed_entries(before, after) == {"platform.accounts": {A["customer_id"]},
                                              "crm.contacts": {own}}
    assert org.account(A["customer_id"])["city"] == NEW_CITY
    old = before["platform.accounts"][A["customer_id"]]  # city is its 9th column
    assert after["platform.accounts"][A["customer_id"]] == (*old[:8], NEW_CITY, *old[9:])
    assert org.crm_contact(own)["city"] == NEW_CITY
    old = before["crm.contacts"][own]  # city, and the CRM's own modification time
    assert after["crm.contacts"][own][:7] + after["crm.contacts"][own][8:13] == \
        old[:7] + old[8:13]
    assert org.crm_contact(work)["city"] == "Lyon 3e"  # her work contact was not asked for
    assert after["platform.invoices"] == before["platform.invoices"]  # read-only
    assert_twins_untouched(org, before, after)

    # The Art. 19 notices, then the answer letter (Art. 16) with the corrections.
    recipients = record_notices(app, dpo, case)
    assert {"ovh", "zoho"} <= recipients
    letter = pdf_text(package_files(app, release(app, dpo, case))["certificate.pdf"])
    assert "art. 16" in letter and "art. 15" not in letter and "art. 17" not in letter
    # Verified by reading the sources again: what each field said, what it says now.
    assert "Lyon 3e Villeurbanne" in letter and f"Clinique Saint-Roch {BILLED_TO}" in letter
    assert "Léa Fontaine" in letter

    # Her next access answer shows the new value, and her statement on the invoice.
    access = in_review(app, CaseKind.ACCESS, {})
    files = zip_members(built_package(app, access.id)[0])
    document = json.loads(files["export.json"])
    assert record(document, "platform", "accounts", me)["city"] == NEW_CITY
    assert record(document, "crm", "contacts", str(own))["city"] == NEW_CITY
    assert record(document, "platform", "invoices", invoice)["billed_to"] == \
        "Clinique Saint-Roch"
    [statement] = document["supplementary_statements"]
    assert {k: statement[k] for k in ("source", "collection", "key", "field", "old", "new",
                                      "case_reference")} == {
        "source": "platform", "collection": "invoices", "key": invoice, "field": "billed_to",
        "old": "Clinique Saint-Roch", "new": BILLED_TO, "case_reference": case.reference}
    report = pdf_text(files["report.pdf"])
    assert NEW_CITY in report and BILLED_TO in report


def record(document: dict, source: str, collection: str, key: str) -> dict:
    """The fields of one record of an export.json."""
    [found] = [r["fields"] for s in document["sources"] if s["name"] == source
               for c in s["collections"] if c["name"] == collection
               for r in c["records"] if r["key"] == key]
    return found


def assert_twins_untouched(org, before, after) -> None:
    """Each near-twin's account and CRM contacts, byte for byte and through the API (the
    comparison of every row covers everyone; this names them)."""
    for twin in TWINS:
        assert after["platform.accounts"][twin["customer_id"]] == \
            before["platform.accounts"][twin["customer_id"]]
        assert org.account(twin["customer_id"])["processing_restricted"] == 0
        theirs = [i for i, r in before["crm.contacts"].items()
                  if r[3].lower() in (twin["email"], twin["work_email"])
                  or r[11] == str(twin["customer_id"])]
        assert theirs or twin not in (B, E), twin["email"]
        for contact in theirs:
            assert after["crm.contacts"][contact] == before["crm.contacts"][contact]
            assert org.crm_contact(contact)["processing_restricted"] is False


def test_a_restriction_flags_her_records_and_is_lifted_on_the_announced_date(
        org, smtp_server):
    app = org.app
    before = snapshot(org.data)
    own, work = her_contacts(before)
    case = in_review(app, CaseKind.RESTRICTION, {"restriction_ground": "accuracy_contested"})
    dpo = staff_client(app, "dpo")
    assert post_action(dpo, case.reference, "approve").status_code == 302
    with app.app_context():
        assert is_restricted("email", A["email"]) and not is_restricted("email", B["email"])
    assert (org.restricted(A["email_other_case"]), org.restricted(E["email"])) == (True, False)
    assert run_queued_jobs(app) == 0
    status, steps = plan_and_steps(app, case)
    assert status is PlanStatus.VERIFIED
    # Where no collection declares a restriction, nothing is done (the letter says so).
    assert {name: s.status for name, s in steps.items()} == {
        "platform": StepStatus.DONE, "crm": StepStatus.DONE,
        **dict.fromkeys(("newsletter", "analytics", "access_logs", "support"),
                        StepStatus.NOTHING)}

    # Her account and both her CRM contacts are flagged; nothing else changed.
    restricted = snapshot(org.data)
    assert changed_entries(before, restricted) == {"platform.accounts": {A["customer_id"]},
                                                  "crm.contacts": {own, work}}
    assert org.account(A["customer_id"])["processing_restricted"] == 1
    assert [org.crm_contact(c)["processing_restricted"] for c in (own, work)] == [True, True]
    me = A["customer_id"]
    assert restricted["platform.accounts"][me] == (*before["platform.accounts"][me][:16], 1)
    for contact in (own, work):  # the flag, and the CRM's own modification time
        assert restricted["crm.contacts"][contact][:13] == before["crm.contacts"][contact][:13]
    assert_twins_untouched(org, before, restricted)
    record_notices(app, dpo, case)
    letter = pdf_text(package_files(app, release(app, dpo, case))["certificate.pdf"])
    assert "art. 18" in letter and "art. 15" not in letter
    assert "Plateforme de formation Compte d'apprenant 1" in letter
    assert "Fiche contact (par numéro client) 2" in letter
    assert "Abonnement à la lettre d'information" in letter  # where it could not be applied

    # The lift: the person is told first, with the date and the reason.
    lift_on = today_in_paris() + timedelta(days=3)
    reason = "L'exactitude de vos coordonnées a été vérifiée auprès de votre employeur."
    assert post_action(dpo, case.reference, "lift", {
        "lift_on": lift_on.isoformat(), "reason": reason}).status_code == 302
    assert run_queued_jobs(app) == 0
    notice = body_of(smtp_server.last_to(A["email"]))
    assert " ".join(reason.split()) in " ".join(notice.split())
    assert format_date(lift_on, "long", locale="fr") in notice
    with app.app_context():
        assert restriction.lift_due(lift_on - timedelta(days=1)) == 0
    assert snapshot(org.data) == restricted  # not before the date
    assert org.restricted(A["email"])

    # On the date, the periodic job lifts it in both sources and in the register.
    with app.app_context():
        assert restriction.lift_due(lift_on) == 1
        assert not is_restricted("email", A["email"])
    assert not org.restricted(A["email"])
    lifted = snapshot(org.data)
    assert changed_entries(before, lifted) == {"crm.contacts": {own, work}}
    assert org.account(A["customer_id"])["processing_restricted"] == 0
    for contact in (own, work):
        # As before but the CRM's own record of when it was last modified.
        assert lifted["crm.contacts"][contact][:13] == before["crm.contacts"][contact][:13]
        assert lifted["crm.contacts"][contact][14] == 0
    assert_twins_untouched(org, before, lifted)


def test_an_objection_to_marketing_unsubscribes_her_within_a_minute_with_no_staff(org):
    app = org.app
    before = snapshot(org.data)
    contact = her_newsletter_contact(before)
    assert org.letter_contact(contact)["email_blacklisted"] is False
    case = her_case(app, CaseStatus.SUBMITTED, CaseKind.OBJECTION,
                    {"objection_target": "direct_marketing"})

    confirmed = time.monotonic()
    with app.app_context():
        assert confirm_address(db.session.get(Case, case.id))
    assert run_queued_jobs(app) == 0  # the workers alone, no staff
    assert case_status(app, case.id) is CaseStatus.COMPLETED
    elapsed = time.monotonic() - confirmed
    print(f"\nmarketing objection: confirmation to completion in {elapsed:.1f} s")
    assert elapsed < 60

    assert org.letter_contact(contact)["email_blacklisted"] is True
    assert changed_entries(before, snapshot(org.data)) == {"newsletter.contacts": {contact}}
    with app.app_context():
        assert is_suppressed("email", A["email_other_case"])
        assert not is_suppressed("email", E["email"])
        package = db.session.scalar(select(ExportPackage).where(
            ExportPackage.case_id == case.id))
        assert (package.scope, package.released_by_id) == ("objection", None)
        assert package.released_at is not None
        package_id = package.id
    letter = pdf_text(package_files(app, package_id)["certificate.pdf"])
    assert "art. 21" in letter and "Lettre d'information" in letter

    # A later sign-up of her address (either spelling) is refused by the suppression list;
    # a new address is added, her namesake's is only a duplicate.
    for spelling in (A["email"], A["email_other_case"]):
        status, body = org.sign_up(spelling)
        assert (status, body["code"]) == (403, "suppressed"), spelling
    assert org.sign_up("lea.fontaine.pro@example.org")[0] == 201
    assert org.sign_up(B["email"]) == (400, {"code": "duplicate_parameter",
                                            "message": "Contact already exist"})
