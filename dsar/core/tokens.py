"""Public references and the secrets in requester links.

References are random (never sequential) so that they reveal nothing about volume. Link
tokens are HMACs of the reference, a purpose and a per-case salt under a key that is not in the
database: nothing secret is stored, a worker can re-create a link for an e-mail from the case
id alone, and rotating the salt revokes every link of a case (and, through ``session_mark``,
every browser session a link let in). How long links last is ``dsar.cases.links``' business.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from dsar.core.keys import derived_key

# Crockford-like alphabet without look-alikes (0/O, 1/I/L, U): easy to read out on the phone.
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
TOKEN_PURPOSES = ("confirm", "status")


def new_reference() -> str:
    """A fresh ``DSR-XXXX-XXXX`` reference: 8 random symbols, about 39 bits."""
    symbols = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(8))
    return f"DSR-{symbols[:4]}-{symbols[4:]}"


def normalise_reference(raw: str) -> str:
    """Upper-case and trim what a person typed, so ``dsr-7kq2-m9xd`` finds its case."""
    return raw.strip().upper()


def new_token_salt() -> str:
    """A per-case random salt for link tokens."""
    return secrets.token_hex(16)


def case_token(reference: str, salt: str, purpose: str) -> str:
    """The link secret for ``purpose`` on the case with ``reference`` and ``salt``."""
    if purpose not in TOKEN_PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    mac = hmac.new(
        derived_key("case-tokens"), f"{purpose}|{reference}|{salt}".encode(), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(mac[:24]).decode().rstrip("=")


def check_case_token(reference: str, salt: str, purpose: str, given: str) -> bool:
    """Constant-time comparison of a token from a link with the expected one."""
    expected = case_token(reference, salt, purpose)
    return hmac.compare_digest(expected.encode(), (given or "").encode())


def session_mark(reference: str, salt: str) -> str:
    """What a browser's session keeps of the salt when a link lets it in: a keyed digest (never
    the salt, nor a token), so that a new salt also shuts out the browsers holding the case."""
    # The link key, with a purpose no link has: a mark never passes for a token.
    mac = hmac.new(derived_key("case-tokens"), f"session|{reference}|{salt}".encode(),
                   hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:12]).decode()


def check_session_mark(reference: str, salt: str, given: str) -> bool:
    """Constant-time check of a session's mark against the case's current salt."""
    return hmac.compare_digest(session_mark(reference, salt).encode(), (given or "").encode())
