"""Rectification, restriction and objection carried out end to end (issue 14), through the back
office and real workers, on SQLite and PostgreSQL sources (``tests/support/rights_org``):
read straight from the source database afterwards, the person's row changed as asked and
nobody else's — not her namesake, not the person whose address contains hers."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from dsar.cases.clock import today_in_paris
from dsar.cases.requester_actions import confirm_address
from dsar.changes import restriction
from dsar.changes.restriction_register import is_restricted
from dsar.changes.statements import statements_for
from dsar.changes.suppression import is_suppressed
from dsar.extensions import db
from dsar.models import (
    Case,
    CaseKind,
    CaseStatus,
    ChangePlan,
    ExportPackage,
    MailTemplate,
    OutboundEmail,
    PlanStatus,
    RecipientNotice,
)
from tests.support.app import dispose
from tests.support.gathering import EMAIL, app_with_sources, case_status, start
from tests.support.mailbox import body_of
from tests.support.rights_org import CUSTOMERS, HERS, INVOICES, rights_org, rows
from tests.support.staff import login, make_case, make_staff, post_action
from tests.support.workers import run_queued_jobs

OTHERS = {row[0]: tuple(row[1:]) for row in CUSTOMERS if row[0] != HERS}


@pytest.fixture(params=["sqlite", "postgresql"])
def world(request, app, database_url, redis_url, key_file, smtp_server, tmp_path, monkeypatch):
    """(app, source engine): the organisation on each kind of source database."""
    if request.param == "postgresql" and not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL sources: set DSAR_TEST_DATABASE_URL to a PostgreSQL database")
    with rights_org(request.param, database_url, tmp_path, monkeypatch) as engine:
        rapp = app_with_sources(database_url, redis_url, key_file, smtp_server, tmp_path)
        try:
            yield rapp, engine
        finally:
            dispose(rapp)


def in_review(app, kind: CaseKind, details: dict) -> Case:
    case = make_case(app, status=CaseStatus.VERIFIED, kind=kind, email=EMAIL, details=details)
    start(app, case.id)
    assert run_queued_jobs(app) == 0
    assert case_status(app, case.id) is CaseStatus.REVIEW
    return case


def staff_client(app, role: str):
    client = app.test_client()
    login(client, make_staff(app, role, email=f"{role}-{id(client)}@staff.example"))
    return client


def record_notices(app, client, case) -> None:
    """Staff record the Art. 19 notice of the recipient without an address."""
    with app.app_context():
        pending = db.session.scalars(select(RecipientNotice.id).where(
            RecipientNotice.case_id == case.id, RecipientNotice.recipient == "host")).all()
    for notice_id in pending:
        assert post_action(client, case.reference, "notice", {
            "notice_id": str(notice_id), "outcome": "notified"}).status_code == 302
    assert run_queued_jobs(app) == 0


def released_letter(app, client, case) -> str:
    """The DPO releases the answer letter; its text."""
    with app.app_context():
        package = db.session.scalar(select(ExportPackage).where(
            ExportPackage.case_id == case.id))
        assert package is not None and package.scope == str(case.kind)
        package_id = package.id
    assert post_action(client, case.reference, "release",
                       {"package_id": str(package_id)}).status_code == 302
    assert case_status(app, case.id) is CaseStatus.COMPLETED
    return letter_text(app, package_id)


def letter_text(app, package_id: int) -> str:
    from dsar.core import storage

    with app.app_context():
        package = db.session.get(ExportPackage, package_id)
        with storage.reader(package.blob_id) as blob:
            archive = zipfile.ZipFile(io.BytesIO(blob.read()))
    pdf = PdfReader(io.BytesIO(archive.read("certificate.pdf")))
    text = "\n".join(page.extract_text() for page in pdf.pages)
    return " ".join(text.replace("-\n", "-").split())  # table cells wrap their values


def test_a_rectification_corrects_the_source_and_keeps_a_statement_where_it_cannot(world):
    app, engine = world
    case = in_review(app, CaseKind.RECTIFICATION, {"data_to_correct": "Mon nom",
                                                   "correct_value": "Camille Martin-Leroy"})
    agent = staff_client(app, "agent")
    page = agent.get(f"/staff/cases/{case.reference}").get_data(as_text=True)
    with app.app_context():
        from dsar.changes.rectification import targets

        offered = {(t.source, t.field): t.token
                   for t in targets(db.session.get(Case, case.id))}
    # One correction, two fields: her account's name and the name her invoices are billed to.
    chosen = [offered[("shop", "name")], offered[("billing", "billed_to")]]
    assert "Camille Martin" in page
    resp = post_action(agent, case.reference, "correct",
                       {"targets": chosen, "new_value": "Camille Martin-Leroy"})
    assert resp.status_code == 302
    assert post_action(agent, case.reference, "approve", {}).status_code == 403
    dpo = staff_client(app, "dpo")
    assert post_action(dpo, case.reference, "approve", {}).status_code == 302
    assert run_queued_jobs(app) == 0

    assert rows(engine, "customers")[HERS][:2] == (EMAIL, "Camille Martin-Leroy")
    assert {k: v for k, v in rows(engine, "customers").items() if k != HERS} == OTHERS
    assert rows(engine, "invoices") == {r[0]: tuple(r[1:]) for r in INVOICES}  # read-only
    with app.app_context():
        plan = db.session.scalar(select(ChangePlan).where(ChangePlan.case_id == case.id))
        assert plan.status is PlanStatus.VERIFIED
        [statement] = statements_for(db.session.get(Case, case.id))
        assert (statement.field, statement.old, statement.new) == (
            "billed_to", "Camille Martin", "Camille Martin-Leroy")
    record_notices(app, dpo, case)
    text = released_letter(app, dpo, case)
    assert "art. 16" in text and "Camille Martin-Leroy" in text
    assert "art. 15" not in text and "art. 17" not in text


def test_a_restriction_flags_the_sources_and_is_lifted_after_the_person_was_told(
        world, smtp_server):
    app, engine = world
    case = in_review(app, CaseKind.RESTRICTION, {"restriction_ground": "accuracy_contested"})
    dpo = staff_client(app, "dpo")
    assert post_action(dpo, case.reference, "approve", {}).status_code == 302
    with app.app_context():
        assert is_restricted("email", EMAIL)  # in the register from the approval on
        assert not is_restricted("email", OTHERS[2][0])
    assert run_queued_jobs(app) == 0
    assert rows(engine, "customers")[HERS][2] == 1
    assert {k: v for k, v in rows(engine, "customers").items() if k != HERS} == OTHERS
    record_notices(app, dpo, case)
    text = released_letter(app, dpo, case)
    assert "RGPD, art. 18" in text
    assert "Factures" in text  # where it could not be applied, with the reason
    assert run_queued_jobs(app) == 0
    # The e-mail announcing the answer cites the kind's own article, in French.
    assert "(Limitation du traitement, RGPD, art. 18)" in body_of(smtp_server.last_to(EMAIL))

    # The lift: announced first, with its date; nothing happens before that date.
    lift_on = today_in_paris() + timedelta(days=3)
    agent = staff_client(app, "agent")
    assert post_action(agent, case.reference, "lift", {
        "lift_on": lift_on.isoformat(), "reason": "Exactitude vérifiée."}).status_code == 403
    assert post_action(dpo, case.reference, "lift", {
        "lift_on": today_in_paris().isoformat(), "reason": "Trop tôt."}).status_code == 400
    assert post_action(dpo, case.reference, "lift", {
        "lift_on": lift_on.isoformat(), "reason": "Exactitude vérifiée."}).status_code == 302
    assert run_queued_jobs(app) == 0
    notice = smtp_server.last_to(EMAIL)
    assert "Exactitude vérifiée." in body_of(notice)
    with app.app_context():
        assert restriction.lift_due(lift_on - timedelta(days=1)) == 0
    assert rows(engine, "customers")[HERS][2] == 1
    with app.app_context():
        assert restriction.lift_due(lift_on) == 1
        assert not is_restricted("email", EMAIL)
        assert restriction.lift_due(lift_on) == 0  # once
    assert rows(engine, "customers")[HERS][2] == 0
    assert {k: v for k, v in rows(engine, "customers").items() if k != HERS} == OTHERS


def test_an_objection_to_direct_marketing_is_honoured_with_no_staff_action(world):
    app, engine = world
    case = make_case(app, status=CaseStatus.SUBMITTED, kind=CaseKind.OBJECTION, email=EMAIL,
                     details={"objection_target": "direct_marketing"})
    with app.app_context():
        assert confirm_address(db.session.get(Case, case.id))
    assert run_queued_jobs(app) == 0
    assert case_status(app, case.id) is CaseStatus.COMPLETED
    assert rows(engine, "customers")[HERS][3] == 0
    assert {k: v for k, v in rows(engine, "customers").items() if k != HERS} == OTHERS
    with app.app_context():
        assert is_suppressed("email", EMAIL)
        templates = db.session.scalars(select(OutboundEmail.template).where(
            OutboundEmail.case_id == case.id).order_by(OutboundEmail.id)).all()
        assert MailTemplate.PACKAGE_READY in templates
        package = db.session.scalar(select(ExportPackage).where(
            ExportPackage.case_id == case.id))
        assert package.released_at is not None and package.released_by_id is None
    assert "art. 21" in letter_text(app, package.id)


def test_an_objection_to_other_processing_is_decided_by_the_dpo(world):
    app, engine = world
    from pathlib import Path

    register = Path(app.config["REGISTER_FILE"])
    register.write_text(register.read_text().replace('legal_basis = "contract"',
                                                     'legal_basis = "legitimate_interests"'))
    from dsar.sources import catalog

    catalog.init_app(app)
    case = in_review(app, CaseKind.OBJECTION, {"objection_target": "other",
                                               "objection_reasons": "Plus cliente."})
    dpo = staff_client(app, "dpo")
    refused = post_action(dpo, case.reference, "approve", {})
    assert refused.status_code == 400  # every processing needs its decision first
    assert post_action(dpo, case.reference, "decide", {
        "processing": "customers", "decision": "grounds", "text": ""}).status_code == 400
    assert post_action(dpo, case.reference, "decide", {
        "processing": "customers", "decision": "stop", "means": "restrict"}).status_code == 302
    assert post_action(dpo, case.reference, "approve", {}).status_code == 302
    assert run_queued_jobs(app) == 0
    assert rows(engine, "customers")[HERS][2] == 1
    assert {k: v for k, v in rows(engine, "customers").items() if k != HERS} == OTHERS
    record_notices(app, dpo, case)
    assert "art. 21" in released_letter(app, dpo, case)


def test_a_marketing_objection_left_between_two_stages_is_taken_up_by_the_sweep(world):
    """The web server died right after the confirmation was committed: the sweep takes the
    case up once the grace period is over, and the workers finish it."""
    from datetime import UTC, datetime

    from dsar.changes import marketing

    app, engine = world
    case = make_case(app, status=CaseStatus.CONFIRMED, kind=CaseKind.OBJECTION, email=EMAIL,
                     details={"objection_target": "direct_marketing"})
    with app.app_context():
        assert marketing.catch_up() == {"taken_up": 0, "approved": 0, "released": 0}
        later = datetime.now(UTC) + timedelta(seconds=app.config["REQUEUE_GRACE_SECONDS"] + 1)
        assert marketing.catch_up(later)["taken_up"] == 1
    assert run_queued_jobs(app) == 0
    assert case_status(app, case.id) is CaseStatus.COMPLETED
    assert rows(engine, "customers")[HERS][3] == 0


def test_a_correction_mapped_while_the_dpo_approves_is_refused_not_lost(world):
    """An agent's edit and the DPO's approval cross: whichever lands second is refused, so the
    plan that runs is exactly the plan that was approved (and the letter says no more)."""
    from dsar.cases.refusals import ActionRefused
    from dsar.changes import plan as plans
    from dsar.changes import rectification
    from dsar.models import StaffUser

    app, engine = world
    case = in_review(app, CaseKind.RECTIFICATION, {"data_to_correct": "Mon nom"})
    agent_id = make_staff(app, "agent", email="agent-race@staff.example").id
    dpo_id = make_staff(app, "dpo", email="dpo-race@staff.example").id
    with app.app_context():
        mine = db.session.get(Case, case.id)
        token = next(t.token for t in rectification.targets(mine) if t.field == "name")
        rectification.add_correction(mine, db.session.get(StaffUser, agent_id), [token], "A")
        db.session.commit()
    # The DPO's page was read (the plan as it stood), then the agent changed it: the DPO's
    # approval is refused, nothing sealed. (A request context: the refusal is in words.)
    with app.test_request_context():
        dpo_view = db.session.get(Case, case.id)
        stale = plans.plan_of(dpo_view)
        with app.app_context():
            other = db.session.get(Case, case.id)
            rectification.add_correction(other, db.session.get(StaffUser, agent_id), [token],
                                         "B")
            db.session.commit()
        with pytest.raises(ActionRefused):
            plans.approve(dpo_view, db.session.get(StaffUser, dpo_id))
        db.session.rollback()
        assert stale is not None
    # Approved as it now stands; an edit arriving after that is refused.
    with app.app_context():
        plans.approve_action(db.session.get(Case, case.id), db.session.get(StaffUser, dpo_id))
    with app.test_request_context(), pytest.raises(ActionRefused):
        rectification.add_correction(db.session.get(Case, case.id),
                                     db.session.get(StaffUser, agent_id), [token], "C")
    assert run_queued_jobs(app) == 0
    assert rows(engine, "customers")[HERS][1] == "B"


def test_an_erasure_verified_deletes_the_persons_statements(world):
    """A supplementary statement holds the person's values: once their erasure is verified,
    no later copy of their data carries it (another person's statement stays)."""
    from dsar.changes.execution import after_verified
    from dsar.changes.statements import record_statement, statements_for_email

    app, _ = world
    hers = make_case(app, status=CaseStatus.REVIEW, kind=CaseKind.RECTIFICATION, email=EMAIL)
    theirs = make_case(app, status=CaseStatus.REVIEW, kind=CaseKind.RECTIFICATION,
                       email=OTHERS[2][0])
    erasure = make_case(app, status=CaseStatus.REVIEW, kind=CaseKind.ERASURE, email=EMAIL)
    with app.app_context():
        for case_id in (hers.id, theirs.id):
            record_statement(db.session.get(Case, case_id), source="billing",
                             collection="invoices", key="10", field="billed_to",
                             old="Camille Martin", new="Camille Martin-Leroy")
        db.session.commit()
        after_verified(db.session.get(Case, erasure.id))
        db.session.commit()
        assert statements_for_email(EMAIL) == []
        assert len(statements_for_email(OTHERS[2][0])) == 1
