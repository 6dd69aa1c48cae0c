"""Sending an outbox e-mail: the worker's mail job composes it (``dsar.mail.compose``) and
hands it to the SMTP server (``dsar.mail.smtp_tls``), once."""

from __future__ import annotations

import logging
from email.message import EmailMessage

from flask import current_app
from sqlalchemy import update

from dsar.core.audit import record_event
from dsar.extensions import db
from dsar.mail.compose import render_email
from dsar.mail.smtp_tls import open_smtp
from dsar.models import (
    ActorType,
    MailStatus,
    MailTemplate,
    NoticeStatus,
    OutboundEmail,
    RecipientNotice,
)
from dsar.models.types import utcnow

logger = logging.getLogger(__name__)


def smtp_send(message: EmailMessage) -> None:
    """Hand ``message`` to the configured SMTP server, over TLS with the certificate and host
    name checked when SMTP_STARTTLS or SMTP_SSL is set (``dsar.mail.smtp_tls``)."""
    config = current_app.config
    with open_smtp(config) as smtp:
        if config["SMTP_USERNAME"]:
            smtp.login(config["SMTP_USERNAME"], config["SMTP_PASSWORD"] or "")
        smtp.send_message(message)


def deliver(outbound_id: int, *, actor_id: str | None = None) -> bool:
    """Send one outbox e-mail unless it is already sent (the mail job). Raises on failure
    (the job retries).

    Returns True if a message was sent by this call.
    """
    outbound = db.session.get(OutboundEmail, outbound_id)
    if outbound is None or outbound.status is MailStatus.SENT:
        return False
    if (outbound.recipient_staff is None and outbound.case is not None
            and not (outbound.case.requester_email or "").strip()
            and not (outbound.payload or {}).get("notice_id")):
        # A request received by post or telephone without an address: nothing to send, and
        # nothing to retry. Staff write by post; the outbox keeps why it was not sent.
        outbound.status = MailStatus.FAILED
        outbound.last_error = "NoAddress"
        db.session.commit()
        logger.info("e-mail %s not sent: the requester gave no e-mail address", outbound_id)
        return False
    try:
        smtp_send(render_email(outbound))
    except Exception as exc:
        outbound.attempts += 1
        outbound.last_error = type(exc).__name__[:120]
        db.session.commit()
        logger.warning("e-mail %s failed (%s)", outbound_id, type(exc).__name__)
        raise
    # Marked sent by a compare-and-set: had another job sent it meanwhile (SMTP cannot be
    # asked, so at least once), the message is recorded and audited once.
    marked = db.session.execute(
        update(OutboundEmail).where(OutboundEmail.id == outbound_id,
                                    OutboundEmail.status == MailStatus.PENDING)
        .values(status=MailStatus.SENT, sent_at=utcnow(), last_error=None,
                attempts=OutboundEmail.attempts + 1)
        .execution_options(synchronize_session=False)).rowcount
    if marked != 1:
        db.session.rollback()
        logger.warning("e-mail %s was sent by another job meanwhile", outbound_id)
        return False
    if outbound.template is MailTemplate.RECIPIENT_NOTICE:
        # The recipient is told (Art. 19): its notice is settled with the e-mail, atomically.
        db.session.execute(update(RecipientNotice).where(
            RecipientNotice.id == (outbound.payload or {}).get("notice_id"),
            RecipientNotice.status == NoticeStatus.PENDING)
            .values(status=NoticeStatus.NOTIFIED, decided_at=utcnow()))
    record_event(
        "email.sent",
        case=outbound.case,
        actor_type=ActorType.WORKER,
        actor_id=actor_id,
        payload={"email_id": outbound.id, "template": str(outbound.template)},
    )
    db.session.commit()
    logger.info("e-mail %s sent (%s)", outbound_id, outbound.template)
    return True


def notice_case(outbound_id: int) -> int | None:
    """The case of an Art. 19 notice e-mail (None for any other e-mail)."""
    outbound = db.session.get(OutboundEmail, outbound_id)
    if outbound is None or outbound.template is not MailTemplate.RECIPIENT_NOTICE:
        return None
    return outbound.case_id
