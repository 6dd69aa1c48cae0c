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
import secrets
import unicodedata
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select, update

from dsar.core import storage
from dsar.core.audit import record_event
from dsar.core.keys import derived_key
from dsar.extensions import db
from dsar.mail.outbox import commit_and_send, queue_email
from dsar.models import ActorType, Case, DownloadCode, ExportPackage, MailTemplate, OutboundEmail
from dsar.models.types import utcnow

CODE_DIGITS = 6


class CodeProblem(enum.StrEnum):
    """Why a code did not open the download."""

    NONE_ASKED = "none_asked"  # no code was asked for in this browser session
    MALFORMED = "malformed"  # not 6 digits (a typo: no try counted)
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


def _hash(code: str, nonce: str) -> str:
    return hmac.new(derived_key("download-codes"), f"{nonce}|{code}".encode(),
                    hashlib.sha256).hexdigest()


def _context(code_id: int) -> str:
    return f"download_codes:{code_id}"


def new_session_nonce() -> str:
    """A random value the browser session keeps; a code works only with it."""
    return secrets.token_hex(16)


def _lock_case(case: Case) -> None:
    """Serialise the code work of one case: a no-op UPDATE takes the case row's lock on
    PostgreSQL and the database's write lock on SQLite, until the transaction ends. Without
    it, concurrent requests would each count the codes before any was added, and issue more
    than the hourly limit."""
    db.session.execute(update(Case).where(Case.id == case.id).values(id=Case.id))


def issue_code(case: Case, package: ExportPackage, session_nonce: str) -> None:
    """Make a fresh code for ``package``, bound to ``session_nonce``, and e-mail it (committed,
    then enqueued). The session's earlier codes stop working. Refused (``CodeRefused``, rolled
    back) past the hourly limit, counted for the case whatever the browser (so guessing stays
    bounded)."""
    try:
        outbound = _new_code(case, package, session_nonce)
    except CodeRefused:
        db.session.rollback()  # and the case's lock with it
        raise
    commit_and_send(outbound)


def _new_code(case: Case, package: ExportPackage, session_nonce: str) -> OutboundEmail:
    config = current_app.config
    _lock_case(case)
    now = utcnow()
    recent = db.session.scalar(select(func.count(DownloadCode.id)).where(
        DownloadCode.case_id == case.id, DownloadCode.created_at > now - timedelta(hours=1)))
    if recent >= int(config["DOWNLOAD_CODES_PER_HOUR"]):
        raise CodeRefused(CodeProblem.TOO_MANY_REQUESTS)
    # Only this browser's older codes: someone else holding the status link must not be able
    # to void the person's code by asking for one.
    db.session.execute(update(DownloadCode).where(
        DownloadCode.case_id == case.id, DownloadCode.session_nonce == session_nonce,
        DownloadCode.used_at.is_(None), DownloadCode.locked_at.is_(None),
        DownloadCode.expires_at > now).values(expires_at=now, sealed_code=None))
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
    return outbound


def code_for_email(outbound: OutboundEmail) -> str | None:
    """The code an outbox e-mail carries, opened for rendering; None once it is spent."""
    row = db.session.get(DownloadCode, (outbound.payload or {}).get("download_code_id"))
    if (row is None or row.sealed_code is None or row.case_id != outbound.case_id
            or row.expires_at <= utcnow()):  # a mail delayed past the code's life says so
        return None
    return storage.unseal(row.sealed_code, _context(row.id)).decode()


def well_formed(entered: str | None) -> str | None:
    """The code typed, as 6 ASCII digits (spaces and full-width digits forgiven), or None."""
    cleaned = unicodedata.normalize("NFKC", entered or "").replace(" ", "").strip()
    if len(cleaned) == CODE_DIGITS and cleaned.isascii() and cleaned.isdigit():
        return cleaned
    return None


def check_code(case: Case, package: ExportPackage, session_nonce: str | None,
               entered: str) -> DownloadCode:
    """Spend the session's latest code if ``entered`` is right; count a wrong try otherwise
    (the caller commits in both cases). Raises ``CodeRefused``; never opens anything else.

    The try counter and the spending are single conditional UPDATEs, so concurrent requests
    cannot try more than ``DOWNLOAD_CODE_ATTEMPTS`` times nor spend a code twice."""
    limit = int(current_app.config["DOWNLOAD_CODE_ATTEMPTS"])
    cleaned = well_formed(entered)
    if cleaned is None:
        raise CodeRefused(CodeProblem.MALFORMED)  # a typo, not a guess: no try counted
    row = None
    if session_nonce:
        row = db.session.scalar(
            select(DownloadCode).where(DownloadCode.case_id == case.id,
                                       DownloadCode.package_id == package.id,
                                       DownloadCode.session_nonce == session_nonce)
            .order_by(DownloadCode.id.desc()).limit(1))
    if row is None:
        raise CodeRefused(CodeProblem.NONE_ASKED)
    now = utcnow()
    usable = (DownloadCode.id == row.id, DownloadCode.used_at.is_(None),
              DownloadCode.locked_at.is_(None), DownloadCode.attempts < limit,
              DownloadCode.expires_at > now)
    if hmac.compare_digest(row.code_hash, _hash(cleaned, session_nonce)):
        spent = db.session.execute(update(DownloadCode).where(*usable).values(
            used_at=now, sealed_code=None))
        if spent.rowcount == 1:
            db.session.refresh(row)
            return row
    else:
        counted = db.session.execute(update(DownloadCode).where(*usable).values(
            attempts=DownloadCode.attempts + 1))
        if counted.rowcount == 1:
            db.session.refresh(row)
            locked = row.attempts >= limit
            if locked:
                db.session.execute(update(DownloadCode).where(DownloadCode.id == row.id)
                                   .values(locked_at=now, sealed_code=None))
            record_event("download.code_failed", case=case, actor_type=ActorType.REQUESTER,
                         payload={"download_code_id": row.id, "attempts": row.attempts,
                                  "locked": locked})
            raise CodeRefused(CodeProblem.LOCKED if locked else CodeProblem.WRONG,
                              attempts_left=max(limit - row.attempts, 0))
    # Not usable (any more): say why, from the row as it is now.
    db.session.refresh(row)
    problem = (CodeProblem.LOCKED if row.locked_at is not None or row.attempts >= limit
               else CodeProblem.USED if row.used_at is not None else CodeProblem.EXPIRED)
    record_event("download.code_refused", case=case, actor_type=ActorType.REQUESTER,
                 payload={"download_code_id": row.id, "problem": str(problem)})
    raise CodeRefused(problem)
