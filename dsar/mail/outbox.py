"""E-mail to requesters: queued in the outbox, rendered and sent over SMTP by a worker.

Bodies are rendered at send time in the requester's language from ``templates/email``; links
carry HMAC tokens re-derived from the case, so nothing secret waits in the database or Redis.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from flask import current_app, render_template, url_for
from flask_babel import force_locale, format_date, gettext, lazy_gettext

from dsar.core.audit import record_event
from dsar.core.tokens import case_token
from dsar.extensions import db
from dsar.mail.smtp_tls import open_smtp
from dsar.models import ActorType, Case, MailStatus, MailTemplate, OutboundEmail
from dsar.models.types import utcnow

logger = logging.getLogger(__name__)

SUBJECTS = {
    MailTemplate.CONFIRM_EMAIL: lazy_gettext("Please confirm your request %(reference)s"),
    MailTemplate.ACKNOWLEDGEMENT: lazy_gettext("We have received your request %(reference)s"),
    MailTemplate.WITHDRAWN: lazy_gettext("Your request %(reference)s has been withdrawn"),
    MailTemplate.EXPIRED: lazy_gettext("Your request %(reference)s was not confirmed"),
    MailTemplate.INFO_REQUEST: lazy_gettext("We need information to handle your request "
                                            "%(reference)s"),
    MailTemplate.EXTENDED: lazy_gettext("The deadline of your request %(reference)s is extended"),
    MailTemplate.REJECTED: lazy_gettext("Our answer to your request %(reference)s"),
    MailTemplate.PARTIALLY_REFUSED: lazy_gettext("Part of your request %(reference)s is refused"),
    MailTemplate.PACKAGE_READY: lazy_gettext("The answer to your request %(reference)s is "
                                             "ready"),
    MailTemplate.DOWNLOAD_CODE: lazy_gettext("Your download code for the request "
                                             "%(reference)s"),
    MailTemplate.STAFF_REMINDER: lazy_gettext("Reminder: case %(reference)s is due on %(due)s"),
    MailTemplate.OVERDUE_DIGEST: lazy_gettext("Overdue cases: %(count)d"),
    MailTemplate.STAFF_SETUP: lazy_gettext("Your back-office account: choose your password"),
    MailTemplate.STAFF_ROLE_NOTICE: lazy_gettext("Back office: an account with extended "
                                                 "rights"),
    MailTemplate.LINKS_RENEWED: lazy_gettext("New link to follow your request %(reference)s"),
}


def queue_email(case: Case | None, template: MailTemplate, *, staff=None,
                payload: dict | None = None) -> OutboundEmail:
    """Add an e-mail to the outbox in the current transaction; enqueue it after commit with
    ``dsar.pipeline.enqueue_email``. ``staff`` addresses it to a staff member."""
    outbound = OutboundEmail(case=case, template=template, recipient_staff=staff,
                             payload=payload or {})
    db.session.add(outbound)
    db.session.flush()
    return outbound


def external_url(endpoint: str, **values) -> str:
    """An absolute URL on ``BASE_URL``, buildable outside a request (in a worker)."""
    base = current_app.config["BASE_URL"].rstrip("/")
    with current_app.test_request_context(base_url=base):
        return url_for(endpoint, _external=True, **values)


def case_links(case: Case) -> dict[str, str]:
    """The requester's confirmation and status links for ``case``."""
    return {
        "confirm_url": external_url(
            "portal.confirm", reference=case.reference,
            token=case_token(case.reference, case.token_salt, "confirm"),
        ),
        "status_url": external_url(
            "portal.status_link", reference=case.reference,
            token=case_token(case.reference, case.token_salt, "status"),
        ),
    }


def render_email(outbound: OutboundEmail) -> EmailMessage:
    """Build the message for an outbox row, in its recipient's language: the requester's for
    case e-mails, the staff member's for reminders and digests."""
    case, staff = outbound.case, outbound.recipient_staff
    config = current_app.config
    language = staff.language if staff else case.language
    with force_locale(language):
        context = {
            "case": case,
            "staff": staff,
            "payload": outbound.payload or {},
            "organisation": config["ORGANISATION_NAME"],
            "dpo_email": config["DPO_EMAIL"],
        }
        fields = {"reference": case.reference if case else ""}
        if case is not None:
            confirm_until = case.received_on + timedelta(days=config["CONFIRMATION_DAYS"])
            context.update(
                received=format_date(case.received_on, "long"),
                due=format_date(case.due_on, "long"),
                confirm_until=format_date(confirm_until, "long"),
                **_template_context(outbound),
            )
            fields["due"] = context["due"]
            if staff is None:
                context.update(case_links(case))
            else:
                context["case_url"] = external_url("staff.case", reference=case.reference)
        if outbound.template in (MailTemplate.STAFF_SETUP, MailTemplate.STAFF_ROLE_NOTICE):
            from dsar.accounts.management import staff_mail_context

            context.update(staff_mail_context(outbound))
        if outbound.template is MailTemplate.OVERDUE_DIGEST:
            context["overdue"] = overdue_cases()
            context["dashboard_url"] = external_url("staff.dashboard")
            fields["count"] = len(context["overdue"])
        body = render_template(f"email/{outbound.template}.txt", **context)
        subject = str(SUBJECTS[outbound.template]) % fields
        signature = gettext("This message was sent automatically; please do not reply to it.")
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = config["MAIL_FROM"]
    message["To"] = staff.email if staff else case.requester_email
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = make_msgid(domain=config["MAIL_FROM"].rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(f"{body.strip()}\n\n-- \n{signature}\n")
    message["Content-Language"] = language  # after set_content, which resets Content-*
    return message


def _template_context(outbound: OutboundEmail) -> dict:
    """What the case e-mails need beyond the case itself."""
    if outbound.template is MailTemplate.INFO_REQUEST:
        from dsar.cases.staff_actions import open_info_request

        request = open_info_request(outbound.case)
        return {"question": request.question if request else ""}
    if outbound.template is MailTemplate.PACKAGE_READY:
        from dsar.delivery.release import failed_sources
        from dsar.models import ExportPackage
        from dsar.sources.catalog import get_catalog

        package = db.session.get(ExportPackage, (outbound.payload or {}).get("package_id"))
        sources = get_catalog().sources
        missing = [sources[n].label(outbound.case.language) if n in sources else n
                   for n in failed_sources(outbound.case)]
        return {"package": package, "missing_sources": missing,
                "available_until": format_date(package.expires_at, "long") if package else ""}
    if outbound.template is MailTemplate.DOWNLOAD_CODE:
        from dsar.delivery.download_codes import code_for_email

        return {"code": code_for_email(outbound),
                "minutes": current_app.config["DOWNLOAD_CODE_MINUTES"]}
    return {}


def overdue_cases() -> list:
    """Cases whose due date has passed (Paris date) and whose clock runs, oldest due first."""
    from sqlalchemy import select

    from dsar.cases.clock import today_in_paris
    from dsar.models import CLOCK_RUNNING_STATUSES, Case

    return db.session.scalars(
        select(Case).where(Case.status.in_(CLOCK_RUNNING_STATUSES),
                           Case.due_on < today_in_paris()).order_by(Case.due_on, Case.id)
    ).all()


def smtp_send(message: EmailMessage) -> None:
    """Hand ``message`` to the configured SMTP server, over TLS with the certificate and host
    name checked when SMTP_STARTTLS or SMTP_SSL is set (``dsar.mail.smtp_tls``)."""
    config = current_app.config
    with open_smtp(config) as smtp:
        if config["SMTP_USERNAME"]:
            smtp.login(config["SMTP_USERNAME"], config["SMTP_PASSWORD"] or "")
        smtp.send_message(message)


def deliver(outbound_id: int, *, actor_id: str | None = None) -> bool:
    """Send one outbox e-mail unless it is already sent. Raises on failure (the job retries).

    Returns True if a message was sent by this call.
    """
    outbound = db.session.get(OutboundEmail, outbound_id)
    if outbound is None or outbound.status is MailStatus.SENT:
        return False
    try:
        smtp_send(render_email(outbound))
    except Exception as exc:
        outbound.attempts += 1
        outbound.last_error = type(exc).__name__[:120]
        db.session.commit()
        logger.warning("e-mail %s failed (%s)", outbound_id, type(exc).__name__)
        raise
    outbound.attempts += 1
    outbound.status = MailStatus.SENT
    outbound.sent_at = utcnow()
    outbound.last_error = None
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
