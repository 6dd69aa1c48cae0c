"""A deceased person's rights carried out end to end (issue 15; Loi Informatique et Libertés,
art. 85), filed on the portal with their documents, through the back office and real workers,
on a training platform's database read back afterwards (``tests/support/postmortem_org``):

- the person the directives designate gets the copy they direct (never a credential nor
  another person's data) and the rest is erased as directed, but what the law keeps;
- an heir without directives is offered, and gets, only what art. 85 II allows;
- an heir the directives exclude is refused, with the reasons and the remedies.
"""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from dsar.changes.suppression import is_suppressed
from dsar.core import storage
from dsar.extensions import db
from dsar.models import (
    Case,
    CaseStatus,
    DeceasedMatch,
    IdentityProof,
    MailTemplate,
    OutboundEmail,
    RecipientNotice,
    SourceResult,
)
from dsar.postmortem.directives import Directives
from tests.support.app import dispose
from tests.support.gathering import app_with_sources, case_status
from tests.support.postmortem_org import (
    DECEASED,
    DESIGNATED,
    DIED,
    HEIR,
    at,
    exported,
    file_execution,
    ids,
    leave_directives,
    package_files,
    postmortem_org,
)
from tests.support.staff import login, make_staff, post_action
from tests.support.workers import run_queued_jobs

#: Jeanne's directives: her training record and her letters to her daughter, the rest erased.
HANDED = Directives(categories={"identification": "erase", "contact": "erase",
                                "authentication": "erase", "training": "hand_over",
                                "correspondence": "hand_over", "billing": "erase"},
                    instructions="Remettre mes attestations à ma fille.",
                    designated_name="Élise Roux", designated_email=DESIGNATED)


@pytest.fixture
def world(app, database_url, redis_url, key_file, smtp_server, tmp_path, monkeypatch):
    engine = postmortem_org(tmp_path, monkeypatch)
    pm_app = app_with_sources(database_url, redis_url, key_file, smtp_server, tmp_path)
    try:
        yield pm_app, engine
    finally:
        engine.dispose()
        dispose(pm_app)


def staff_client(app, role: str):
    client = app.test_client()
    login(client, make_staff(app, role, email=f"{role}-{id(client)}@staff.example"))
    return client


def proof_blobs(app, case_id: int) -> list[str]:
    with app.app_context():
        return [p.blob_id for p in db.session.scalars(select(IdentityProof).where(
            IdentityProof.case_id == case_id)) if p.blob_id]


def verify(app, agent, case, **deceased) -> None:
    """The agent checks the documents and confirms the deceased (the form's values by
    default)."""
    form = {"method": "document", "note": "Acte de décès et pièce d'identité conformes.",
            "deceased_email": DECEASED, "date_of_death": DIED.isoformat(), **deceased}
    resp = post_action(agent, case.reference, "verify", form)
    assert resp.status_code == 302, resp.get_data(as_text=True)


def searched_with_deceased_only(app, case_id: int) -> None:
    """Every source was searched, none with the requester's address (only Jeanne's)."""
    with app.app_context():
        rows = db.session.scalars(select(SourceResult).where(
            SourceResult.case_id == case_id)).all()
        from dsar.search.gathering import row_input

        inputs = [row_input(r) for r in rows]
    assert inputs and all(i.get("email") in (frozenset({DECEASED}), frozenset()) for i in inputs)


def carry_out(app, dpo, case) -> None:
    """The DPO approves; the workers erase, verify; the notice to the host is recorded; the
    answer is built."""
    assert post_action(dpo, case.reference, "approve", {}).status_code == 302
    assert run_queued_jobs(app) == 0
    with app.app_context():
        pending = db.session.scalars(select(RecipientNotice.id).where(
            RecipientNotice.case_id == case.id)).all()
    for notice_id in pending:
        post_action(dpo, case.reference, "notice", {"notice_id": str(notice_id),
                                                    "outcome": "notified"})
    assert run_queued_jobs(app) == 0


def letter(files: dict[str, bytes]) -> str:
    pdf = PdfReader(io.BytesIO(files["certificate.pdf"]))
    return " ".join("\n".join(p.extract_text() for p in pdf.pages).split())


def test_the_designated_person_gets_the_copy_directed_and_the_rest_is_erased(world,
                                                                             smtp_server):
    app, engine = world
    # Version 1 stood at the death; version 2, made after it by whoever held the link, is not
    # hers to count.
    reference = leave_directives(app, [
        (at(DIED - timedelta(days=400)), HANDED),
        (at(DIED + timedelta(days=5)), Directives(categories={}, designated_name="X",
                                                  designated_email="x@example.fr",
                                                  heirs_excluded=True))])
    client = app.test_client()
    case = file_execution(app, client, smtp_server, lambda: run_queued_jobs(app),
                          email=DESIGNATED, role="designated_person")
    blobs = proof_blobs(app, case.id)
    assert len(blobs) == 2
    agent, dpo = staff_client(app, "agent"), staff_client(app, "dpo")
    # The documents must be checked; a date of death before the birth is a typing error.
    for wrong in ({"method": "email_and_identifiers"}, {"date_of_death": "1940-01-01"},
                  {"deceased_email": "pas-une-adresse"}, {"date_of_death": ""}):
        form = {"method": "document", "note": "Vu.", "deceased_email": DECEASED,
                "date_of_death": DIED.isoformat(), **wrong}
        assert post_action(agent, case.reference, "verify", form).status_code == 400, wrong
    with app.app_context():
        assert all(storage.exists(b) for b in blobs)  # nothing decided, nothing deleted
    assert case_status(app, case.id) is CaseStatus.CONFIRMED
    verify(app, agent, case)
    # After the decision no proof document remains in storage.
    with app.app_context():
        assert not any(storage.exists(b) for b in blobs)
        match = db.session.scalar(select(DeceasedMatch).where(DeceasedMatch.case_id == case.id))
        assert (match.outcome, match.directive_version) == ("directives", 1)
    page = agent.get(f"/staff/cases/{case.reference}").get_data(as_text=True)
    assert reference in page and 'data-outcome="directives"' in page

    assert post_action(agent, case.reference, "start", {}).status_code == 302
    assert run_queued_jobs(app) == 0
    assert case_status(app, case.id) is CaseStatus.REVIEW
    searched_with_deceased_only(app, case.id)
    carry_out(app, dpo, case)

    # Erased as directed: her account and nothing of Paul's; the invoices kept by law; her
    # certificates and messages handed over, not erased.
    assert ids(engine, "accounts") == {2}
    assert ids(engine, "invoices") == {30, 31}
    assert ids(engine, "certificates") == {10, 11, 12}
    with app.app_context():  # her address, erased, is never written to again
        assert is_suppressed("email", DECEASED) and not is_suppressed("email", DESIGNATED)
    files = package_files(app, case.id)
    data = exported(files)
    text = files["export.json"].decode()
    assert "Aquarelle niveau 2" in text and "Anglais B1" in text and "Sortie du samedi" in text
    # Never credentials, never another person's data, never Paul's.
    for absent in ("argon2id", "Médor", "claire.dubois", "Comptabilité", "password_hash",
                   "security_answer", "paul.durand"):
        assert absent not in text, absent
    assert data["case"]["reference"] == case.reference
    # The recipients are told whose data it was: the deceased's address, never the
    # requester's own.
    notice = smtp_server.last_to("dpo@routeur.example")
    notice_text = notice.get_body(("plain",)).get_content()
    assert DECEASED in notice_text and DESIGNATED not in notice_text
    words = letter(files)
    assert "Loi Informatique et Libertés, art. 85" in words and "Jeanne Roux" in words
    assert "Code de commerce" in words  # kept, with its basis and the remedies
    assert "CNIL" in words

    assert post_action(dpo, case.reference, "release", {
        "package_id": str(_package_id(app, case.id))}).status_code == 302
    assert case_status(app, case.id) is CaseStatus.COMPLETED
    assert run_queued_jobs(app) == 0
    assert smtp_server.last_to(DESIGNATED) is not None


def _package_id(app, case_id: int) -> int:
    from dsar.exports.build import current_package

    with app.app_context():
        return current_package(case_id).id


def test_an_heir_without_directives_gets_only_what_article_85_ii_allows(world, smtp_server):
    app, engine = world
    client = app.test_client()
    # The form offers an heir the art. 85 II requests only.
    form = client.get("/request/postmortem_execution").get_data(as_text=True)
    for code in ("estate_information", "digital_goods", "close_accounts", "record_death"):
        assert f'value="{code}"' in form
    case = file_execution(app, client, smtp_server, lambda: run_queued_jobs(app), email=HEIR,
                          role="heir", requests=["close_accounts", "record_death"])
    agent, dpo = staff_client(app, "agent"), staff_client(app, "dpo")
    verify(app, agent, case)
    assert post_action(agent, case.reference, "start", {}).status_code == 302
    assert run_queued_jobs(app) == 0
    page = dpo.get(f"/staff/cases/{case.reference}").get_data(as_text=True)
    assert 'data-outcome="heir"' in page
    # Only what the heir asked for is offered: no copy (they did not ask what the estate
    # needs), and a copy is refused if forged.
    assert 'value="hand_over"' not in page and 'value="erase"' in page
    refused = post_action(dpo, case.reference, "choose", {"collection": "platform/certificates",
                                                           "choice": "hand_over"})
    assert refused.status_code == 400
    assert post_action(agent, case.reference, "choose", {
        "collection": "platform/accounts", "choice": "erase"}).status_code == 403
    for collection in ("platform/accounts", "platform/invoices"):
        assert post_action(dpo, case.reference, "choose", {
            "collection": collection, "choice": "erase"}).status_code == 302
    carry_out(app, dpo, case)

    assert ids(engine, "accounts") == {2}  # her account closed
    assert ids(engine, "certificates") == {10, 11, 12}  # nothing else touched
    assert ids(engine, "messages") == {20, 21}
    assert ids(engine, "invoices") == {30, 31}  # the law keeps them
    with app.app_context():
        assert is_suppressed("email", DECEASED)  # the death taken into account
    files = package_files(app, case.id)
    assert set(files) == {"certificate.pdf"}  # no copy asked, none given
    words = letter(files)
    # What the heir asked, in their language, under the law heirs act by.
    assert "Loi Informatique et Libertés, art. 85" in words
    assert "La clôture de ses comptes" in words and "Code de commerce" in words


def test_an_heir_the_directives_exclude_is_refused_with_reasons_and_remedies(world,
                                                                             smtp_server):
    app, engine = world
    leave_directives(app, [(at(DIED - timedelta(days=30)), Directives(
        categories={"training": "hand_over"}, designated_name="Élise Roux",
        designated_email=DESIGNATED, heirs_excluded=True))])
    client = app.test_client()
    case = file_execution(app, client, smtp_server, lambda: run_queued_jobs(app), email=HEIR,
                          role="heir", requests=["estate_information"])
    blobs = proof_blobs(app, case.id)
    agent, dpo = staff_client(app, "agent"), staff_client(app, "dpo")
    verify(app, agent, case)
    with app.app_context():
        assert blobs and not any(storage.exists(b) for b in blobs)
    # Nothing is searched; the refusal's reasons are proposed to the DPO.
    resp = post_action(agent, case.reference, "start", {})
    assert resp.status_code == 400
    page = dpo.get(f"/staff/cases/{case.reference}").get_data(as_text=True)
    assert 'data-outcome="heirs_excluded"' in page and 'id="refusal-proposed"' in page
    assert "/start" not in page  # not offered
    with app.app_context():
        from flask_babel import force_locale

        from dsar.postmortem.matching import REFUSAL_REASONS

        with force_locale("fr"):
            reasons = str(REFUSAL_REASONS["heirs_excluded"])
    assert post_action(dpo, case.reference, "reject", {"scope": "full",
                                                       "reasons": reasons}).status_code == 302
    assert case_status(app, case.id) is CaseStatus.REJECTED
    assert run_queued_jobs(app) == 0
    with app.app_context():
        sent = db.session.scalar(select(OutboundEmail).where(
            OutboundEmail.case_id == case.id, OutboundEmail.template == MailTemplate.REJECTED))
        assert sent is not None
    mail = smtp_server.last_to(HEIR)
    body = mail.get_body(("plain",)).get_content() if hasattr(mail, "get_body") else str(mail)
    assert "art. 85" in body and "CNIL" in body
    assert ids(engine, "accounts") == {1, 2}
    with app.app_context():
        assert db.session.get(Case, case.id).status is CaseStatus.REJECTED


def test_an_heir_gets_what_the_estate_needs_and_nothing_is_erased(world, smtp_server):
    """An heir asking only for what the estate needs: the DPO hands over the certificates; the
    plan erases nothing, and the copy holds them without any credential."""
    app, engine = world
    client = app.test_client()
    case = file_execution(app, client, smtp_server, lambda: run_queued_jobs(app), email=HEIR,
                          role="heir", requests=["digital_goods"])
    agent, dpo = staff_client(app, "agent"), staff_client(app, "dpo")
    # The customer number typed on the form is the living Paul's: it is never searched.
    verify(app, agent, case, deceased_customer_number="2")
    assert post_action(dpo, case.reference, "choose", {  # nothing to choose before review
        "collection": "platform/certificates", "choice": "hand_over"}).status_code == 400
    assert post_action(agent, case.reference, "start", {}).status_code == 302
    assert run_queued_jobs(app) == 0
    page = dpo.get(f"/staff/cases/{case.reference}").get_data(as_text=True)
    assert 'value="hand_over"' in page and 'value="erase"' not in page
    assert post_action(dpo, case.reference, "choose", {
        "collection": "platform/certificates", "choice": "hand_over"}).status_code == 302
    carry_out(app, dpo, case)
    assert ids(engine, "accounts") == {1, 2} and ids(engine, "certificates") == {10, 11, 12}
    files = package_files(app, case.id)
    text = files["export.json"].decode()
    assert "Aquarelle niveau 2" in text and "Comptabilité" not in text
    assert "argon2id" not in text and "Sortie du samedi" not in text
    with app.app_context():
        assert not is_suppressed("email", DECEASED)  # not asked
        # Nothing erased: no recipient is told anything (it would only disclose the death).
        assert db.session.scalars(select(RecipientNotice).where(
            RecipientNotice.case_id == case.id)).all() == []
    assert not [m for m in smtp_server.messages() if m["To"] == "dpo@routeur.example"]
