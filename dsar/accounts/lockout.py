"""Staff lock-out after repeated failures, decided in the database.

Every change is one conditional UPDATE on the account's row, never a value read, changed in
Python and written back: requests sent at the same moment each count (the row lock on
PostgreSQL, the write lock on SQLite, serialise them), the request that reaches the limit locks,
and a sign-in succeeds only if the row is still unlocked when it is written.
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import or_, select, update

from dsar.core.audit import record_event
from dsar.extensions import db
from dsar.models import ActorType, StaffUser
from dsar.models.types import utcnow


def _unlocked(now):
    return or_(StaffUser.locked_until.is_(None), StaffUser.locked_until <= now)


def is_locked(user_id: int) -> bool:
    """Whether the account is locked now, read from the database (not from a copy loaded
    earlier in the request: another request may have locked it meanwhile)."""
    until = db.session.scalar(select(StaffUser.locked_until).where(StaffUser.id == user_id))
    return until is not None and until > utcnow()


def register_failure(user_id: int, step: str) -> bool:
    """Count a failed password or code for the account and lock it when the count reaches
    ``STAFF_LOCKOUT_ATTEMPTS`` (the caller commits). Returns True if the account is locked.

    A failure while locked is not counted: the lock is not extended by guesses."""
    config = current_app.config
    limit = int(config["STAFF_LOCKOUT_ATTEMPTS"])
    now = utcnow()
    failures = db.session.execute(
        update(StaffUser).where(StaffUser.id == user_id, _unlocked(now))
        .values(failed_logins=StaffUser.failed_logins + 1)
        .returning(StaffUser.failed_logins)
        .execution_options(synchronize_session=False)
    ).scalar()
    if failures is None:
        record_refusal(user_id, step)  # locked already (by this failure's neighbours, perhaps)
        return True
    record_event("staff.login_failed", actor_type=ActorType.STAFF, actor_id=user_id,
                 payload={"staff_id": user_id, "step": step, "failures": failures})
    if failures < limit:
        return False
    # Decided after the increment, on the row as it is now: one request locks, once.
    locked = db.session.execute(
        update(StaffUser).where(StaffUser.id == user_id, StaffUser.failed_logins >= limit)
        .values(failed_logins=0, locked_until=now + timedelta(
            minutes=int(config["STAFF_LOCKOUT_MINUTES"])))
        .execution_options(synchronize_session=False)
    ).rowcount
    if locked:
        record_event("staff.locked", actor_type=ActorType.STAFF, actor_id=user_id)
    return True


def register_no_account(user_id: int | None) -> None:
    """A password tried for an address with no active account (unknown, or deactivated):
    audited, and the same kind of database work as a counted failure (an UPDATE, an audit
    event; the caller commits), so that the answer's timing does not tell which addresses
    have accounts. Nothing is counted."""
    db.session.execute(
        update(StaffUser).where(StaffUser.id == (user_id or 0), StaffUser.id.is_(None))
        .values(failed_logins=StaffUser.failed_logins + 1)
        .returning(StaffUser.failed_logins)
        .execution_options(synchronize_session=False)
    ).scalar()
    record_event("staff.login_failed", actor_type=ActorType.SYSTEM,
                 payload={"step": "password", "staff_id": user_id,
                          "account": "inactive" if user_id else "unknown"})


def record_refusal(user_id: int, step: str) -> None:
    """Audit an attempt refused because the account is locked (not counted: guesses do not
    extend the lock)."""
    record_event("staff.login_failed", actor_type=ActorType.STAFF, actor_id=user_id,
                 payload={"staff_id": user_id, "step": step, "locked": True})


def clear_failures(user_id: int) -> bool:
    """Reset the failure count at a successful sign-in, unless the account is locked (the
    caller commits). Returns False if it is locked: the sign-in must then be refused, even
    with the right password and code."""
    now = utcnow()
    return db.session.execute(
        update(StaffUser).where(StaffUser.id == user_id, _unlocked(now))
        .values(failed_logins=0, locked_until=None)
        .execution_options(synchronize_session=False)
    ).rowcount == 1


def unlock(user: StaffUser) -> None:
    """An administrator's unlock: the account may sign in again at once."""
    user.locked_until = None
    user.failed_logins = 0
