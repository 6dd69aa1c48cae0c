"""The requester's e-mailed links end with the case, and the DPO can revoke them (issue 10,
point 10 a and b).

A link (confirmation or status) opens its case while the case is open, then for the download
period (``EXPORT_DAYS``) after it closes; then it says it has expired, and a browser that was let
in earlier is let in no more. Revoking gives the case a new salt: every link sent so far, and
every browser holding the case, loses it; a new link goes out by e-mail.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from dsar.core import tokens
from dsar.extensions import db
from dsar.models import AuditEvent, Case, CaseStatus, OutboundEmail
from dsar.models.types import utcnow
from tests.support.forms import csrf_from, path_of
from tests.support.portal import file_and_confirm
from tests.support.staff import login, make_staff


def english(app):
    client = app.test_client()
    client.get("/language/en")
    return client


def withdraw(client, reference: str) -> None:
    token = csrf_from(client.get(f"/status/{reference}").get_data(as_text=True))
    resp = client.post(f"/status/{reference}/withdraw",
                       data={"csrf_token": token, "confirm_withdraw": "yes"})
    assert resp.status_code == 302


def closed_days_ago(app, case_id: int, days: int) -> None:
    """Move the closing of the case ``days`` days back (the case closed long ago)."""
    with app.app_context():
        case = db.session.get(Case, case_id)
        assert not case.status.is_open
        case.closed_at = utcnow() - timedelta(days=days)
        db.session.commit()


def links_of(app, case_id: int) -> tuple[str, str]:
    with app.app_context():
        case = db.session.get(Case, case_id)
        ref, salt = case.reference, case.token_salt
        return (f"/confirm/{ref}/{tokens.case_token(ref, salt, 'confirm')}",
                f"/status/{ref}/{tokens.case_token(ref, salt, 'status')}")


def test_links_work_for_the_download_period_after_closing_then_expire(app, client, run_jobs,
                                                                      smtp_server):
    case, status_path, _ = file_and_confirm(app, client, run_jobs, smtp_server)
    withdraw(client, case.reference)
    confirm_path, _ = links_of(app, case.id)
    assert app.config["EXPORT_DAYS"] == 30

    closed_days_ago(app, case.id, 30)  # the last day of the period: the links still work
    for path in (status_path, confirm_path):
        fresh = english(app)
        resp = fresh.get(path)
        assert resp.status_code == 302, path
        assert fresh.get(resp.location).status_code == 200

    csrf = csrf_from(client.get("/request/access").get_data(as_text=True))
    closed_days_ago(app, case.id, 31)
    for path in (status_path, confirm_path):
        resp = english(app).get(path)
        assert resp.status_code == 410, path
        html = resp.get_data(as_text=True)
        assert "This link has expired" in html
        assert case.requester_email not in html and "Camille" not in html
    # The browser that followed the link while it was valid is let in no more: not the status
    # page, not the download page, not the withdrawal.
    for path in ("", "/download", "", "/download/code", "/withdraw"):
        method = client.post if path in ("/download/code", "/withdraw") else client.get
        resp = method(f"/status/{case.reference}{path}", data={"csrf_token": csrf})
        assert resp.status_code == 410, path


def test_an_expired_case_is_not_revealed_to_a_wrong_token(app, client, run_jobs, smtp_server):
    case, status_path, _ = file_and_confirm(app, client, run_jobs, smtp_server)
    withdraw(client, case.reference)
    closed_days_ago(app, case.id, 400)
    token = status_path.rsplit("/", 1)[1]
    # Another last character (a token ending in "x" must not make the wrong token right).
    wrong_token = token[:-1] + ("y" if token.endswith("x") else "x")
    wrong = english(app).get(f"/status/{case.reference}/{wrong_token}")
    unknown = english(app).get(f"/status/DSR-ZZZZ-ZZZZ/{token}")
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.get_data() == unknown.get_data()


def test_links_of_an_open_case_do_not_expire(app, client, run_jobs, smtp_server):
    case, status_path, _ = file_and_confirm(app, client, run_jobs, smtp_server)
    with app.app_context():  # received long ago, still open (waiting for the requester, say)
        stored = db.session.get(Case, case.id)
        stored.received_at -= timedelta(days=400)
        stored.received_on -= timedelta(days=400)
        db.session.commit()
    assert english(app).get(status_path).status_code == 302


def dpo_revokes(app, reference: str):
    dpo = make_staff(app, "dpo")
    staff = english(app)
    login(staff, dpo)
    page = staff.get(f"/staff/cases/{reference}").get_data(as_text=True)
    assert 'id="revoke_links"' in page
    resp = staff.post(f"/staff/cases/{reference}/revoke_links",
                      data={"csrf_token": csrf_from(page)})
    return dpo, resp


def test_the_dpo_revokes_the_links_and_a_new_one_is_emailed(app, client, run_jobs,
                                                           smtp_server):
    case, status_path, _ = file_and_confirm(app, client, run_jobs, smtp_server)
    confirm_path, _ = links_of(app, case.id)
    assert client.get(f"/status/{case.reference}").status_code == 200  # this browser holds it

    dpo, resp = dpo_revokes(app, case.reference)
    assert resp.status_code == 302

    # Every old link is dead, and answers like an unknown one.
    for path in (status_path, confirm_path):
        assert english(app).get(path).status_code == 404, path
    # The browser that held the case has lost it, for every page of the case.
    assert client.get(f"/status/{case.reference}").status_code == 404
    assert client.get(f"/status/{case.reference}/download").status_code == 404

    # A new link goes out by e-mail, in the requester's language, and it works.
    smtp_server.clear()
    assert run_jobs() == 0
    message = smtp_server.last_to(case.requester_email)
    assert case.reference in message["Subject"]
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert message["Content-Language"] == "fr"
    new_link = next(u for u in smtp_server.links(message) if "/status/" in u)
    assert path_of(new_link) != status_path
    requester = english(app)
    resp = requester.get(path_of(new_link))
    assert resp.status_code == 302
    page = requester.get(resp.location)
    assert page.status_code == 200 and 'data-status="confirmed"' in page.get_data(as_text=True)
    assert "Bonjour" in body

    # Audited with ids only.
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "case.links_revoked")).one()
        assert (event.case_id, event.actor_id) == (case.id, str(dpo.id))
        email = db.session.scalars(select(OutboundEmail).where(
            OutboundEmail.case_id == case.id).order_by(OutboundEmail.id.desc())).first()
        assert event.payload == {"email_id": email.id}
        assert case.requester_email not in str(event.payload)


def test_the_renewal_email_explains_in_english(app, run_jobs, smtp_server):
    requester = english(app)
    case, _, _ = file_and_confirm(app, requester, run_jobs, smtp_server)
    dpo_revokes(app, case.reference)
    smtp_server.clear()
    assert run_jobs() == 0
    message = smtp_server.last_to(case.requester_email)
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert message["Content-Language"] == "en"
    assert "no longer work" in body
    assert any("/status/" in u for u in smtp_server.links(message))


def test_an_agent_cannot_revoke_the_links(app, client, run_jobs, smtp_server):
    case, status_path, _ = file_and_confirm(app, client, run_jobs, smtp_server)
    agent = make_staff(app, "agent")
    staff = english(app)
    login(staff, agent)
    page = staff.get(f"/staff/cases/{case.reference}").get_data(as_text=True)
    assert 'id="revoke_links"' not in page
    resp = staff.post(f"/staff/cases/{case.reference}/revoke_links",
                      data={"csrf_token": csrf_from(page)})
    assert resp.status_code == 403
    assert english(app).get(status_path).status_code == 302  # the link still works
    with app.app_context():
        denied = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "access.denied")).one()
        assert (denied.case_id, denied.actor_id) == (case.id, str(agent.id))
        assert not db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "case.links_revoked")).all()


def test_revoking_needs_csrf_and_a_post(app, client, run_jobs, smtp_server):
    case, status_path, _ = file_and_confirm(app, client, run_jobs, smtp_server)
    dpo = make_staff(app, "dpo")
    staff = english(app)
    login(staff, dpo)
    assert staff.post(f"/staff/cases/{case.reference}/revoke_links").status_code == 400
    assert staff.get(f"/staff/cases/{case.reference}/revoke_links").status_code == 405
    assert english(app).get(status_path).status_code == 302


def test_links_of_a_case_past_its_period_cannot_be_renewed(app, client, run_jobs, smtp_server):
    case, _, _ = file_and_confirm(app, client, run_jobs, smtp_server)
    withdraw(client, case.reference)
    closed_days_ago(app, case.id, 31)
    with app.app_context():
        salt = db.session.get(Case, case.id).token_salt
    _, resp = dpo_revokes_anyway(app, case.reference)
    assert resp.status_code == 400
    with app.app_context():
        assert db.session.get(Case, case.id).token_salt == salt
        assert db.session.get(Case, case.id).status is CaseStatus.WITHDRAWN


def dpo_revokes_anyway(app, reference: str):
    """POST the revocation even though the page does not offer it."""
    dpo = make_staff(app, "dpo")
    staff = english(app)
    login(staff, dpo)
    page = staff.get(f"/staff/cases/{reference}").get_data(as_text=True)
    assert 'id="revoke_links"' not in page
    return dpo, staff.post(f"/staff/cases/{reference}/revoke_links",
                           data={"csrf_token": csrf_from(page)})
