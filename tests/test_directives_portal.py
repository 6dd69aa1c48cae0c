"""Post-mortem directives on the portal (Loi Informatique et Libertés art. 85 I, docs/legal-rules.md
§5): filed with a choice per category of the register and a consent of their own, then read,
changed and revoked from the status page, every version kept with its date; a standing
record, never on the clock."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import func, select

from dsar import create_app
from dsar.cases.reminders import overdue_cases
from dsar.extensions import db
from dsar.models import AuditEvent, Case, CaseKind, CaseStatus, DirectiveStatus, DirectiveVersion
from dsar.postmortem import directives
from tests.support.app import app_config, reset_state
from tests.support.forms import access_form, csrf_from, path_of, post_form

#: The organisation's records of processing: three categories of data, one without an English
#: label (the French one is shown then).
REGISTER = """
[controller]
name = "Test SAS"

[categories.identification]
label = "Données d'identification"
label_en = "Identification data"

[categories.contact]
label = "Coordonnées"
label_en = "Contact details"

[categories.billing]
label = "Données de facturation"
"""

EMAIL = "camille.martin@example.fr"
CHOICES = {"category_identification": "hand_over", "category_contact": "erase",
           "category_billing": "keep"}
DESIGNATED = {"trusted_person_name": "Lucie Martin",
              "trusted_person_email": "lucie.martin@example.fr"}
INSTRUCTIONS = "Les photos de mon compte pour ma fille."


@pytest.fixture
def app(schema, database_url, redis_url, key_file, smtp_server, tmp_path):
    """The test app with a register naming categories of data (read at start-up)."""
    (tmp_path / "register.toml").write_text(REGISTER)
    app = create_app(app_config(database_url, redis_url, key_file, tmp_path / "storage",
                                smtp_server.port))
    yield app
    reset_state(app, redis_url, smtp_server)


def directive_form(**overrides) -> dict:
    """A valid directive filing: a choice per category, instructions, the designated person,
    the consent; ``None`` leaves a field out."""
    return access_form(**{**CHOICES, **DESIGNATED, "directive_instructions": INSTRUCTIONS,
                          "consent": "y", "message": None, **overrides})


def file_and_confirm(app, client, run_jobs, smtp_server, email=EMAIL) -> Case:
    """File directives and confirm the address from the e-mailed link, then follow the
    acknowledgement's status link (the session is let in); returns the case, detached."""
    resp = post_form(client, "/request/postmortem_directive", directive_form(email=email))
    assert resp.status_code == 302, resp.get_data(as_text=True)
    assert run_jobs() == 0
    confirm = next(u for u in smtp_server.links(smtp_server.last_to(email)) if "/confirm/" in u)
    page = client.get(path_of(confirm))
    client.post(path_of(confirm), data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    assert run_jobs() == 0
    status_link = next(u for u in smtp_server.links(smtp_server.last_to(email))
                       if "/status/" in u)
    assert client.get(path_of(status_link)).status_code == 302
    return stored_case(app, email)


def stored_case(app, email=EMAIL) -> Case:
    with app.app_context():
        case = db.session.scalars(select(Case).where(Case.email_normalized == email)).one()
        db.session.expunge(case)
    return case


def version_rows(app, case) -> list[tuple[int, DirectiveStatus, dict | None]]:
    """(number, status, content) of every version, read through the service."""
    with app.app_context():
        stored = db.session.get(Case, case.id)
        return [(row.version, row.status, content.to_json() if content else None)
                for row, content in directives.versions(stored)]


def radios(html: str, name: str) -> dict[str, bool]:
    """The radio buttons named ``name`` on the page: value -> checked."""
    tags = re.findall(rf'<input[^>]*\bname="{name}"[^>]*type="radio"[^>]*>', html)
    return {re.search(r'value="([^"]*)"', tag).group(1): " checked" in tag for tag in tags}


def status_page(client, case) -> str:
    resp = client.get(f"/status/{case.reference}")
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def change_form(**overrides) -> dict:
    data = {"category_identification": "erase", "category_contact": "erase",
            "category_billing": "hand_over", "directive_instructions": "Tout effacer.",
            "trusted_person_name": "Paul Martin", "trusted_person_email": "paul@example.fr",
            "consent": "y"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def post_change(client, case, data: dict):
    token = csrf_from(status_page(client, case))
    return client.post(f"/status/{case.reference}/directives",
                       data={"csrf_token": token, **data})


def nothing_filed(app) -> bool:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Case)) == 0


def test_the_form_asks_about_each_category_of_the_register(client):
    client.get("/language/en")
    html = client.get("/request/postmortem_directive").get_data(as_text=True)
    for name in ("identification", "contact", "billing"):
        assert radios(html, f"category_{name}") == {"erase": False, "hand_over": False,
                                                     "keep": False}
    assert "Identification data" in html and "Données de facturation" in html
    assert "Hand a copy to the person I designate" in html
    assert 'id="consent"' in html and "separate from the terms of use" in html
    assert 'name="directive_choice"' not in html


def test_filed_directives_become_version_1_once_the_address_is_confirmed(app, client,
                                                                         run_jobs,
                                                                         smtp_server):
    case = file_and_confirm(app, client, run_jobs, smtp_server)
    assert case.status is CaseStatus.RECORDED
    [(number, status, content)] = version_rows(app, case)
    assert (number, status) == (1, DirectiveStatus.IN_FORCE)
    assert content == {"categories": {"identification": "hand_over", "contact": "erase",
                                      "billing": "keep"},
                       "instructions": INSTRUCTIONS,
                       "designated": {"name": "Lucie Martin",
                                      "email": "lucie.martin@example.fr"},
                       "heirs_excluded": False, "consent": True}
    # The directives live sealed in their version, the consent with them; the case keeps
    # nothing of them.
    assert case.details == {}

    client.get("/language/en")
    html = status_page(client, case)
    assert 'data-status="recorded"' in html
    assert 'id="due-on"' not in html  # a standing record: no answer is due
    in_force = html.split('id="directives-in-force"', 1)[1].split("</dl>", 1)[0]
    assert 'data-category="identification" data-choice="hand_over"' in in_force
    assert "Hand a copy to the person I designate" in in_force
    assert "Contact details" in in_force and "Erase it" in in_force
    assert INSTRUCTIONS in in_force and "lucie.martin@example.fr" in in_force
    assert '<li data-version="1" data-status="in_force">' in html and "In force" in html
    # The change form starts from the version in force; the consent is given again.
    assert radios(html, "category_identification") == {"erase": False, "hand_over": True,
                                                        "keep": False}
    assert radios(html, "category_billing")["keep"]
    assert 'value="Lucie Martin"' in html
    assert "withdraw-button" not in html  # revoking, not withdrawing, ends them


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"trusted_person_name": None, "trusted_person_email": None}, "trusted_person_name"),
        ({"trusted_person_email": None}, "trusted_person_email"),
        ({"trusted_person_email": "pas-une-adresse"}, "trusted_person_email"),
        ({"consent": None}, "consent"),
        ({"category_billing": None}, "category_billing"),
        ({"category_billing": "give_away"}, "category_billing"),
        # A consent of one's own: nobody records directives for someone else.
        ({"representative_name": "Me Durand"}, "representative_name"),
    ],
)
def test_incomplete_directives_are_refused_and_nothing_is_filed(app, client, overrides, field):
    client.get("/language/en")
    resp = post_form(client, "/request/postmortem_directive", directive_form(**overrides))
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert f'id="{field}-error"' in html
    assert INSTRUCTIONS in html  # what the person wrote is kept
    assert nothing_filed(app)


def test_no_designated_person_is_needed_when_nothing_is_handed_over(app, client):
    resp = post_form(client, "/request/postmortem_directive", directive_form(
        category_identification="erase", trusted_person_name=None, trusted_person_email=None))
    assert resp.status_code == 302
    assert not nothing_filed(app)


def test_a_change_is_a_new_version_and_the_old_one_is_superseded(app, client, run_jobs,
                                                                 smtp_server):
    case = file_and_confirm(app, client, run_jobs, smtp_server)
    resp = post_change(client, case, change_form())
    assert resp.status_code == 302 and resp.location.endswith("#directives")
    rows = version_rows(app, case)
    assert [(n, s) for n, s, _ in rows] == [(1, DirectiveStatus.SUPERSEDED),
                                            (2, DirectiveStatus.IN_FORCE)]
    assert rows[0][2]["categories"]["contact"] == "erase"  # the old version still says it
    assert rows[1][2] == {"categories": {"identification": "erase", "contact": "erase",
                                         "billing": "hand_over"},
                          "instructions": "Tout effacer.",
                          "designated": {"name": "Paul Martin", "email": "paul@example.fr"},
                          "heirs_excluded": False, "consent": True}
    with app.app_context():
        assert directives.current(db.session.get(Case, case.id)).designated_name == "Paul Martin"
        events = db.session.scalars(select(AuditEvent.action).where(
            AuditEvent.case_id == case.id, AuditEvent.action == "directive.recorded")).all()
        assert len(events) == 2
    client.get("/language/en")
    html = status_page(client, case)
    assert '<li data-version="1" data-status="superseded">' in html and "Superseded" in html
    assert '<li data-version="2" data-status="in_force">' in html
    assert "Paul Martin" in html.split('id="directives-in-force"', 1)[1].split("</dl>", 1)[0]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"trusted_person_name": None, "trusted_person_email": None}, "trusted_person_name"),
        ({"consent": None}, "consent"),
        ({"category_contact": None}, "category_contact"),
    ],
)
def test_a_bad_change_shows_the_form_again_and_changes_nothing(app, client, run_jobs,
                                                               smtp_server, overrides, field):
    case = file_and_confirm(app, client, run_jobs, smtp_server)
    client.get("/language/en")
    resp = post_change(client, case, change_form(**overrides))
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert 'id="directive-errors"' in html and f'id="{field}-error"' in html
    assert "Tout effacer." in html  # what the person typed is kept
    assert [(n, s) for n, s, _ in version_rows(app, case)] == [(1, DirectiveStatus.IN_FORCE)]


def test_revoking_keeps_every_version_and_leaves_none_in_force(app, client, run_jobs,
                                                               smtp_server):
    case = file_and_confirm(app, client, run_jobs, smtp_server)
    assert post_change(client, case, change_form()).status_code == 302
    token = csrf_from(status_page(client, case))
    # Without ticking the box nothing happens.
    resp = client.post(f"/status/{case.reference}/directives/revoke",
                       data={"csrf_token": token})
    assert resp.status_code == 302 and "revoke=confirm" in resp.location
    assert stored_case(app).status is CaseStatus.RECORDED
    resp = client.post(f"/status/{case.reference}/directives/revoke",
                       data={"csrf_token": token, "confirm_revoke": "yes"})
    assert resp.status_code == 302
    assert stored_case(app).status is CaseStatus.WITHDRAWN
    rows = version_rows(app, case)
    assert [(n, s) for n, s, _ in rows] == [(1, DirectiveStatus.SUPERSEDED),
                                            (2, DirectiveStatus.SUPERSEDED),
                                            (3, DirectiveStatus.REVOKED)]
    assert rows[2][2] is None
    with app.app_context():
        assert directives.current(db.session.get(Case, case.id)) is None
    client.get("/language/en")
    html = status_page(client, case)
    assert 'id="directives-revoked"' in html and 'id="directives-in-force"' not in html
    assert '<li data-version="3" data-status="revoked">' in html and "Revocation" in html
    assert 'id="directive-change"' not in html and "revoke-directives-button" not in html
    # Nothing more can be changed.
    resp = client.post(f"/status/{case.reference}/directives",
                       data={"csrf_token": token, **change_form()})
    assert resp.status_code == 302
    assert len(version_rows(app, case)) == 3


def test_withdrawing_standing_directives_revokes_them(app, client, run_jobs, smtp_server):
    """The generic withdrawal (no button for directives, but the route exists) must not leave
    a version in force on a closed case."""
    case = file_and_confirm(app, client, run_jobs, smtp_server)
    token = csrf_from(status_page(client, case))
    client.post(f"/status/{case.reference}/withdraw",
                data={"csrf_token": token, "confirm_withdraw": "yes"})
    assert stored_case(app).status is CaseStatus.WITHDRAWN
    assert [s for _, s, _ in version_rows(app, case)] == [DirectiveStatus.SUPERSEDED,
                                                          DirectiveStatus.REVOKED]


def test_another_browser_can_neither_change_nor_revoke(app, client, run_jobs, smtp_server):
    case = file_and_confirm(app, client, run_jobs, smtp_server)
    other = app.test_client()
    token = csrf_from(other.get("/request/access").get_data(as_text=True))
    assert other.get(f"/status/{case.reference}").status_code == 404
    resp = other.post(f"/status/{case.reference}/directives",
                      data={"csrf_token": token, **change_form()})
    assert resp.status_code == 404
    resp = other.post(f"/status/{case.reference}/directives/revoke",
                      data={"csrf_token": token, "confirm_revoke": "yes"})
    assert resp.status_code == 404
    # The owner's own session needs the CSRF token.
    resp = client.post(f"/status/{case.reference}/directives/revoke",
                       data={"confirm_revoke": "yes"})
    assert resp.status_code == 400
    assert stored_case(app).status is CaseStatus.RECORDED
    assert [(n, s) for n, s, _ in version_rows(app, case)] == [(1, DirectiveStatus.IN_FORCE)]


def test_other_kinds_have_no_directive_actions(app, client, run_jobs, smtp_server):
    from tests.support.portal import file_and_confirm as file_access

    case, _, _ = file_access(app, client, run_jobs, smtp_server, email="autre@example.fr")
    html = status_page(client, case)
    assert 'id="directives"' not in html
    token = csrf_from(html)
    resp = client.post(f"/status/{case.reference}/directives/revoke",
                       data={"csrf_token": token, "confirm_revoke": "yes"})
    assert resp.status_code == 404
    assert stored_case(app, "autre@example.fr").status is CaseStatus.CONFIRMED


def test_directives_are_never_overdue(app, client, run_jobs, smtp_server):
    """Off the clock: long after the month a request would have, the record is on no list,
    while a request filed the same day is overdue."""
    from tests.support.portal import file_and_confirm as file_access

    case = file_and_confirm(app, client, run_jobs, smtp_server)
    access, _, _ = file_access(app, app.test_client(), run_jobs, smtp_server,
                               email="autre@example.fr")
    with app.app_context():
        for reference in (case.reference, access.reference):
            stored = db.session.scalar(select(Case).where(Case.reference == reference))
            stored.due_on = date(2020, 1, 6)  # years ago
        db.session.commit()
        overdue = [c.reference for c in overdue_cases()]
    assert access.reference in overdue
    assert case.reference not in overdue
    assert stored_case(app).status is CaseStatus.RECORDED


def test_versions_are_not_listed_in_plain_text(app, client, run_jobs, smtp_server):
    """Each version is sealed: the designated person's address is in no column."""
    case = file_and_confirm(app, client, run_jobs, smtp_server)
    with app.app_context():
        sealed = db.session.scalars(select(DirectiveVersion.content_sealed).where(
            DirectiveVersion.case_id == case.id)).one()
    assert b"lucie.martin" not in sealed
    assert case.kind is CaseKind.POSTMORTEM_DIRECTIVE
