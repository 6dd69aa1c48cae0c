"""Small values sealed into database columns under the storage key (a sealed value is bound to
its place by a context string), and the error every blob and sealed-value failure raises.
Used through :mod:`dsar.core.storage`, which re-exports both."""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dsar.core.keys import derived_key

NONCE_BYTES = 12


class BlobError(Exception):
    """A blob is missing, or failed authentication (tampered or wrong key)."""


def seal(data: bytes, context: str) -> bytes:
    """Encrypt a small value kept in a database column; ``context`` (say
    ``"source_results:12:crm:input"``) binds it to its place, so a value copied to another row
    fails to open."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(derived_key("storage")).encrypt(nonce, data, context.encode())


def unseal(sealed: bytes, context: str) -> bytes:
    """Open a value sealed by :func:`seal` with the same ``context``."""
    try:
        return AESGCM(derived_key("storage")).decrypt(
            sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], context.encode())
    except InvalidTag:
        raise BlobError("sealed value failed authentication") from None
