"""Every kind of request but the two post-mortem ones reaches its end (issue 14's acceptance):
seven people file one request each on the portal — access, portability, rectification,
erasure, restriction, and an objection of each target — through the real form (CSRF token
and all) and confirm it by the e-mailed link; staff check each identity and start it from the
back office; real workers search the organisation (``tests/support/rights_org``: a shop's
customers and the read-only invoices of billing, in SQLite or PostgreSQL), carry out each
approved plan, build each answer; the DPO releases it. Every case ends ``completed`` with the
answer of its own kind; the objection to direct marketing with no staff action at all."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import column, insert, select, table

from dsar.extensions import db
from dsar.models import Case, CaseKind, CaseStatus, ExportPackage, PackageStatus
from tests.support.app import dispose
from tests.support.forms import csrf_from, path_of, post_form
from tests.support.gathering import app_with_sources
from tests.support.rights_demo import (
    package_files,
    pdf_text,
    pick_list,
    record_notices,
    staff_client,
)
from tests.support.rights_org import rights_org, rows
from tests.support.staff import post_action
from tests.support.workers import run_queued_jobs

#: One person per request: (their name, address, shop customer id), the kind, the form's
#: own fields.
REQUESTS = {
    "access": (("Agnès Roux", "agnes.roux@example.fr", 101), CaseKind.ACCESS, {}),
    "portability": (("Bruno Petit", "bruno.petit@example.fr", 102), CaseKind.PORTABILITY, {}),
    "rectification": (("Chloé Garnier", "chloe.garnier@example.fr", 103),
                      CaseKind.RECTIFICATION, {"data_to_correct": "Mon nom de famille",
                                               "correct_value": "Chloé Garnier-Faure"}),
    "erasure": (("David Lemoine", "david.lemoine@example.fr", 104), CaseKind.ERASURE,
                {"erasure_ground": "consent_withdrawn"}),
    "restriction": (("Emma Colin", "emma.colin@example.fr", 105), CaseKind.RESTRICTION,
                    {"restriction_ground": "accuracy_contested"}),
    "marketing": (("Farid Haddad", "farid.haddad@example.fr", 106), CaseKind.OBJECTION,
                  {"objection_target": "direct_marketing"}),
    "objection": (("Gaëlle Morin", "gaelle.morin@example.fr", 107), CaseKind.OBJECTION,
                  {"objection_target": "other",
                   "objection_reasons": "Je ne suis plus cliente depuis deux ans."}),
}
GROUNDS = "Nous conservons votre fiche le temps du litige en cours sur votre dernière commande."


@pytest.fixture
def shop(app, database_url, redis_url, key_file, smtp_server, tmp_path, monkeypatch):
    """(app, source engine): the shop and billing, each requester one of its customers; its
    processing rests on legitimate interests, so that an objection to it can be decided."""
    with rights_org("postgresql" if database_url.startswith("postgresql") else "sqlite",
                    database_url, tmp_path, monkeypatch) as engine:
        customers = table("customers", column("id"), column("email"), column("name"),
                          schema=engine.prefix.rstrip(".") or None)
        with engine.begin() as conn:
            conn.execute(insert(customers), [
                {"id": number, "email": email, "name": name}
                for (name, email, number), _, _ in REQUESTS.values()])
        register = Path(tmp_path / "register.toml")
        register.write_text(register.read_text().replace(
            'legal_basis = "contract"', 'legal_basis = "legitimate_interests"'))
        rapp = app_with_sources(database_url, redis_url, key_file, smtp_server, tmp_path)
        try:
            yield rapp, engine
        finally:
            dispose(rapp)


def file_and_confirm(app, smtp_server, name: str, email: str, kind: CaseKind,
                     fields: dict):
    """The person files the request on the portal and confirms it by the e-mailed link
    (both forms with their CSRF token). Returns their browser (the status page granted)
    and the case's reference."""
    browser = app.test_client()
    filed = post_form(browser, f"/request/{kind.value}", {
        "full_name": name, "email": email, "declaration": "y", **fields})
    assert filed.status_code == 302, filed.get_data(as_text=True)
    assert run_queued_jobs(app) == 0
    link = next(u for u in smtp_server.links(smtp_server.last_to(email)) if "/confirm/" in u)
    page = browser.get(path_of(link))
    assert page.status_code == 200
    confirmed = browser.post(path_of(link),
                             data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    assert confirmed.status_code == 302
    with app.app_context():
        case = db.session.scalars(select(Case).where(Case.email_normalized == email)).one()
        assert (case.kind, case.details) == (kind, fields)
        return browser, case.reference


def case_of(app, reference: str) -> Case:
    with app.app_context():
        case = db.session.scalars(select(Case).where(Case.reference == reference)).one()
        db.session.expunge(case)
        return case


def prepare(app, agent, dpo, key: str, case: Case) -> None:
    """What staff do on a case in review for its kind, until the plan (if any) is approved."""
    if key == "rectification":
        [(token, label)] = [v for k, v in pick_list(agent, case.reference).items()
                            if k[:3] == ("shop", "customers", "name")]
        assert label.endswith("= Chloé Garnier")
        assert post_action(agent, case.reference, "correct", {
            "targets": [token], "new_value": "Chloé Garnier-Faure"}).status_code == 302
    if key == "objection":
        assert post_action(dpo, case.reference, "decide", {
            "processing": "customers", "decision": "grounds",
            "text": GROUNDS}).status_code == 302
    if case.kind is not CaseKind.ACCESS and case.kind is not CaseKind.PORTABILITY:
        assert post_action(dpo, case.reference, "approve").status_code == 302


def release(app, dpo, case: Case) -> ExportPackage:
    """The DPO releases the answer the case page offers."""
    with app.app_context():
        package = db.session.scalar(select(ExportPackage).where(
            ExportPackage.case_id == case.id).order_by(ExportPackage.id.desc()))
        assert package is not None, case.kind
        package_id = package.id
    assert post_action(dpo, case.reference, "release",
                       {"package_id": str(package_id)}).status_code == 302
    return package


def test_every_kind_filed_on_the_portal_reaches_completed(shop, smtp_server):
    app, engine = shop
    filed = {key: file_and_confirm(app, smtp_server, name, email, kind, fields)
             for key, ((name, email, _), kind, fields) in REQUESTS.items()}
    assert run_queued_jobs(app) == 0
    cases = {key: case_of(app, reference) for key, (_, reference) in filed.items()}
    # The objection to direct marketing needed nobody: done as the address was confirmed.
    assert {k: c.status for k, c in cases.items()} == {
        **dict.fromkeys(REQUESTS, CaseStatus.CONFIRMED), "marketing": CaseStatus.COMPLETED}

    agent, dpo = staff_client(app, "agent"), staff_client(app, "dpo")
    open_cases = {k: c for k, c in cases.items() if k != "marketing"}
    for case in open_cases.values():
        assert post_action(agent, case.reference, "verify",
                           {"method": "email_and_identifiers", "note": ""}).status_code == 302
        assert post_action(agent, case.reference, "start").status_code == 302
    assert run_queued_jobs(app) == 0
    assert {case_of(app, c.reference).status for c in open_cases.values()} == {
        CaseStatus.REVIEW}

    for key, case in open_cases.items():
        prepare(app, agent, dpo, key, case)
    assert run_queued_jobs(app) == 0
    for case in open_cases.values():
        if case.kind not in (CaseKind.ACCESS, CaseKind.PORTABILITY):
            record_notices(app, dpo, case)
    for case in open_cases.values():
        release(app, dpo, case)

    ends, released = {}, {}
    for key, case in cases.items():
        with app.app_context():
            row = db.session.get(Case, case.id)
            [package] = db.session.scalars(select(ExportPackage).where(
                ExportPackage.case_id == case.id,
                ExportPackage.status == PackageStatus.RELEASED)).all()
            ends[key] = (row.status, package.scope)
            released[key] = (package.id, package.released_by_id)
    assert ends == {key: (CaseStatus.COMPLETED, str(kind))
                    for key, (_, kind, _) in REQUESTS.items()}
    assert [key for key, (_, by) in released.items() if by is None] == ["marketing"]
    # The DPO's written grounds reach the person, in the letter of Art. 21.
    letter = pdf_text(package_files(app, released["objection"][0])["certificate.pdf"])
    assert "art. 21" in letter and GROUNDS in letter

    # What each answer did, read straight from the shop.
    shop_rows = rows(engine, "customers")
    person = {key: shop_rows[number] for key, ((_, _, number), _, _) in REQUESTS.items()}
    assert person["rectification"][1] == "Chloé Garnier-Faure"
    assert person["erasure"][0] != "david.lemoine@example.fr" and person["erasure"][1] is None
    assert person["restriction"][2] == 1 and person["marketing"][3] == 0
    for key in ("access", "portability", "objection"):  # nothing to change (grounds kept)
        name, email, _ = REQUESTS[key][0]
        assert person[key] == (email, name, 0, 1)
    # Each person can read their answer on the status page, from the link they followed.
    for key, (browser, reference) in filed.items():
        assert browser.get(f"/status/{reference}").status_code == 200, key
