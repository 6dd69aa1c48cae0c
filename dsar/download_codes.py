"""One-time codes that open the download of a released answer (issue 5, item 7).

The status page's secret link is not enough to take a complete copy of someone's data: a link
can be forwarded or lie in a shared mailbox for weeks. So each download needs a fresh 6-digit
code, e-mailed on request, valid ``DOWNLOAD_CODE_MINUTES`` minutes, in the browser session that
asked for it only, and locked after ``DOWNLOAD_CODE_ATTEMPTS`` wrong tries. A case may ask for
``DOWNLOAD_CODES_PER_HOUR`` codes an hour, which bounds guessing to a few tries an hour against
a million values.

Only a keyed hash of the code is compared (in constant time). The code itself is sealed in its
row for the e-mail, which a worker renders later; it is wiped as soon as the code is spent.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select

from . import storage
from .audit import record_event
from .extensions import db
from .keys import derived_key
from .mail import queue_email
from .models import ActorType, Case, DownloadCode, ExportPackage, MailTemplate, OutboundEmail
from .models.types import utcnow

logger = logging.getLogger(__name__)

CODE_DIGITS = 6


class CodeProblem(enum.StrEnum):
    """Why a code did not open the download."""

    NONE_ASKED = "none_asked"  # no code was asked for in this browser session
    WRONG = "wrong"
    LOCKED = "locked"  # too many wrong tries
    EXPIRED = "expired"
    USED = "used"
    TOO_MANY_REQUESTS = "too_many_requests"


class CodeRefused(Exception):
    """The code cannot be issued or does not open the download; nothing was handed over."""

    def __init__(self, problem: CodeProblem, attempts_left: int | None = None):
        super().__init__(str(problem))
        self.problem = problem
        self.attempts_left = attempts_left


@dataclass(frozen=True)
class IssuedCode:
    """A code waiting in the outbox (the id of its e-mail, to enqueue after commit)."""

    code_id: int
    email_id: int
    expires_in_minutes: int


def _hash(code: str, nonce: str) -> str:
    return hmac.new(derived_key("download-codes"), f"{nonce}|{code}".encode(),
                    hashlib.sha256).hexdigest()


def _context(code_id: int) -> str:
    return f"download_codes:{code_id}"


def new_session_nonce() -> str:
    """A random value the browser session keeps; a code works only with it."""
    return secrets.token_hex(16)


def issue_code(case: Case, package: ExportPackage, session_nonce: str) -> IssuedCode:
    """Make a fresh code for ``package`` and queue its e-mail (caller commits, then enqueues
    ``email_id``). Earlier codes of the case stop working. Refused past the hourly limit."""
    config = current_app.config
    now = utcnow()
    recent = db.session.scalar(select(func.count(DownloadCode.id)).where(
        DownloadCode.case_id == case.id, DownloadCode.created_at > now - timedelta(hours=1)))
    if recent >= int(config["DOWNLOAD_CODES_PER_HOUR"]):
        raise CodeRefused(CodeProblem.TOO_MANY_REQUESTS)
    for older in db.session.scalars(select(DownloadCode).where(
            DownloadCode.case_id == case.id, DownloadCode.used_at.is_(None),
            DownloadCode.locked_at.is_(None), DownloadCode.expires_at > now)):
        older.expires_at = now  # only the newest code works
        older.sealed_code = None
    code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
    minutes = int(config["DOWNLOAD_CODE_MINUTES"])
    row = DownloadCode(case_id=case.id, package_id=package.id, session_nonce=session_nonce,
                       code_hash=_hash(code, session_nonce), created_at=now,
                       expires_at=now + timedelta(minutes=minutes))
    db.session.add(row)
    db.session.flush()
    row.sealed_code = storage.seal(code.encode(), _context(row.id))
    outbound = queue_email(case, MailTemplate.DOWNLOAD_CODE, payload={"download_code_id": row.id})
    record_event("download.code_requested", case=case, actor_type=ActorType.REQUESTER,
                 payload={"package_id": package.id, "download_code_id": row.id})
    return IssuedCode(row.id, outbound.id, minutes)


def code_for_email(outbound: OutboundEmail) -> str | None:
    """The code an outbox e-mail carries, opened for rendering; None once it is spent."""
    row = db.session.get(DownloadCode, (outbound.payload or {}).get("download_code_id"))
    if row is None or row.sealed_code is None or row.case_id != outbound.case_id:
        return None
    return storage.unseal(row.sealed_code, _context(row.id)).decode()


def check_code(case: Case, package: ExportPackage, session_nonce: str | None,
               entered: str) -> DownloadCode:
    """Spend the session's latest code if ``entered`` is right; count a wrong try otherwise
    (the caller commits in both cases). Raises ``CodeRefused``; never opens anything else."""
    config = current_app.config
    row = None
    if session_nonce:
        row = db.session.scalar(
            select(DownloadCode).where(DownloadCode.case_id == case.id,
                                       DownloadCode.package_id == package.id,
                                       DownloadCode.session_nonce == session_nonce)
            .order_by(DownloadCode.id.desc()).limit(1).with_for_update())
    if row is None:
        raise CodeRefused(CodeProblem.NONE_ASKED)
    if row.locked_at is not None:
        raise CodeRefused(CodeProblem.LOCKED)
    if row.used_at is not None:
        raise CodeRefused(CodeProblem.USED)
    now = utcnow()
    if row.expires_at <= now:
        raise CodeRefused(CodeProblem.EXPIRED)
    cleaned = "".join(ch for ch in (entered or "") if ch.isdigit())[:CODE_DIGITS + 1]
    if not hmac.compare_digest(row.code_hash, _hash(cleaned, session_nonce)):
        row.attempts += 1
        limit = int(config["DOWNLOAD_CODE_ATTEMPTS"])
        locked = row.attempts >= limit
        if locked:
            row.locked_at = now
            row.sealed_code = None
        record_event("download.code_failed", case=case, actor_type=ActorType.REQUESTER,
                     payload={"download_code_id": row.id, "attempts": row.attempts,
                              "locked": locked})
        raise CodeRefused(CodeProblem.LOCKED if locked else CodeProblem.WRONG,
                          attempts_left=max(limit - row.attempts, 0))
    row.used_at = now
    row.sealed_code = None
    return row
