"""The deployment's master key and the purpose-bound sub-keys derived from it.

One random 256-bit master key lives in ``instance/dsar.key`` (created by ``dsar init``, mode 0600).
Each use gets its own HKDF-derived key, so the Flask session secret, the blob-store key, the
audit-chain key and the status-link key are independent: leaking one reveals none of the others.
"""

from __future__ import annotations

import base64
import os
import secrets
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

PURPOSES = ("flask-secret", "storage", "audit-chain", "case-tokens", "staff-totp", "download-codes",
            "staff-setup", "anonymisation", "suppression", "restriction", "statements",
            "directives", "backup-manifest")


class MissingKeyError(RuntimeError):
    """The master key file does not exist: ``dsar init`` has not been run."""


def create_master_key(path: str | os.PathLike) -> bool:
    """Write a new master key to ``path`` unless one exists. Returns True if one was created."""
    target = Path(path)
    if target.exists():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.b64encode(secrets.token_bytes(32)).decode() + "\n")
    return True


@lru_cache(maxsize=8)
def _read_master_key(path: str) -> bytes:
    try:
        raw = Path(path).read_text().strip()
    except FileNotFoundError:
        raise MissingKeyError(f"{path} is missing: run `dsar init` first") from None
    key = base64.b64decode(raw)
    if len(key) != 32:
        raise MissingKeyError(f"{path} does not hold a 256-bit key")
    return key


@lru_cache(maxsize=32)
def _derive(master: bytes, purpose: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(
        master
    )


def derived_key(purpose: str, key_file: str | None = None) -> bytes:
    """The 32-byte key for ``purpose`` (one of ``PURPOSES``), from the app's master key file."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown key purpose {purpose!r}")
    path = key_file or current_app.config["MASTER_KEY_FILE"]
    return _derive(_read_master_key(str(path)), purpose)
