"""The staff second factor: RFC 6238 codes (pyotp), secrets encrypted at rest, no replay."""

from __future__ import annotations

import base64
import os
import time

import pyotp
import segno
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .keys import derived_key
from .models import StaffUser

ISSUER = "dsar"
STEP_SECONDS = 30


def _seal(secret: str, user_id: int) -> str:
    nonce = os.urandom(12)
    key = derived_key("staff-totp")
    sealed = AESGCM(key).encrypt(nonce, secret.encode(), str(user_id).encode())
    return base64.b64encode(nonce + sealed).decode()


def _open(sealed: str, user_id: int) -> str:
    raw = base64.b64decode(sealed)
    return AESGCM(derived_key("staff-totp")).decrypt(raw[:12], raw[12:], str(user_id).encode()
                                                    ).decode()


def start_enrolment(user: StaffUser) -> str:
    """Give ``user`` a new, unconfirmed secret (replacing any pending one); returns it."""
    secret = pyotp.random_base32()
    user.totp_secret_encrypted = _seal(secret, user.id)
    user.totp_confirmed_at = None
    user.totp_last_step = None
    return secret


def pending_secret(user: StaffUser) -> str | None:
    """The secret being enrolled, to show again (QR code and text) until confirmed."""
    if user.totp_secret_encrypted and user.totp_confirmed_at is None:
        return _open(user.totp_secret_encrypted, user.id)
    return None


def provisioning_uri(user: StaffUser, secret: str, organisation: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=f"{ISSUER} "
                                               f"{organisation}")


def qr_data_uri(uri: str) -> str:
    """The QR code of ``uri`` as an inline SVG image (no external request, CSP-friendly)."""
    return segno.make(uri, error="m").svg_data_uri(scale=5)


def verify(user: StaffUser, code: str, *, at: float | None = None) -> bool:
    """Check a 6-digit code; accepts the previous, current and next step, never the same step
    twice (a code seen over a shoulder cannot be reused)."""
    if not user.totp_secret_encrypted:
        return False
    code = "".join(ch for ch in (code or "") if ch.isdigit())
    if len(code) != 6:
        return False
    totp = pyotp.TOTP(_open(user.totp_secret_encrypted, user.id))
    now = time.time() if at is None else at
    current = int(now // STEP_SECONDS)
    for step in (current - 1, current, current + 1):
        if totp.verify(code, for_time=step * STEP_SECONDS, valid_window=0):
            if user.totp_last_step is not None and step <= user.totp_last_step:
                return False
            user.totp_last_step = step
            return True
    return False
