"""Erasure carried out end to end through the back office and real workers: after the search
the case shows its plan, only a DPO approves it, each source's step runs, a new search verifies,
the certificate is built and released. Real SQLite source databases (the shop and billing of
``tests/support/gathering``)."""

from __future__ import annotations

import io
import sqlite3
import zipfile

from pypdf import PdfReader
from sqlalchemy import select

from dsar.extensions import db
from dsar.models import (
    AuditEvent,
    CaseKind,
    CaseStatus,
    ChangePlan,
    ExportPackage,
    PackageStatus,
    PlanStatus,
    RecipientNotice,
)
from tests.support.erasure_steps import run_step_again
from tests.support.gathering import EMAIL, case_status, start, verified_case
from tests.support.mailbox import body_of
from tests.support.staff import login, make_staff, post_action
from tests.support.workers import run_queued_jobs


def shop_rows(org) -> dict[int, tuple]:
    with sqlite3.connect(org / "shop.sqlite") as conn:
        rows = {r[0]: r[1:] for r in conn.execute("SELECT id, email, name FROM customers")}
    conn.close()
    return rows


def invoices(org) -> list[tuple]:
    with sqlite3.connect(org / "billing.sqlite") as conn:
        rows = conn.execute("SELECT id, customer_id FROM invoices ORDER BY id").fetchall()
    conn.close()
    return rows


def plan_status(app, case_id):
    with app.app_context():
        return db.session.scalar(select(ChangePlan.status).where(ChangePlan.case_id == case_id))


def erasure_in_review(app):
    case = verified_case(app, kind=CaseKind.ERASURE)
    start(app, case.id)
    assert run_queued_jobs(app) == 0
    return case


def test_an_erasure_waits_in_review_with_its_plan_and_no_copy_of_the_data(gather_app, org):
    case = erasure_in_review(gather_app)
    assert case_status(gather_app, case.id) is CaseStatus.REVIEW
    assert plan_status(gather_app, case.id) is PlanStatus.DRAFT
    with gather_app.app_context():
        assert db.session.scalars(select(ExportPackage).where(
            ExportPackage.case_id == case.id)).all() == []  # never the access letter
    agent = make_staff(gather_app, "agent", email="agent-plan@staff.example")
    client = gather_app.test_client()
    login(client, agent)
    page = client.get(f"/staff/cases/{case.reference}").get_data(as_text=True)
    assert 'data-source="shop" data-collection="customers" data-action="anonymize"' in page
    assert 'data-source="billing" data-collection="invoices" data-action="retain"' in page
    assert "Code de commerce L123-22" in page
    # An agent prepares; only a DPO approves (refused and audited).
    refused = post_action(client, case.reference, "approve", {})
    assert refused.status_code == 403
    assert case_status(gather_app, case.id) is CaseStatus.REVIEW
    assert shop_rows(org)[1][0] == EMAIL  # nothing changed


def test_the_dpo_approves_the_plan_and_the_erasure_is_carried_out(gather_app, org,
                                                                  smtp_server):
    twins_before = {k: v for k, v in shop_rows(org).items() if k != 1}
    invoices_before = invoices(org)
    case = erasure_in_review(gather_app)
    dpo = make_staff(gather_app, "dpo", email="dpo-plan@staff.example")
    client = gather_app.test_client()
    login(client, dpo)
    resp = post_action(client, case.reference, "approve", {})
    assert resp.status_code == 302
    assert case_status(gather_app, case.id) is CaseStatus.EXECUTING
    assert run_queued_jobs(gather_app) == 0
    # The person is told it is under way, with what is kept and why, in French.
    under_way = body_of(smtp_server.last_to(EMAIL))
    assert "est maintenant en cours d’exécution" in under_way
    assert "Facturation · Factures\u00a0: Code de commerce L123-22" in under_way

    # The person's customer record anonymised per the strategy; her namesake untouched;
    # the invoices kept (Code de commerce).
    email, name = shop_rows(org)[1]
    assert email != EMAIL and len(email) == 64 and name is None
    assert {k: v for k, v in shop_rows(org).items() if k != 1} == twins_before
    assert invoices(org) == invoices_before
    assert case_status(gather_app, case.id) is CaseStatus.REVIEW
    assert plan_status(gather_app, case.id) is PlanStatus.VERIFIED

    # Art. 19: the recipient with a declared address was e-mailed; the other waits for staff,
    # and the certificate for both.
    notice_mail = [m for m in smtp_server.messages() if m["To"] == "dpo@routeur.example"]
    assert len(notice_mail) == 1 and EMAIL in body_of(notice_mail[0])
    page = client.get(f"/staff/cases/{case.reference}").get_data(as_text=True)
    assert 'data-recipient="mailer" data-status="notified"' in page
    assert 'data-recipient="host" data-status="pending"' in page
    with gather_app.app_context():
        assert db.session.scalars(select(ExportPackage).where(
            ExportPackage.case_id == case.id)).all() == []
        host = db.session.scalar(select(RecipientNotice.id).where(
            RecipientNotice.case_id == case.id, RecipientNotice.recipient == "host"))
    refused = post_action(client, case.reference, "notice",
                          {"notice_id": str(host), "outcome": "disproportionate"})
    assert refused.status_code == 400  # a reason is required
    post_action(client, case.reference, "notice",
                {"notice_id": str(host), "outcome": "disproportionate",
                 "reason": "L'hébergeur ne détient que des sauvegardes chiffrées, écrasées "
                           "sous 30 jours."})
    assert run_queued_jobs(gather_app) == 0
    with gather_app.app_context():
        [package] = db.session.scalars(select(ExportPackage).where(
            ExportPackage.case_id == case.id)).all()
        assert (package.status, str(package.scope)) == (PackageStatus.READY, "erasure")
        package_id = package.id
        actions = [e.action for e in db.session.scalars(select(AuditEvent).where(
            AuditEvent.case_id == case.id).order_by(AuditEvent.id))]
    assert actions.count("plan.approved") == 1 and actions.count("plan.verified") == 1

    preview = client.get(f"/staff/cases/{case.reference}/package/{package_id}")
    with zipfile.ZipFile(io.BytesIO(preview.get_data())) as archive:
        text = "\n".join(page.extract_text() for page in
                         PdfReader(io.BytesIO(archive.read("certificate.pdf"))).pages)
    text = " ".join(text.split())  # lines wrap where the table cells end
    assert "Code de commerce L123-22" in text and "Camille Martin" in text
    assert "Boutique" in text and "Facturation" in text
    assert "Routeur SAS" in text and "Hébergeur SAS" in text and "sauvegardes chiffrées" in text

    released = post_action(client, case.reference, "release", {"package_id": str(package_id)})
    assert released.status_code == 302
    assert case_status(gather_app, case.id) is CaseStatus.COMPLETED


def test_erasing_twice_changes_nothing_the_second_time(gather_app, org):

    case = erasure_in_review(gather_app)
    dpo = make_staff(gather_app, "dpo", email="dpo-twice@staff.example")
    client = gather_app.test_client()
    login(client, dpo)
    post_action(client, case.reference, "approve", {})
    assert run_queued_jobs(gather_app) == 0
    after_first = shop_rows(org)
    first, again = run_step_again(gather_app, case.id, "shop")
    assert shop_rows(org) == after_first
    assert [o["changed"] for o in first] == [1] and [o["changed"] for o in again] == [0]
    assert [o["changed"] + o["absent"] for o in again] == [o["changed"] + o["absent"]
                                                          for o in first]


def test_the_dpo_keeps_items_under_an_exception_and_bad_input_is_refused(gather_app, org):
    """A reason is required, the exception must be one of Art. 17(3)'s and the items must be
    the person's: each refusal says why, in French, and keeps nothing; kept items are then not
    touched."""
    case = erasure_in_review(gather_app)
    dpo = make_staff(gather_app, "dpo", email="dpo-keep@staff.example")
    client = gather_app.test_client()
    login(client, dpo)
    refusals = [
        ({"source_collection": "shop/customers", "exception": "legal_claims", "reason": " "},
         "Veuillez expliquer pourquoi ces éléments sont conservés."),
        ({"source_collection": "shop/customers", "exception": "because", "reason": "Litige"},
         "Choisissez l’exception au titre de laquelle ces éléments sont conservés."),
        ({"source_collection": "shop/orders", "exception": "legal_claims", "reason": "Litige"},
         "Rien de cette personne n’a été trouvé à cet endroit."),
    ]
    for form, message in refusals:
        resp = post_action(client, case.reference, "keep", form)
        assert resp.status_code == 400 and message in resp.get_data(as_text=True)
        with gather_app.app_context():
            assert db.session.scalar(select(ChangePlan.exceptions).where(
                ChangePlan.case_id == case.id)) == []
    kept = post_action(client, case.reference, "keep", {
        "source_collection": "shop/customers", "exception": "legal_claims",
        "reason": "Litige en cours devant le tribunal de commerce."})
    assert kept.status_code == 302
    page = client.get(f"/staff/cases/{case.reference}").get_data(as_text=True)
    assert 'data-collection="customers" data-action="retain"' in page
    assert "Litige en cours devant le tribunal de commerce." in page
    before = shop_rows(org)
    assert post_action(client, case.reference, "approve").status_code == 302
    assert run_queued_jobs(gather_app) == 0
    assert shop_rows(org) == before  # kept: nothing of hers changed
    assert plan_status(gather_app, case.id) is PlanStatus.VERIFIED
