"""The staff second factor: RFC 6238 codes (pyotp), secrets encrypted at rest, no replay.

A code is accepted by a conditional UPDATE of the account's last used time-step, so that the
same code sent twice at the same moment signs in once."""

from __future__ import annotations

import base64
import os
import time

import pyotp
import segno
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import or_, update
from sqlalchemy.orm.attributes import set_committed_value

from dsar.core.keys import derived_key
from dsar.extensions import db
from dsar.models import StaffUser
from dsar.models.types import utcnow

ISSUER = "dsar"
STEP_SECONDS = 30


def seal(secret: str, user_id: int) -> str:
    """``secret`` encrypted for ``user_id`` (to store it, or to carry it in a session)."""
    nonce = os.urandom(12)
    key = derived_key("staff-totp")
    sealed = AESGCM(key).encrypt(nonce, secret.encode(), str(user_id).encode())
    return base64.b64encode(nonce + sealed).decode()


def unseal(sealed: str, user_id: int) -> str:
    """The secret ``seal`` encrypted for ``user_id``."""
    raw = base64.b64decode(sealed)
    return AESGCM(derived_key("staff-totp")).decrypt(raw[:12], raw[12:], str(user_id).encode()
                                                    ).decode()


def new_secret() -> str:
    """A fresh random secret (base32), nobody's factor until ``install`` confirms it. Until
    then it waits in the person's session, sealed: opening a page writes nothing."""
    return pyotp.random_base32()


def install(user: StaffUser, secret: str, step: int, *, replacing: str | None) -> bool:
    """Make ``secret`` the account's factor once a code from it (at ``step``) proved the
    person's app has it; ends the account's other sessions (the caller commits and keeps its
    own session). ``replacing`` is the sealed factor being changed, None for a first enrolment.

    One conditional UPDATE: a first enrolment only while no factor is confirmed, a change only
    while the factor it replaces is still in force. Returns False if that no longer holds."""
    current = (StaffUser.totp_confirmed_at.is_(None) if replacing is None
               else StaffUser.totp_secret_encrypted == replacing)
    done = db.session.execute(
        update(StaffUser).where(StaffUser.id == user.id, current)
        .values(totp_secret_encrypted=seal(secret, user.id), totp_confirmed_at=utcnow(),
                totp_last_step=step, session_generation=StaffUser.session_generation + 1)
        .execution_options(synchronize_session=False)
    ).rowcount == 1
    db.session.expire(user)  # read again from the row as it now is
    return done


def provisioning_uri(user: StaffUser, secret: str, organisation: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=f"{ISSUER} "
                                               f"{organisation}")


def qr_data_uri(uri: str) -> str:
    """The QR code of ``uri`` as an inline SVG image (no external request, CSP-friendly)."""
    return segno.make(uri, error="m").svg_data_uri(scale=5)


def matching_step(secret: str, code: str, *, at: float | None = None) -> int | None:
    """The time-step (previous, current or next) at which ``code`` is right for ``secret``."""
    code = "".join(ch for ch in (code or "") if ch.isdigit())
    if len(code) != 6:
        return None
    totp = pyotp.TOTP(secret)
    current = int((time.time() if at is None else at) // STEP_SECONDS)
    for step in (current - 1, current, current + 1):
        if totp.verify(code, for_time=step * STEP_SECONDS, valid_window=0):
            return step
    return None


def verify(user: StaffUser, code: str, *, at: float | None = None) -> bool:
    """Check a 6-digit code against the account's secret; accepts the previous, current and
    next step, never the same step twice (a code seen over a shoulder cannot be reused).

    The step is spent in the database: ``totp_last_step`` moves forward only if it is still
    behind this step and the secret is the one checked, so of two requests with one code only
    one succeeds (the caller commits)."""
    sealed = user.totp_secret_encrypted
    if not sealed:
        return False
    step = matching_step(unseal(sealed, user.id), code, at=at)
    if step is None:
        return False
    spent = db.session.execute(
        update(StaffUser).where(
            StaffUser.id == user.id, StaffUser.totp_secret_encrypted == sealed,
            or_(StaffUser.totp_last_step.is_(None), StaffUser.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    ).rowcount
    if spent != 1:
        return False
    set_committed_value(user, "totp_last_step", step)  # what the database now holds
    return True
