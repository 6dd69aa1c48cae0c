"""Staff accounts (issue 10, point 4): nobody but the owner ever knows a password. A new account
gets a one-time set-up link by e-mail (48 hours); everyone can change their password (the
current one first; a policy on the new one); giving DPO or administrator rights is e-mailed to
every active DPO and audited. Through the real pages, the real outbox, worker and SMTP server."""

from __future__ import annotations

import json
import time

from itsdangerous.encoding import base64_decode, base64_encode
from sqlalchemy import select

from dsar.accounts import management
from dsar.extensions import db
from dsar.models import AuditEvent, MailTemplate, OutboundEmail, StaffRole, StaffUser
from tests.support.audit import audit_events
from tests.support.forms import csrf_from, path_of
from tests.support.mailbox import Mailbox
from tests.support.staff import PASSWORD, login, make_staff, post_login, signed_in

NEW_PASSWORD = "a long and private passphrase"
COMMON = "qwerty123456"  # 12 characters, among zxcvbn's most common passwords


def signs_in(app, email: str, password: str) -> bool:
    resp = post_login(app.test_client(), email, password)
    return resp.status_code == 302 and resp.location.endswith("/staff/")


def admin_browser(app):
    admin = make_staff(app, "admin")
    client = app.test_client()
    login(client, admin)
    return client, admin


def create(client, email: str, role: str, name: str = "New Colleague"):
    token = csrf_from(client.get("/staff/users").get_data(as_text=True))
    return client.post("/staff/users", data={"csrf_token": token, "email": email, "name": name,
                                             "role": role})


def account(app, email: str) -> StaffUser:
    with app.app_context():
        user = db.session.scalar(select(StaffUser).where(StaffUser.email == email))
        db.session.expunge(user)
        return user


def setup_path(smtp_server, email: str) -> str:
    links = [link for link in Mailbox.links(smtp_server.last_to(email)) if "/staff/setup/" in link]
    assert len(links) == 1
    return path_of(links[0])


def choose(client, password: str, again: str | None = None):
    page = client.get("/staff/setup")
    assert page.status_code == 200
    return client.post("/staff/setup", data={
        "csrf_token": csrf_from(page.get_data(as_text=True)), "new_password": password,
        "new_password_again": password if again is None else again})


def bodies_to(smtp_server, address: str) -> list[str]:
    return [m.get_body(preferencelist=("plain",)).get_content()
            for m in smtp_server.messages() if m["To"] == address]


def test_a_new_account_chooses_its_password_from_a_one_time_emailed_link(
        app, run_jobs, smtp_server):
    admin_client, admin = admin_browser(app)
    email = "new.agent@staff.example"
    resp = create(admin_client, email, "agent")
    assert resp.status_code == 302
    page = admin_client.get("/staff/users").get_data(as_text=True)
    assert 'id="new-password"' not in page and "<code>" not in page
    assert account(app, email).password_changed_at is None
    assert run_jobs() == 0
    path = setup_path(smtp_server, email)
    # The link moves its token into the session at once.
    newcomer = app.test_client()
    resp = newcomer.get(path)
    assert resp.status_code == 302 and resp.location.endswith("/staff/setup")
    assert email in newcomer.get("/staff/setup").get_data(as_text=True)
    # The policy: long enough, not common, not the address, typed twice alike.
    for password, again in (("short pass", None), (COMMON, None), (COMMON.upper(), None),
                            (email, None), (NEW_PASSWORD, NEW_PASSWORD + "!")):
        assert choose(newcomer, password, again).status_code == 400
    assert not signs_in(app, email, COMMON)
    resp = choose(newcomer, NEW_PASSWORD)
    assert resp.status_code == 302 and resp.location.endswith("/staff/login")
    assert signs_in(app, email, NEW_PASSWORD)
    # Once only: the same link, in this browser or another, is spent.
    assert newcomer.get("/staff/setup").status_code == 404
    assert app.test_client().get(path).status_code == 404
    # Audited, with ids only; the outbox holds ids only.
    created, = audit_events(app, "staff.created")
    assert created.actor_id == str(admin.id)
    assert len(audit_events(app, "staff.setup_link_sent")) == 1
    assert len(audit_events(app, "staff.password_set")) == 1
    with app.app_context():
        for row in db.session.scalars(select(AuditEvent)):
            assert "@" not in json.dumps(row.payload)
        outbound = db.session.scalars(select(OutboundEmail).where(
            OutboundEmail.template == MailTemplate.STAFF_SETUP)).one()
        assert set(outbound.payload) <= {"staff_id", "by"}


def test_a_new_dpo_sets_the_password_then_the_second_factor_at_sign_in(
        app, run_jobs, smtp_server):
    admin_client, _ = admin_browser(app)
    email = "new.dpo@staff.example"
    create(admin_client, email, "dpo")
    run_jobs()
    newcomer = app.test_client()
    newcomer.get(setup_path(smtp_server, email))
    choose(newcomer, NEW_PASSWORD)
    resp = post_login(newcomer, email, NEW_PASSWORD)
    assert resp.status_code == 302 and resp.location.endswith("/staff/enrol")
    assert not signed_in(newcomer)


def test_the_setup_link_expires_after_48_hours_and_cannot_be_forged(app, run_jobs, smtp_server):
    admin_client, _ = admin_browser(app)
    email = "late@staff.example"
    create(admin_client, email, "agent")
    run_jobs()
    path = setup_path(smtp_server, email)
    with app.app_context():
        user = db.session.scalar(select(StaffUser).where(StaffUser.email == email))
        old = management.setup_token(user, issued_at=time.time() - 49 * 3600)
        recent = management.setup_token(user, issued_at=time.time() - 47 * 3600)
    # Another account's id in a real link: the signature no longer matches.
    other = make_staff(app, "agent")
    payload, signature = path.rsplit("/", 1)[1].rsplit(".", 1)
    content = json.loads(base64_decode(payload))
    content[0] = other.id
    forged = base64_encode(json.dumps(content).encode()).decode() + "." + signature
    assert app.test_client().get(f"/staff/setup/{old}").status_code == 404
    assert app.test_client().get(f"/staff/setup/{forged}").status_code == 404
    assert app.test_client().get(f"/staff/setup/{path[-20:]}x").status_code == 404
    assert app.test_client().get(f"/staff/setup/{recent}").status_code == 302


def test_an_administrator_sends_a_new_link_for_a_forgotten_password(
        app, run_jobs, smtp_server):
    admin_client, admin = admin_browser(app)
    agent = make_staff(app, "agent")
    agent_browser = app.test_client()
    login(agent_browser, agent)
    assert admin_client.get(f"/staff/users/{agent.id}/setup-link").status_code == 405
    token = csrf_from(admin_client.get("/staff/users").get_data(as_text=True))
    resp = admin_client.post(f"/staff/users/{agent.id}/setup-link", data={"csrf_token": token})
    assert resp.status_code == 302
    sent, = audit_events(app, "staff.setup_link_sent")
    assert sent.actor_id == str(admin.id) and sent.payload == {"staff_id": agent.id}
    run_jobs()
    browser = app.test_client()
    browser.get(setup_path(smtp_server, agent.email))
    assert choose(browser, NEW_PASSWORD).status_code == 302
    assert signs_in(app, agent.email, NEW_PASSWORD)
    assert not signs_in(app, agent.email, PASSWORD)
    assert not signed_in(agent_browser)  # the sessions opened with the old password ended


def test_changing_ones_password_needs_the_current_one_and_ends_the_other_sessions(app, client):
    agent = make_staff(app, "agent")
    login(client, agent)
    laptop = app.test_client()
    login(laptop, agent)
    token = csrf_from(client.get("/staff/account").get_data(as_text=True))

    def change(current: str, new: str, again: str | None = None):
        return client.post("/staff/account/password", data={
            "csrf_token": token, "current_password": current, "new_password": new,
            "new_password_again": new if again is None else again})

    for current, new in ((NEW_PASSWORD, NEW_PASSWORD), (PASSWORD, "too short"),
                         (PASSWORD, COMMON), (PASSWORD, agent.email)):
        assert change(current, new).status_code == 400
    assert change(PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "?").status_code == 400
    assert signs_in(app, agent.email, PASSWORD) and not signs_in(app, agent.email, NEW_PASSWORD)
    resp = change(PASSWORD, NEW_PASSWORD)
    assert resp.status_code == 302 and resp.location.endswith("/staff/account")
    assert signed_in(client) and not signed_in(laptop)
    assert signs_in(app, agent.email, NEW_PASSWORD) and not signs_in(app, agent.email, PASSWORD)
    assert len(audit_events(app, "staff.password_changed")) == 1
    # The wrong current password counted as a failed sign-in.
    assert [e.payload["step"] for e in audit_events(app, "staff.login_failed")].count(
        "password_change") == 1


def test_giving_dpo_or_admin_rights_is_emailed_to_every_active_dpo(app, run_jobs, smtp_server):
    dpos = [make_staff(app, "dpo", name=f"DPO {n}") for n in range(2)]
    retired = make_staff(app, "dpo")
    with app.app_context():
        db.session.get(StaffUser, retired.id).is_active_account = False
        db.session.commit()
    admin_client, admin = admin_browser(app)
    create(admin_client, "plain.agent@staff.example", "agent")
    create(admin_client, "new.dpo@staff.example", "dpo", name="Dominique Neuf")
    create(admin_client, "new.admin@staff.example", "admin", name="Alex Neuf")
    assert run_jobs() == 0
    for dpo in dpos:
        notices = [b for b in bodies_to(smtp_server, dpo.email) if "/staff/audit" in b]
        assert len(notices) == 2
        assert any("new.dpo@staff.example" in b and "Dominique Neuf" in b for b in notices)
        assert any("new.admin@staff.example" in b for b in notices)
        assert all(admin.email in b for b in notices)  # who gave the rights
    assert bodies_to(smtp_server, retired.email) == []
    with app.app_context():
        for row in db.session.scalars(select(OutboundEmail).where(
                OutboundEmail.template == MailTemplate.STAFF_ROLE_NOTICE)):
            assert set(row.payload) == {"staff_id", "role", "by"}
    created = {e.payload["role"]: e.payload["dpos_notified"]
               for e in audit_events(app, "staff.created")}
    # Every other active DPO: the new DPO is one when the administrator's notice goes out.
    assert created == {"agent": 0, "dpo": 2, "admin": 3}


def test_an_administrator_changes_a_role_a_raise_is_emailed_and_both_are_audited(
        app, run_jobs, smtp_server):
    dpo = make_staff(app, "dpo")
    admin_client, admin = admin_browser(app)
    agent, auditor = make_staff(app, "agent"), make_staff(app, "auditor")
    token = csrf_from(admin_client.get("/staff/users").get_data(as_text=True))
    assert admin_client.get(f"/staff/users/{agent.id}/role").status_code == 405
    admin_client.post(f"/staff/users/{agent.id}/role", data={"csrf_token": token, "role": "dpo"})
    admin_client.post(f"/staff/users/{auditor.id}/role",
                      data={"csrf_token": token, "role": "agent"})
    admin_client.post(f"/staff/users/{admin.id}/role", data={"csrf_token": token, "role": "dpo"})
    admin_client.post(f"/staff/users/{auditor.id}/role",
                      data={"csrf_token": token, "role": "emperor"})
    assert account(app, agent.email).role is StaffRole.DPO
    assert account(app, auditor.email).role is StaffRole.AGENT
    assert account(app, admin.email).role is StaffRole.ADMIN  # not one's own
    changes = [(e.payload["staff_id"], e.payload["role"], e.payload["previous"])
               for e in audit_events(app, "staff.role_changed")]
    assert changes == [(agent.id, "dpo", "agent"), (auditor.id, "agent", "auditor")]
    run_jobs()
    notices = [b for b in bodies_to(smtp_server, dpo.email) if "/staff/audit" in b]
    assert len(notices) == 1 and agent.email in notices[0]
    # Raised to DPO: the next sign-in sets up the second factor.
    resp = post_login(app.test_client(), agent.email, PASSWORD)
    assert resp.location.endswith("/staff/enrol")


def test_user_create_command_applies_the_password_policy(app, runner):
    from dsar.cli import main

    email = "console@staff.example"
    for password in ("short pass", COMMON, email):
        result = runner.invoke(main, ["user", "create", email, "--role", "agent",
                                      "--password", password])
        assert result.exit_code != 0, password
    with app.app_context():
        assert db.session.scalar(select(StaffUser).where(StaffUser.email == email)) is None
    result = runner.invoke(main, ["user", "create", email, "--role", "agent",
                                  "--password", NEW_PASSWORD])
    assert result.exit_code == 0, result.output
    assert signs_in(app, email, NEW_PASSWORD)


def test_user_create_command_for_a_dpo_tells_the_dpos(app, runner, run_jobs, smtp_server):
    from dsar.cli import main

    dpo = make_staff(app, "dpo")
    result = runner.invoke(main, ["user", "create", "console.dpo@staff.example", "--role", "dpo",
                                  "--password", NEW_PASSWORD])
    assert result.exit_code == 0, result.output
    run_jobs()
    notices = [b for b in bodies_to(smtp_server, dpo.email) if "/staff/audit" in b]
    assert len(notices) == 1 and "console.dpo@staff.example" in notices[0]

