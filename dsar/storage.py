"""Encrypted blob store for identity documents and, later, exports.

Each blob is written as ``nonce || AES-256-GCM(ciphertext + tag)`` under the storage key, with
the blob id as associated data (a file moved to another id fails to decrypt). Plaintext never
touches the disk. Blob ids are random and carry no meaning.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app

from .keys import derived_key

NONCE_BYTES = 12


class BlobError(Exception):
    """A blob is missing, or failed authentication (tampered or wrong key)."""


@dataclass(frozen=True)
class StoredBlob:
    """What the store recorded: the id to read it back, the plaintext size and SHA-256."""

    blob_id: str
    size: int
    sha256: str


def _path(blob_id: str) -> Path:
    if not blob_id or any(c not in "0123456789abcdef" for c in blob_id):
        raise BlobError("malformed blob id")
    root = Path(current_app.config["STORAGE_DIR"])
    return root / blob_id[:2] / blob_id


def put(data: bytes) -> StoredBlob:
    """Encrypt and store ``data``; returns its new id, size and SHA-256."""
    blob_id = secrets.token_hex(20)
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(derived_key("storage")).encrypt(nonce, data, blob_id.encode())
    target = _path(blob_id)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = target.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(nonce + sealed)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, target)
    return StoredBlob(blob_id=blob_id, size=len(data), sha256=hashlib.sha256(data).hexdigest())


def get(blob_id: str) -> bytes:
    """Read back and authenticate the plaintext of ``blob_id``."""
    try:
        raw = _path(blob_id).read_bytes()
    except FileNotFoundError:
        raise BlobError("no such blob") from None
    try:
        return AESGCM(derived_key("storage")).decrypt(
            raw[:NONCE_BYTES], raw[NONCE_BYTES:], blob_id.encode()
        )
    except InvalidTag:
        raise BlobError("blob failed authentication") from None


def delete(blob_id: str) -> bool:
    """Remove a blob; True if it existed. Used once a proof has served its purpose."""
    try:
        _path(blob_id).unlink()
    except FileNotFoundError:
        return False
    return True


def exists(blob_id: str) -> bool:
    """Whether the blob's file is still on disk."""
    return _path(blob_id).exists()


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
