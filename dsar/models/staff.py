"""Back-office accounts (the back office itself comes with the staff issue)."""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from dsar.extensions import db
from dsar.models.enums import StaffRole
from dsar.models.types import UTCDateTime, enum_column_type, utcnow


class StaffUser(UserMixin, db.Model):
    """A DPO, agent, auditor or administrator."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[StaffRole] = mapped_column(enum_column_type(StaffRole, "staff_role"))
    #: scrypt hash (werkzeug); never the password.
    password_hash: Mapped[str] = mapped_column(String(255))
    #: TOTP secret, encrypted with the storage key; None until enrolled.
    totp_secret_encrypted: Mapped[str | None] = mapped_column(String(255))
    #: Set once the person proved the authenticator works; until then the secret is pending.
    totp_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Last TOTP time-step accepted: a code cannot be replayed within its window.
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    is_active_account: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    language: Mapped[str] = mapped_column(String(8), default="fr")
    #: Bumped at sign-out, password, factor or role change and deactivation: every session
    #: cookie carries the generation it was opened in and is refused once it differs.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: When the password was last chosen (None: a new account whose setup link is unused).
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def set_password(self, password: str) -> None:
        """Store a slow (scrypt) hash of ``password`` and when it was chosen; the sessions
        opened with the previous password end (an existing account only)."""
        self.password_hash = generate_password_hash(password, method="scrypt")
        self.password_changed_at = utcnow()
        self.end_sessions()

    def end_sessions(self) -> None:
        """Sign out every session of this account at its next request (the caller commits).

        An UPDATE ``session_generation + 1`` computed by the database, so that two changes at
        the same moment cannot both write the same new value."""
        if self.id is not None:
            self.session_generation = StaffUser.session_generation + 1

    def check_password(self, password: str) -> bool:
        """Constant-time check of ``password`` against the stored hash."""
        return check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.is_active_account

    @property
    def totp_enabled(self) -> bool:
        return self.totp_confirmed_at is not None

    @property
    def totp_required(self) -> bool:
        """DPO and admin accounts must use a second factor; others may."""
        return self.role in (StaffRole.DPO, StaffRole.ADMIN) or self.totp_enabled
