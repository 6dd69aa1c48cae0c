"""Staff sign-in hardening (issue 10, points 1-3): the second factor cannot be skipped or
re-keyed behind the owner's back, failures are counted atomically under concurrent requests, a
TOTP code signs in once even when sent twice at the same moment, and a session ends for good
(sign-out, sign-out everywhere, password, factor and role changes, deactivation)."""

from __future__ import annotations

import re
import threading
import time

import pyotp
from sqlalchemy import select

from dsar.core import totp
from dsar.extensions import db
from dsar.models import AuditEvent, StaffUser
from tests.support.audit import audit_events
from tests.support.forms import csrf_from
from tests.support.staff import PASSWORD, Staff, login, make_staff, post_login, signed_in

WRONG_PASSWORD = "not the password at all"


def login_error(resp) -> str:
    match = re.search(r'id="login-error">([^<]+)<', resp.get_data(as_text=True))
    assert match, resp.get_data(as_text=True)[:2000]
    return match.group(1)


def sealed_secret(app, staff: Staff) -> str | None:
    with app.app_context():
        return db.session.get(StaffUser, staff.id).totp_secret_encrypted


def token_of(client, path: str = "/staff/account") -> str:
    return csrf_from(client.get(path).get_data(as_text=True))


def code_step_signs_in(app, staff: Staff, code: str) -> bool:
    """A fresh browser: password, then ``code`` at the second step."""
    browser = app.test_client()
    resp = post_login(browser, staff.email, PASSWORD)
    assert resp.status_code == 302 and resp.location.endswith("/staff/login/code")
    page = browser.get("/staff/login/code").get_data(as_text=True)
    resp = browser.post("/staff/login/code", data={"csrf_token": csrf_from(page), "code": code})
    return resp.status_code == 302 and resp.location.endswith("/staff/")


def copy_session(app, client):
    """Another browser holding a copy of ``client``'s session cookie."""
    name = app.config["SESSION_COOKIE_NAME"]
    other = app.test_client()
    other.set_cookie(name, client.get_cookie(name).value)
    return other


# ------------------------------------------------------------------ 1. the second factor


def test_enrolled_dpo_past_the_password_cannot_enrol_a_new_factor(app, client):
    dpo = make_staff(app, "dpo")
    before = sealed_secret(app, dpo)
    assert post_login(client, dpo.email, PASSWORD).location.endswith("/staff/login/code")
    resp = client.get("/staff/enrol")
    assert resp.status_code == 302 and resp.location.endswith("/staff/login/code")
    assert 'id="totp-secret"' not in client.get("/staff/enrol",
                                                follow_redirects=True).get_data(as_text=True)
    # A POST with a code from a secret of the attacker's choosing changes nothing either.
    token = csrf_from(client.get("/staff/login/code").get_data(as_text=True))
    resp = client.post("/staff/enrol", data={"csrf_token": token,
                                             "code": pyotp.TOTP(pyotp.random_base32()).now()})
    assert resp.status_code == 302 and resp.location.endswith("/staff/login/code")
    assert not signed_in(client)
    assert sealed_secret(app, dpo) == before
    assert audit_events(app, "staff.totp_enrolled") == []
    # The owner's authenticator still works.
    assert code_step_signs_in(app, dpo, dpo.code())


def test_a_get_of_the_enrolment_page_never_rekeys_a_signed_in_user(app, client):
    dpo = make_staff(app, "dpo")
    login(client, dpo)
    before = sealed_secret(app, dpo)
    resp = client.get("/staff/enrol")
    assert resp.status_code == 302 and resp.location.endswith("/staff/account")
    assert client.get("/staff/account/authenticator").status_code == 302
    assert sealed_secret(app, dpo) == before
    assert code_step_signs_in(app, dpo, dpo.code(1))


def test_rekeying_needs_the_password_and_a_current_code_and_a_code_from_the_new_key(
        app, client):
    dpo = make_staff(app, "dpo")
    elsewhere = app.test_client()
    login(elsewhere, dpo, code_offset=-1)
    login(client, dpo)
    before = sealed_secret(app, dpo)
    token = token_of(client)
    # Each proof alone is refused, and nothing changes.
    for password, code in ((WRONG_PASSWORD, dpo.code(1)), (PASSWORD, "000000"),
                           (PASSWORD, "")):
        resp = client.post("/staff/account/authenticator", data={
            "csrf_token": token, "rekey_password": password, "rekey_code": code})
        assert resp.status_code == 400
        assert 'id="totp-secret"' not in resp.get_data(as_text=True)
    assert sealed_secret(app, dpo) == before
    # Both: the new key is shown, but the old factor stays in force until it is confirmed.
    resp = client.post("/staff/account/authenticator", data={
        "csrf_token": token, "rekey_password": PASSWORD, "rekey_code": dpo.code(1)})
    assert resp.status_code == 302
    page = client.get(resp.location).get_data(as_text=True)
    new_secret = re.search(r'id="totp-secret" data-secret="([A-Z2-7]+)"', page).group(1)
    assert new_secret != dpo.secret
    assert sealed_secret(app, dpo) == before
    assert signed_in(elsewhere)
    wrong = client.post("/staff/account/authenticator/confirm", data={
        "csrf_token": csrf_from(page), "code": pyotp.TOTP(dpo.secret).now()})
    assert wrong.status_code == 400 and sealed_secret(app, dpo) == before
    resp = client.post("/staff/account/authenticator/confirm", data={
        "csrf_token": csrf_from(page), "code": pyotp.TOTP(new_secret).now()})
    assert resp.status_code == 302 and resp.location.endswith("/staff/account")
    # The new key is the factor now; this session stays, the other one ended.
    assert sealed_secret(app, dpo) != before
    assert signed_in(client) and not signed_in(elsewhere)
    assert len(audit_events(app, "staff.totp_rekeyed")) == 1
    assert not code_step_signs_in(app, dpo, dpo.code(1))
    assert code_step_signs_in(app, Staff(dpo.id, dpo.email, dpo.role, new_secret),
                              pyotp.TOTP(new_secret).at(time.time() + 30))


def test_an_agent_may_enrol_voluntarily_and_then_needs_the_code(app, client):
    agent = make_staff(app, "agent")
    login(client, agent)
    page = client.get("/staff/enrol").get_data(as_text=True)
    secret = re.search(r'id="totp-secret" data-secret="([A-Z2-7]+)"', page).group(1)
    resp = client.post("/staff/enrol", data={"csrf_token": csrf_from(page),
                                             "code": pyotp.TOTP(secret).now()})
    assert resp.status_code == 302 and signed_in(client)
    # Enrolled: the enrolment page is closed to them from now on.
    assert client.get("/staff/enrol").location.endswith("/staff/account")
    staff = Staff(agent.id, agent.email, agent.role, secret)
    assert code_step_signs_in(app, staff, pyotp.TOTP(secret).at(time.time() + 30))


# ------------------------------------------------------------------ 2. atomic counting


def concurrently(count: int, attempt) -> list:
    """Run ``attempt(i)`` in ``count`` threads released at the same moment."""
    start_together = threading.Barrier(count)
    results: list = [None] * count

    def run(index: int) -> None:
        prepared = attempt(index)
        start_together.wait()
        results[index] = prepared()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_fifteen_simultaneous_wrong_passwords_lock_the_account(app, client):
    agent = make_staff(app, "agent")

    def attempt(_):
        browser = app.test_client()
        token = csrf_from(browser.get("/staff/login").get_data(as_text=True))
        return lambda: browser.post("/staff/login", data={
            "csrf_token": token, "email": agent.email, "password": WRONG_PASSWORD}).status_code

    assert concurrently(15, attempt) == [400] * 15
    with app.app_context():
        user = db.session.get(StaffUser, agent.id)
        assert user.locked_until is not None
    assert audit_events(app, "staff.locked")
    # Locked: even the right password is refused, with the wrong password's words.
    right = post_login(client, agent.email, PASSWORD)
    assert right.status_code == 400 and not signed_in(client)
    assert login_error(right) == login_error(post_login(app.test_client(), agent.email,
                                                        WRONG_PASSWORD))


def test_a_locked_account_answers_exactly_like_a_wrong_password(app, client):
    agent = make_staff(app, "agent")
    client.get("/language/en")
    for _ in range(5):
        post_login(client, agent.email, WRONG_PASSWORD)
    locked = post_login(client, agent.email, PASSWORD)
    unknown = post_login(client, "nobody@staff.example", PASSWORD)
    wrong = post_login(client, agent.email, WRONG_PASSWORD)
    assert locked.status_code == unknown.status_code == wrong.status_code == 400
    assert login_error(locked) == login_error(unknown) == login_error(wrong)
    assert "locked" in login_error(locked)  # the wording covers the lock, for everyone
    assert not re.search(r"\d{1,2}:\d{2}", login_error(locked))  # and names no time


def test_the_same_code_sent_at_once_from_several_browsers_signs_in_once(app):
    dpo = make_staff(app, "dpo")
    code = dpo.code()

    def attempt(_):
        browser = app.test_client()
        assert post_login(browser, dpo.email, PASSWORD).location.endswith("/staff/login/code")
        token = csrf_from(browser.get("/staff/login/code").get_data(as_text=True))

        def send():
            resp = browser.post("/staff/login/code", data={"csrf_token": token, "code": code})
            return resp.status_code == 302 and resp.location.endswith("/staff/")
        return send

    assert sum(concurrently(6, attempt)) == 1
    assert len(audit_events(app, "staff.login")) == 1


def test_verify_consumes_a_step_once_in_the_database(app):
    dpo = make_staff(app, "dpo")
    now = time.time()
    with app.app_context():
        # Two requests read the account before either accepted the code.
        first = db.session.get(StaffUser, dpo.id)
        with app.app_context():
            second = db.session.get(StaffUser, dpo.id)
            assert totp.verify(second, dpo.code(), at=now)
            db.session.commit()
        assert not totp.verify(first, dpo.code(), at=now)


# ------------------------------------------------------------------ 3. sessions end


def test_a_cookie_copied_before_sign_out_no_longer_opens_the_back_office(app, client):
    agent = make_staff(app, "agent")
    login(client, agent)
    copy = copy_session(app, client)
    assert copy.get("/staff/").status_code == 200
    client.post("/staff/logout", data={"csrf_token": token_of(client, "/staff/")})
    resp = copy.get("/staff/")
    assert resp.status_code == 302 and "/staff/login" in resp.location


def test_sign_out_everywhere_ends_every_session_of_the_account(app, client):
    agent = make_staff(app, "agent")
    login(client, agent)
    laptop = app.test_client()
    login(laptop, agent)
    other = make_staff(app, "agent")
    colleague = app.test_client()
    login(colleague, other)
    assert client.get("/staff/account/sign-out-everywhere").status_code == 405  # no GET does it
    resp = client.post("/staff/account/sign-out-everywhere",
                       data={"csrf_token": token_of(client)})
    assert resp.status_code == 302 and "/staff/login" in resp.location
    assert not signed_in(client) and not signed_in(laptop)
    assert signed_in(colleague)
    assert len(audit_events(app, "staff.signed_out_everywhere")) == 1
    login(client, agent)  # signing in again works
    assert signed_in(client)


def test_deactivation_and_role_change_end_the_sessions_of_the_account(app, client):
    admin = make_staff(app, "admin")
    login(client, admin)
    agent, auditor = make_staff(app, "agent"), make_staff(app, "auditor")
    agent_browser, auditor_browser = app.test_client(), app.test_client()
    login(agent_browser, agent)
    login(auditor_browser, auditor)
    token = token_of(client, "/staff/users")
    client.post(f"/staff/users/{agent.id}/deactivate", data={"csrf_token": token})
    assert not signed_in(agent_browser)
    client.post(f"/staff/users/{auditor.id}/role", data={"csrf_token": token, "role": "agent"})
    assert not signed_in(auditor_browser)
    login(auditor_browser, auditor)  # as an agent now
    assert signed_in(auditor_browser)


def test_a_password_tried_on_an_address_without_an_account_is_audited(app, client):
    """Guesses against unknown or deactivated addresses (credential stuffing) are visible to
    the DPO in the audit trail, like those against real accounts — and cost the server the
    same database work, so that timing does not tell them apart."""
    agent = make_staff(app, "agent")
    with app.app_context():
        db.session.get(StaffUser, agent.id).is_active_account = False
        db.session.commit()
    post_login(client, "nobody@staff.example", WRONG_PASSWORD)
    post_login(client, agent.email, PASSWORD)
    with app.app_context():
        failed = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "staff.login_failed").order_by(AuditEvent.id)).all()
        payloads = [event.payload for event in failed]
    assert payloads == [{"step": "password", "staff_id": None, "account": "unknown"},
                        {"step": "password", "staff_id": agent.id, "account": "inactive"}]
    assert all("nobody" not in str(p) for p in payloads)
