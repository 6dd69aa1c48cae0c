"""Post-mortem directives in the back office (issue 15): staff see them on a list of their own,
find a person's by the e-mail address they proved, through a POST form (never in a URL,
audited without the values), and read every version on the case page, its categories in the
staff member's language."""

from __future__ import annotations

import html
import re
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from dsar.extensions import db
from dsar.models import AuditEvent, Case, CaseKind, CaseStatus
from dsar.postmortem import directives
from dsar.postmortem.directives import Directives
from dsar.sources import catalog
from tests.support.forms import csrf_from
from tests.support.staff import login, make_case, make_staff

REGISTER = """
[controller]
name = "Organisation de test"

[categories.contact]
label = "Coordonnées"
label_en = "Contact details"

[categories.purchases]
label = "Achats"
label_en = "Purchases"
"""

CAMILLE = {"email": "camille.martin@example.fr", "customer_number": "CUST-1042"}
JEAN = {"email": "jean.dupont@example.fr", "customer_number": "CUST-2077"}
FORM = {"category_contact": "erase", "category_purchases": "hand_over",
        "directive_instructions": "Fermer mon compte.", "trusted_person_name": "Lucie Martin",
        "trusted_person_email": "lucie.martin@example.fr", "consent": True}


@pytest.fixture
def register(app):
    """A register of processing with two categories of data, labelled in both languages."""
    Path(app.config["REGISTER_FILE"]).write_text(REGISTER)
    catalog.init_app(app)


def recorded(app, person: dict, received_on: date | None = None) -> Case:
    """A directive case of ``person``, confirmed and taken up (version 1 recorded)."""
    case = make_case(app, kind=CaseKind.POSTMORTEM_DIRECTIVE, email=person["email"],
                     received_on=received_on, details=dict(FORM))
    with app.app_context():
        row = db.session.get(Case, case.id)
        row.identifiers = {"customer_number": person["customer_number"]}
        db.session.commit()
        assert directives.take_up(row)
        assert row.status is CaseStatus.RECORDED
    return case


def staff_client(app, role: str = "agent", language: str = "en"):
    staff = make_staff(app, role)
    client = app.test_client()
    client.get(f"/language/{language}")
    login(client, staff)
    return staff, client


def listed_references(page: str, table_id: str) -> list[str]:
    table = re.search(rf'<table class="cases" id="{table_id}">(.*?)</table>', page, re.S)
    assert table, f"no table {table_id}"
    return re.findall(r'<tr data-reference="([^"]+)"', table.group(1))


def search(client, **fields):
    token = csrf_from(client.get("/staff/directives").get_data(as_text=True))
    return client.post("/staff/directives/search", data={"csrf_token": token, **fields})


def text_of(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def test_the_list_shows_every_directive_case_newest_first(app):
    older = recorded(app, CAMILLE, date(2025, 3, 3))
    newer = recorded(app, JEAN, date(2025, 6, 9))
    access = make_case(app, kind=CaseKind.ACCESS)
    _, client = staff_client(app)

    resp = client.get("/staff/directives")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert listed_references(page, "directive-cases") == [newer.reference, older.reference]
    assert access.reference not in page
    row = text_of(re.search(rf'data-reference="{older.reference}">(.*?)</tr>', page, re.S)[1])
    assert "Camille Martin" in row and "Mar 3, 2025" in row and "Directives recorded" in row
    assert re.search(r"Directives recorded 1 ", row)  # one version so far
    # The back office's navigation leads there.
    dashboard = client.get("/staff/").get_data(as_text=True)
    assert 'href="/staff/directives"' in dashboard


def test_the_list_is_paged_by_fifty(app):
    references = [recorded(app, {"email": f"person{i}@example.fr",
                                 "customer_number": f"CUST-{i}"}, date(2025, 1, 1 + i % 28))
                  .reference for i in range(51)]
    _, client = staff_client(app)
    first = client.get("/staff/directives").get_data(as_text=True)
    second = client.get("/staff/directives?page=2").get_data(as_text=True)
    on_first = listed_references(first, "directive-cases")
    on_second = listed_references(second, "directive-cases")
    assert len(on_first) == 50 and len(on_second) == 1
    assert sorted(on_first + on_second) == sorted(references)
    assert 'id="next-page"' in first and 'id="next-page"' not in second


def test_a_search_by_email_in_any_capitals_finds_that_persons_directives_only(app):
    camille = recorded(app, CAMILLE)
    jean = recorded(app, JEAN)
    _, client = staff_client(app)

    resp = search(client, email="  Camille.MARTIN@Example.FR ")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert listed_references(page, "directive-results") == [camille.reference]
    assert jean.reference not in page


def test_a_typed_customer_number_finds_nothing_only_the_proven_address_does(app):
    """Nobody checked the customer number a person typed: directives found by it could be
    someone else's, naming themselves to receive the deceased's data."""
    camille = recorded(app, CAMILLE)
    jean = recorded(app, JEAN)
    _, client = staff_client(app, "auditor")

    refused = search(client, customer_number="cust-2077")
    assert refused.status_code == 400 and jean.reference not in refused.get_data(as_text=True)
    page = search(client, email="jean.dupont@example.fr").get_data(as_text=True)
    assert listed_references(page, "directive-results") == [jean.reference]
    assert camille.reference not in page
    nobody = search(client, email="someone.else@example.fr").get_data(as_text=True)
    assert listed_references(nobody, "directive-results") == []
    assert "No directives found." in nobody


def test_the_search_is_audited_without_the_values_and_never_in_a_url(app):
    recorded(app, CAMILLE)
    staff, client = staff_client(app)
    page = client.get("/staff/directives").get_data(as_text=True)
    assert re.search(r'<form method="post" action="/staff/directives/search"', page)

    search(client, email="Camille.Martin@example.fr")
    search(client, email="camille.martin@example.fr", customer_number="CUST-1042")
    # A search put in a URL is not one: the list is shown, nothing is searched.
    client.get("/staff/directives?email=camille.martin%40example.fr")

    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "directives.searched").order_by(AuditEvent.id)).all()
        assert [(e.actor_type.value, e.actor_id, e.case_id, e.payload) for e in events] == [
            ("staff", str(staff.id), None, {"email": True}),
            ("staff", str(staff.id), None, {"email": True})]
        everything = repr([(e.action, e.payload) for e in db.session.scalars(
            select(AuditEvent))]).lower()
        assert "camille" not in everything and "cust-1042" not in everything


def test_an_empty_search_asks_for_an_identifier_and_searches_nothing(app):
    recorded(app, CAMILLE)
    _, client = staff_client(app)
    resp = search(client, email=" ", customer_number="CUST-1042")
    assert resp.status_code == 400
    assert "Give the e-mail address of the deceased." in resp.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "directives.searched")).all() == []


def test_an_administrator_may_neither_list_nor_search(app):
    recorded(app, CAMILLE)
    admin, client = staff_client(app, "admin")
    assert 'href="/staff/directives"' not in client.get("/staff/account").get_data(as_text=True)
    assert client.get("/staff/directives").status_code == 403
    token = csrf_from(client.get("/staff/account").get_data(as_text=True))
    resp = client.post("/staff/directives/search",
                       data={"csrf_token": token, "email": CAMILLE["email"]})
    assert resp.status_code == 403
    with app.app_context():
        actions = [e.action for e in db.session.scalars(select(AuditEvent).where(
            AuditEvent.actor_id == str(admin.id)))]
        assert "directives.searched" not in actions
        assert actions.count("access.denied") == 2


def versions_on(page: str) -> list[tuple[str, str, str]]:
    """(number, status, text) of each version shown on a case page."""
    section = re.search(r'<h2 id="directive-versions">.*', page, re.S)
    assert section, "no directive section"
    return [(n, status, text_of(body)) for n, status, body in re.findall(
        r'<section class="directive-version" data-version="(\d+)" data-status="(\w+)">(.*?)'
        r"</section>", section.group(0), re.S)]


@pytest.mark.usefixtures("register")
def test_the_case_page_shows_every_version_after_a_change_and_a_revocation(app):
    case = recorded(app, CAMILLE)
    with app.app_context():
        directives.change(db.session.get(Case, case.id), Directives(
            categories={"contact": "keep", "purchases": "erase"},
            instructions="Garder mes coordonnées pour ma fille.",
            designated_name="Paul Martin", designated_email="paul.martin@example.fr"))
    _, client = staff_client(app, "dpo")

    [first, second] = versions_on(client.get(f"/staff/cases/{case.reference}")
                                  .get_data(as_text=True))
    assert first[:2] == ("1", "superseded") and second[:2] == ("2", "in_force")
    assert "Version 1" in first[2] and first[2].endswith(
        "Contact details Erase it Purchases Hand a copy to the person I designate "
        "Instructions Fermer mon compte. "
        "Designated person Lucie Martin <lucie.martin@example.fr> "
        "Heirs may act where the directives say nothing")
    assert " · superseded " in first[2]
    assert " · in force " in second[2]
    assert "Contact details Keep it as it is Purchases Erase it" in second[2]
    assert "Paul Martin <paul.martin@example.fr>" in second[2]

    with app.app_context():
        directives.revoke(db.session.get(Case, case.id))
    shown = versions_on(client.get(f"/staff/cases/{case.reference}").get_data(as_text=True))
    assert [(n, status) for n, status, _ in shown] == [
        ("1", "superseded"), ("2", "superseded"), ("3", "revoked")]
    assert " · revocation " in shown[2][2] and "revoked their directives" in shown[2][2]


@pytest.mark.usefixtures("register")
def test_categories_are_shown_in_the_staff_members_language(app):
    case = recorded(app, CAMILLE)
    _, client = staff_client(app, "agent", language="fr")
    [(_, _, text)] = versions_on(client.get(f"/staff/cases/{case.reference}")
                                 .get_data(as_text=True))
    assert "Coordonnées" in text and "Achats" in text and "Contact details" not in text


def test_other_kinds_have_no_directive_section(app):
    case = make_case(app, kind=CaseKind.ACCESS)
    _, client = staff_client(app)
    page = client.get(f"/staff/cases/{case.reference}").get_data(as_text=True)
    assert 'id="directive-versions"' not in page


def test_recorded_directives_are_no_work_to_do_on_the_dashboard(app):
    """A standing record has no deadline: long after its notional due date it is neither on
    the dashboard's list of work nor counted overdue (it has its own list); filtered by its
    status, it is shown without the overdue mark."""
    case = recorded(app, CAMILLE, received_on=date(2025, 1, 6))
    _, client = staff_client(app)
    page = client.get("/staff/").get_data(as_text=True)
    assert case.reference not in page
    assert re.search(r'id="count-overdue">0<', page)
    page = client.get("/staff/?status=recorded").get_data(as_text=True)
    row = page.split(f'data-reference="{case.reference}"')[0].rsplit("<tr", 1)[1]
    assert 'class="standing"' in row and "overdue" not in row
