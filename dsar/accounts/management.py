"""Staff accounts: creation with a one-time set-up link instead of a password anyone else sees,
the password policy, role changes, deactivation, and the e-mails that go with them.

A set-up link carries a signed token binding the account and a fingerprint of its current
password hash: choosing a password changes the hash, so the link works once; it also expires
after ``STAFF_SETUP_LINK_HOURS``. The link itself is made when its e-mail is composed
(``dsar.mail.compose``), so it is never stored. Giving an account DPO or administrator rights
is e-mailed to every other active DPO, so that nobody gains those rights unseen.

The administrator's actions (:func:`create_account`, :func:`change_role`,
:func:`send_setup_link`, :func:`change_state`) and :func:`choose_password` commit, then
enqueue their e-mails; a refusal raises ``AccountRefused`` and changes nothing.
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

from dsar.accounts import lockout
from dsar.core.audit import record_event
from dsar.core.keys import derived_key
from dsar.extensions import db
from dsar.mail.outbox import commit_and_send, queue_email
from dsar.models import ActorType, MailTemplate, OutboundEmail, StaffRole, StaffUser

#: Roles whose grant is e-mailed to every DPO: they decide on releases, or manage accounts.
RAISED_ROLES = (StaffRole.DPO, StaffRole.ADMIN)

ROLE_LABELS = {StaffRole.AGENT: _l("agent"), StaffRole.DPO: _l("DPO"),
               StaffRole.AUDITOR: _l("auditor"), StaffRole.ADMIN: _l("administrator")}


class AccountRefused(Exception):
    """The change breaks a rule; ``message`` says which, in the user's language."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


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


def choose_password(user: StaffUser, password: str, *, action: str):
    """Give ``user`` the password they chose, if the policy allows it (else return why not,
    changing nothing): the account's other sessions end, and ``action`` is audited and
    committed."""
    problem = password_problem(password, user.email)
    if problem:
        return problem
    user.set_password(password)
    record_event(action, actor_type=ActorType.STAFF, actor_id=user.id)
    db.session.commit()
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


def _setup_email(user: StaffUser, *, by: int | None) -> OutboundEmail:
    """Queue the set-up e-mail to ``user``, audited (the caller commits)."""
    outbound = queue_email(None, MailTemplate.STAFF_SETUP, staff=user,
                           payload={"staff_id": user.id, "by": by})
    record_event("staff.setup_link_sent", actor_type=ActorType.STAFF if by else ActorType.SYSTEM,
                 actor_id=by, payload={"staff_id": user.id})
    return outbound


def send_setup_link(user: StaffUser, *, by: int | None) -> bool:
    """E-mail ``user`` a new set-up link (a forgotten password); audited. False, doing
    nothing, for an inactive account."""
    if not user.is_active:
        return False
    commit_and_send(_setup_email(user, by=by))
    return True


# ------------------------------------------------------------------ accounts and roles


def create_account(email: str, name: str, role: StaffRole | None, *, by: int | None
                   ) -> StaffUser:
    """A new account with a random password nobody knows and a set-up link e-mailed to it
    (and the DPOs' notice if its role is raised). The address is kept trimmed and in lower
    case; refused if it is not an address, if the role is missing, or if an account has it
    already."""
    email = (email or "").strip().lower()
    if not email or "@" not in email or len(email) > 254 or role is None:
        raise AccountRefused(_l("Please give a valid e-mail address and a role."))
    if db.session.scalar(select(StaffUser.id).where(StaffUser.email == email)):
        raise AccountRefused(_l("A staff account with this address already exists."))
    user = StaffUser(email=email, name=(name or "")[:200], role=role,
                     password_hash=generate_password_hash(secrets.token_urlsafe(32),
                                                          method="scrypt"))
    db.session.add(user)
    db.session.flush()
    emails = [_setup_email(user, by=by), *_notify_dpos(user, role, by=by)]
    record_event("staff.created", actor_type=ActorType.STAFF if by else ActorType.SYSTEM,
                 actor_id=by, payload={"staff_id": user.id, "role": str(role),
                                       "dpos_notified": len(emails) - 1})
    commit_and_send(*emails)
    return user


def notify_new_account(user: StaffUser, *, by: int | None) -> list[OutboundEmail]:
    """For an account created with a password (the ``dsar user create`` command): the DPOs'
    notice if its role is raised. Returns the e-mails for ``commit_and_send``."""
    return _notify_dpos(user, user.role, by=by)


def change_role(user: StaffUser, role: StaffRole, *, by: int) -> None:
    """Give ``user`` a new role; their sessions end (they sign in again under it). A raise to
    DPO or administrator is e-mailed to every other active DPO. Refused for one's own role."""
    if user.id == by:
        raise AccountRefused(_l("You cannot change your own role."))
    previous = user.role
    if role is previous:
        return
    user.role = role
    user.end_sessions()
    emails = _notify_dpos(user, role, by=by)
    record_event("staff.role_changed", actor_type=ActorType.STAFF, actor_id=by,
                 payload={"staff_id": user.id, "role": str(role), "previous": str(previous),
                          "dpos_notified": len(emails)})
    commit_and_send(*emails)


#: What an administrator can do to an account besides its role.
STATE_CHANGES = ("unlock", "deactivate", "activate")


def change_state(user: StaffUser, change: str, *, by: int) -> None:
    """Unlock, deactivate or reactivate ``user`` (one of ``STATE_CHANGES``); audited as
    ``staff.<change>``. Deactivating ends the account's sessions; one's own account is not
    deactivated (the attempt is audited all the same)."""
    if change == "unlock":
        lockout.unlock(user)
    elif change == "deactivate" and user.id != by:
        user.is_active_account = False
        user.end_sessions()
    elif change == "activate":
        user.is_active_account = True
    record_event(f"staff.{change}", actor_type=ActorType.STAFF, actor_id=by,
                 payload={"staff_id": user.id})
    db.session.commit()


def _notify_dpos(user: StaffUser, role: StaffRole, *, by: int | None) -> list[OutboundEmail]:
    if role not in RAISED_ROLES:
        return []
    db.session.flush()
    # The account concerned is not told of itself: its owner gets the set-up e-mail, or
    # meets the new role (and its second factor) at the next sign-in.
    dpos = db.session.scalars(select(StaffUser).where(
        StaffUser.role == StaffRole.DPO, StaffUser.is_active_account.is_(True),
        StaffUser.id != user.id).order_by(StaffUser.id)).all()
    return [queue_email(None, MailTemplate.STAFF_ROLE_NOTICE, staff=dpo, payload={
        "staff_id": user.id, "role": str(role), "by": by}) for dpo in dpos]
