"""E-mails waiting to be sent by a worker: the database is the source of truth, Redis only
carries the job. The body is rendered at send time from the case, so no message text (and no
link secret) is stored."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dsar.extensions import db
from dsar.models.enums import MailStatus, MailTemplate
from dsar.models.types import UTCDateTime, enum_column_type, utcnow


class OutboundEmail(db.Model):
    """One e-mail to a requester about a case."""

    __tablename__ = "outbound_emails"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: The case the e-mail is about; None for a digest.
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE"), index=True
    )
    #: A staff recipient; None means the case's requester.
    recipient_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    #: Ids and codes the template needs (e.g. which reminder), never personal data.
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    template: Mapped[MailTemplate] = mapped_column(enum_column_type(MailTemplate, "mail_template"))
    status: Mapped[MailStatus] = mapped_column(
        enum_column_type(MailStatus, "mail_status"), default=MailStatus.PENDING, index=True
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: Exception class of the last failure (no message text: it could hold an address).
    last_error: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    case = relationship("Case")
    recipient_staff = relationship("StaffUser")
