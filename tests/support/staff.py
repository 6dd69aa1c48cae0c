"""Creating staff accounts and cases, and signing in, for the back-office tests."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from datetime import time as dtime

import pyotp

from dsar.cases.workflow import create_case, transition
from dsar.core import totp
from dsar.extensions import db
from dsar.models import ActorType, Case, CaseKind, CaseStatus, StaffRole, StaffUser
from dsar.models.types import utcnow
from tests.support.forms import csrf_from

PASSWORD = "correct horse battery staple"


class Staff:
    """A staff account made for a test: id, e-mail, password, TOTP secret (or None)."""

    def __init__(self, user_id: int, email: str, role: StaffRole, secret: str | None):
        self.id, self.email, self.role, self.secret = user_id, email, role, secret

    def code(self, offset_steps: int = 0) -> str:
        assert self.secret, "this account has no second factor"
        return pyotp.TOTP(self.secret).at(time.time() + 30 * offset_steps)


def make_staff(app, role: StaffRole | str, email: str | None = None, *,
               enrolled: bool | None = None, name: str = "") -> Staff:
    """Create an account; DPO and admin accounts get an enrolled TOTP secret by default."""
    role = StaffRole(role)
    email = email or f"{role.value}-{time.monotonic_ns()}@staff.example"
    if enrolled is None:
        enrolled = role in (StaffRole.DPO, StaffRole.ADMIN)
    with app.app_context():
        user = StaffUser(email=email, role=role, name=name or role.value.title())
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.flush()
        secret = None
        if enrolled:
            secret = totp.new_secret()
            user.totp_secret_encrypted = totp.seal(secret, user.id)
            user.totp_confirmed_at = utcnow()
        db.session.commit()
        return Staff(user.id, email, role, secret)


def post_login(client, email: str, password: str):
    """Post the sign-in form (password step) with a CSRF token from the page."""
    page = client.get("/staff/login")
    return client.post("/staff/login", data={"csrf_token": csrf_from(page.get_data(True)),
                                              "email": email, "password": password})


def signed_in(client) -> bool:
    """Whether ``client`` holds a signed-in staff session (its account page opens)."""
    return client.get("/staff/account").status_code == 200


def login(client, staff: Staff, *, expect_ok: bool = True, code_offset: int = 0):
    """Sign in through the real pages: password, then the TOTP code if the account has one
    (``code_offset`` steps from now: each step signs in once)."""
    page = client.get("/staff/login")
    resp = client.post("/staff/login", data={"csrf_token": csrf_from(page.get_data(True)),
                                              "email": staff.email, "password": PASSWORD})
    if resp.status_code == 302 and resp.location.endswith("/staff/login/code"):
        page = client.get("/staff/login/code")
        resp = client.post("/staff/login/code", data={
            "csrf_token": csrf_from(page.get_data(True)), "code": staff.code(code_offset)})
    if expect_ok:
        assert resp.status_code == 302 and resp.location.endswith("/staff/"), resp.status_code
    return resp


def make_case(app, *, status: CaseStatus = CaseStatus.CONFIRMED, kind: CaseKind = CaseKind.ACCESS,
              received_on: date | None = None, email: str = "camille.martin@example.fr",
              assignee_id: int | None = None, details: dict | None = None) -> Case:
    """A case received on ``received_on`` (noon, Paris-safe), moved to ``status`` through the
    state machine. Returns the detached case (its id and reference are what tests use)."""
    received_at = (datetime.combine(received_on, dtime(11, 0), tzinfo=UTC)
                   if received_on else None)
    path = {
        CaseStatus.SUBMITTED: [],
        CaseStatus.CONFIRMED: [CaseStatus.CONFIRMED],
        CaseStatus.VERIFIED: [CaseStatus.CONFIRMED, CaseStatus.VERIFIED],
        CaseStatus.IN_PROGRESS: [CaseStatus.CONFIRMED, CaseStatus.VERIFIED,
                                 CaseStatus.IN_PROGRESS],
        CaseStatus.REVIEW: [CaseStatus.CONFIRMED, CaseStatus.VERIFIED, CaseStatus.IN_PROGRESS,
                            CaseStatus.REVIEW],
        CaseStatus.WITHDRAWN: [CaseStatus.CONFIRMED, CaseStatus.WITHDRAWN],
    }[status]
    with app.app_context():
        case = create_case(kind=kind, requester_name="Camille Martin", requester_email=email,
                           language="fr", received_at=received_at,
                           identifiers={"customer_number": "CUST-1042"})
        if details is not None:
            case.details = details
        for step in path:
            transition(case, step, actor_type=ActorType.SYSTEM)
        case.assignee_id = assignee_id
        db.session.commit()
        db.session.refresh(case)
        db.session.expunge(case)
        return case


def post_action(client, reference: str, action: str, data: dict | None = None):
    """POST a case action with a CSRF token taken from a page the client can see."""
    page = client.get(f"/staff/cases/{reference}")
    html = page.get_data(as_text=True)
    token = csrf_from(html) if page.status_code == 200 else _any_token(client)
    return client.post(f"/staff/cases/{reference}/{action}", data={"csrf_token": token,
                                                                   **(data or {})})


def _any_token(client) -> str:
    """A valid CSRF token for this client's session, from a page every signed-in user sees."""
    page = client.get("/request/access")
    return csrf_from(page.get_data(as_text=True))
