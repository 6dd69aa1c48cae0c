"""Staff accounts: creation with a one-time set-up link instead of a password anyone else sees,
the password policy, role changes, and the e-mails that go with them.

A set-up link carries a signed token binding the account and a fingerprint of its current
password hash: choosing a password changes the hash, so the link works once; it also expires
after ``STAFF_SETUP_LINK_HOURS``. Giving an account DPO or administrator rights is e-mailed to
every other active DPO, so that nobody gains those rights unseen. Functions add to the current
transaction; the caller commits, then hands the returned e-mail ids to ``enqueue``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from functools import lru_cache

from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from dsar.core.audit import record_event
from dsar.core.keys import derived_key
from dsar.extensions import db
from dsar.models import ActorType, MailTemplate, OutboundEmail, StaffRole, StaffUser

#: Roles whose grant is e-mailed to every DPO: they decide on releases, or manage accounts.
RAISED_ROLES = (StaffRole.DPO, StaffRole.ADMIN)

ROLE_LABELS = {StaffRole.AGENT: _l("agent"), StaffRole.DPO: _l("DPO"),
               StaffRole.AUDITOR: _l("auditor"), StaffRole.ADMIN: _l("administrator")}


def role_label(role: StaffRole | str):
    """A role in the reader's words."""
    return ROLE_LABELS[StaffRole(role)]


# ------------------------------------------------------------------ the password policy


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    # zxcvbn's list of the 30,000 most common passwords (a maintained package, no download).
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def password_rules():
    """The policy in a sentence, for the forms."""
    return _l("At least %(count)d characters; not a common password, not your e-mail address.",
              count=int(current_app.config["STAFF_PASSWORD_MIN_LENGTH"]))


def password_problem(password: str, email: str):
    """Why ``password`` may not be chosen for the account of ``email`` (None if it may)."""
    minimum = int(current_app.config["STAFF_PASSWORD_MIN_LENGTH"])
    if len(password) < minimum:
        return _l("The password must have at least %(count)d characters.", count=minimum)
    if len(password) > 200:
        return _l("The password must have at most %(count)d characters.", count=200)
    if password.lower() in _common_passwords():
        return _l("This password is one of the most common ones: please choose another.")
    if password.strip().lower() == email.strip().lower():
        return _l("The password must not be your e-mail address.")
    return None


# ------------------------------------------------------------------ set-up links


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(derived_key("staff-setup"), salt="dsar.staff-setup-link")


def _fingerprint(user: StaffUser) -> str:
    key = derived_key("staff-setup")
    return hmac.new(key, f"staff-setup:{user.password_hash}".encode(),
                    hashlib.sha256).hexdigest()[:32]


def setup_token(user: StaffUser, *, issued_at: float | None = None) -> str:
    """The token of ``user``'s set-up link, valid until the password changes or it expires."""
    issued = int(time.time() if issued_at is None else issued_at)
    return _serializer().dumps([user.id, _fingerprint(user), issued])


def account_for_setup(token: str) -> StaffUser | None:
    """The active account ``token`` lets choose a password, or None (forged, expired, used)."""
    try:
        user_id, fingerprint, issued = _serializer().loads(token)
    except (BadSignature, ValueError, TypeError):
        return None
    age = time.time() - float(issued)
    if not (-60 <= age <= float(current_app.config["STAFF_SETUP_LINK_HOURS"]) * 3600):
        return None
    user = db.session.get(StaffUser, user_id) if isinstance(user_id, int) else None
    if user is None or not user.is_active:
        return None
    return user if hmac.compare_digest(str(fingerprint), _fingerprint(user)) else None


def send_setup_link(user: StaffUser, *, by: int | None) -> int:
    """Queue the set-up e-mail to ``user`` (the link is made at send time); audited. Returns
    the outbox id."""
    from dsar.mail.outbox import queue_email

    outbound = queue_email(None, MailTemplate.STAFF_SETUP, staff=user,
                           payload={"staff_id": user.id, "by": by})
    record_event("staff.setup_link_sent", actor_type=ActorType.STAFF if by else ActorType.SYSTEM,
                 actor_id=by, payload={"staff_id": user.id})
    return outbound.id


# ------------------------------------------------------------------ accounts and roles


def create_account(email: str, name: str, role: StaffRole, *, by: int | None
                   ) -> tuple[StaffUser, list[int]]:
    """A new account with a random password nobody knows and a set-up link e-mailed to it.
    Returns the account and the e-mails to enqueue after commit."""
    user = StaffUser(email=email, name=name, role=role,
                     password_hash=generate_password_hash(secrets.token_urlsafe(32),
                                                          method="scrypt"))
    db.session.add(user)
    db.session.flush()
    emails = [send_setup_link(user, by=by), *_notify_dpos(user, role, by=by)]
    record_event("staff.created", actor_type=ActorType.STAFF if by else ActorType.SYSTEM,
                 actor_id=by, payload={"staff_id": user.id, "role": str(role),
                                       "dpos_notified": len(emails) - 1})
    return user, emails


def notify_new_account(user: StaffUser, *, by: int | None) -> list[int]:
    """For an account created with a password (the ``dsar user create`` command): the DPOs'
    notice if its role is raised. Returns the e-mails to enqueue after commit."""
    return _notify_dpos(user, user.role, by=by)


def change_role(user: StaffUser, role: StaffRole, *, by: int) -> list[int]:
    """Give ``user`` a new role; their sessions end (they sign in again under it). A raise to
    DPO or administrator is e-mailed to every other active DPO. Returns the e-mails to
    enqueue."""
    previous = user.role
    if role is previous:
        return []
    user.role = role
    user.end_sessions()
    emails = _notify_dpos(user, role, by=by)
    record_event("staff.role_changed", actor_type=ActorType.STAFF, actor_id=by,
                 payload={"staff_id": user.id, "role": str(role), "previous": str(previous),
                          "dpos_notified": len(emails)})
    return emails


def _notify_dpos(user: StaffUser, role: StaffRole, *, by: int | None) -> list[int]:
    from dsar.mail.outbox import queue_email

    if role not in RAISED_ROLES:
        return []
    db.session.flush()
    # The account concerned is not told of itself: its owner gets the set-up e-mail, or
    # meets the new role (and its second factor) at the next sign-in.
    dpos = db.session.scalars(select(StaffUser).where(
        StaffUser.role == StaffRole.DPO, StaffUser.is_active_account.is_(True),
        StaffUser.id != user.id).order_by(StaffUser.id)).all()
    return [queue_email(None, MailTemplate.STAFF_ROLE_NOTICE, staff=dpo, payload={
        "staff_id": user.id, "role": str(role), "by": by}).id for dpo in dpos]


def enqueue(email_ids: list[int]) -> None:
    """Enqueue the sending of committed outbox e-mails (the sweep retries any Redis missed)."""
    from dsar.pipeline import enqueue_email

    for email_id in email_ids:
        enqueue_email(email_id)


# ------------------------------------------------------------------ the e-mails


def staff_mail_context(outbound: OutboundEmail) -> dict:
    """What ``staff_setup.txt`` and ``staff_role_notice.txt`` need, read at send time (the
    payload holds ids only)."""
    from dsar.mail.outbox import external_url

    payload = outbound.payload or {}
    if outbound.template is MailTemplate.STAFF_SETUP:
        staff = outbound.recipient_staff
        return {"setup_url": external_url("staff.setup_link", token=setup_token(staff)),
                "hours": int(current_app.config["STAFF_SETUP_LINK_HOURS"]),
                "login_url": external_url("staff.login")}
    account = db.session.get(StaffUser, payload.get("staff_id"))
    by = db.session.get(StaffUser, payload["by"]) if payload.get("by") else None
    return {"account": account, "by_user": by, "role_name": role_label(payload["role"]),
            "audit_url": external_url("staff.audit_trail")}
