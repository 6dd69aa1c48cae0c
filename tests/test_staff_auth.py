"""Staff sign-in: password, TOTP enrolment and codes, lock-out, logout, idle timeout."""

from __future__ import annotations

import re
import time

import pyotp
from sqlalchemy import select

from dsar.extensions import db
from dsar.models import AuditEvent, StaffRole, StaffUser
from tests.support.forms import csrf_from
from tests.support.staff import PASSWORD, login, make_staff, post_login


def actions(app) -> list[str]:
    with app.app_context():
        return [e.action for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def test_dashboard_needs_login(client):
    resp = client.get("/staff/")
    assert resp.status_code == 302 and "/staff/login" in resp.location


def test_agent_without_totp_signs_in_with_password(app, client):
    agent = make_staff(app, "agent")
    login(client, agent)
    assert client.get("/staff/").status_code == 200
    assert "staff.login" in actions(app)


def test_dpo_must_enrol_totp_by_qr_code_then_sign_in_with_codes(app, client):
    dpo = make_staff(app, "dpo", enrolled=False)
    resp = post_login(client, dpo.email, PASSWORD)
    assert resp.status_code == 302 and resp.location.endswith("/staff/enrol")
    # Not signed in yet: the second factor is mandatory for a DPO.
    assert client.get("/staff/").status_code == 302
    page = client.get("/staff/enrol").get_data(as_text=True)
    assert 'src="data:image/svg+xml' in page  # the QR code, inline
    secret = re.search(r'id="totp-secret" data-secret="([A-Z2-7]+)"', page).group(1)
    # Typed by hand, the key reads in groups of four.
    shown = re.search(r'id="totp-secret"[^>]*>([^<]+)<', page).group(1)
    assert shown == " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
    # A staff page has the back office's footer, not the requester's CNIL notice.
    assert 'id="staff-footer"' in page and "CNIL" not in page
    assert "CNIL" in client.get("/").get_data(as_text=True)
    wrong = client.post("/staff/enrol", data={"csrf_token": csrf_from(page), "code": "000000"})
    assert wrong.status_code == 400
    resp = client.post("/staff/enrol", data={"csrf_token": csrf_from(page),
                                             "code": pyotp.TOTP(secret).now()})
    assert resp.status_code == 302 and resp.location.endswith("/staff/")
    assert client.get("/staff/").status_code == 200
    assert "staff.totp_enrolled" in actions(app)
    # Next time: password, then a code from the same secret.
    client.post("/staff/logout", data={"csrf_token": csrf_from(
        client.get("/staff/").get_data(True))})
    resp = post_login(client, dpo.email, PASSWORD)
    assert resp.location.endswith("/staff/login/code")
    page = client.get("/staff/login/code").get_data(as_text=True)
    next_code = pyotp.TOTP(secret).at(time.time() + 30)  # the previous code is spent
    resp = client.post("/staff/login/code", data={"csrf_token": csrf_from(page),
                                                  "code": next_code})
    assert resp.status_code == 302 and resp.location.endswith("/staff/")


def test_totp_code_cannot_be_replayed(app, client):
    dpo = make_staff(app, "dpo")
    code = dpo.code()
    for attempt in range(2):
        client.get("/staff/")
        post_login(client, dpo.email, PASSWORD)
        page = client.get("/staff/login/code").get_data(as_text=True)
        resp = client.post("/staff/login/code", data={"csrf_token": csrf_from(page),
                                                      "code": code})
        if attempt == 0:
            assert resp.status_code == 302
            client.post("/staff/logout", data={"csrf_token": csrf_from(
                client.get("/staff/").get_data(True))})
        else:
            assert resp.status_code == 400


def test_wrong_totp_code_is_refused(app, client):
    dpo = make_staff(app, "dpo")
    post_login(client, dpo.email, PASSWORD)
    page = client.get("/staff/login/code").get_data(as_text=True)
    resp = client.post("/staff/login/code", data={"csrf_token": csrf_from(page),
                                                  "code": "123456" if dpo.code() != "123456"
                                                  else "654321"})
    assert resp.status_code == 400
    assert client.get("/staff/").status_code == 302


def test_lock_out_after_five_failures_even_with_the_right_password(app, client):
    agent = make_staff(app, "agent")
    client.get("/language/en")
    for _ in range(5):
        assert post_login(client, agent.email, "wrong password").status_code == 400
    resp = post_login(client, agent.email, PASSWORD)
    assert resp.status_code == 400
    assert "locked" in resp.get_data(as_text=True)
    assert client.get("/staff/").status_code == 302
    assert "staff.locked" in actions(app)
    # An administrator unlocks the account.
    admin = make_staff(app, "admin")
    admin_client = app.test_client()
    login(admin_client, admin)
    page = admin_client.get("/staff/users").get_data(as_text=True)
    admin_client.post(f"/staff/users/{agent.id}/unlock", data={"csrf_token": csrf_from(page)})
    assert post_login(client, agent.email, PASSWORD).status_code == 302


def test_unknown_address_and_wrong_password_answer_alike(app, client):
    agent = make_staff(app, "agent")
    a = post_login(client, "nobody@staff.example", PASSWORD)
    b = post_login(client, agent.email, "wrong password")
    assert a.status_code == b.status_code == 400
    assert re.search(r'id="login-error">([^<]+)<', a.get_data(True)).group(1) == \
        re.search(r'id="login-error">([^<]+)<', b.get_data(True)).group(1)


def test_logout_ends_the_session(app, client):
    agent = make_staff(app, "agent")
    login(client, agent)
    page = client.get("/staff/").get_data(as_text=True)
    assert client.post("/staff/logout", data={"csrf_token": csrf_from(page)}).status_code == 302
    assert client.get("/staff/").status_code == 302
    assert "staff.logout" in actions(app)


def test_logout_needs_post_with_csrf(app, client):
    agent = make_staff(app, "agent")
    login(client, agent)
    assert client.get("/staff/logout").status_code == 405
    assert client.post("/staff/logout").status_code == 400
    assert client.get("/staff/").status_code == 200


def test_idle_session_times_out(app, client):
    agent = make_staff(app, "agent")
    login(client, agent)
    with client.session_transaction() as session:
        session["staff_seen"] = time.time() - 31 * 60
    resp = client.get("/staff/")
    assert resp.status_code == 302 and "/staff/login" in resp.location
    assert client.get("/staff/").status_code == 302
    assert "staff.session_expired" in actions(app)


def test_deactivated_account_cannot_sign_in(app, client):
    agent = make_staff(app, "agent")
    with app.app_context():
        db.session.get(StaffUser, agent.id).is_active_account = False
        db.session.commit()
    assert post_login(client, agent.email, PASSWORD).status_code == 400


def test_user_create_cli(app, runner):
    from dsar.cli import main

    result = runner.invoke(main, ["user", "create", "New.Agent@Staff.example", "--role", "agent"])
    assert result.exit_code == 0, result.output
    assert "Password (shown once)" in result.output
    with app.app_context():
        user = db.session.scalar(select(StaffUser).where(
            StaffUser.email == "new.agent@staff.example"))
        assert user.role is StaffRole.AGENT
        assert user.password_hash.startswith("scrypt:")
    again = runner.invoke(main, ["user", "create", "new.agent@staff.example", "--role", "dpo"])
    assert again.exit_code != 0


def test_dashboard_ignores_malformed_filters(app, client):
    agent = make_staff(app, "agent")
    login(client, agent)
    for query in ("kind=telepathy", "status=teleported", "assignee=../../x", "after=notadate_1",
                  "after=2025-13-45_x", "q=" + "x" * 5000, "after=2025-01-01_9999999999999"):
        resp = client.get(f"/staff/?{query}")
        assert resp.status_code == 200, query
        assert "Traceback" not in resp.get_data(as_text=True)


def test_admin_creating_an_account_with_bad_input_creates_nothing(app, client):
    admin = make_staff(app, "admin")
    login(client, admin)
    token = csrf_from(client.get("/staff/users").get_data(as_text=True))
    for data in ({"email": "not-an-address", "role": "agent"},
                 {"email": "ok@staff.example", "role": "emperor"},
                 {"email": admin.email, "role": "agent"}):
        resp = client.post("/staff/users", data={"csrf_token": token, **data},
                           follow_redirects=True, headers={"Accept-Language": "en"})
        assert resp.status_code == 200
        assert 'id="new-password"' not in resp.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(db.func.count(StaffUser.id))) == 1
