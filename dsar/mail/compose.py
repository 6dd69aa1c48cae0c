"""What each e-mail says: its subject, its body from ``templates/email`` and what that body
needs, in the recipient's language, composed when it is sent.

Composing at send time keeps secrets out of the database and Redis: links carry HMAC tokens
re-derived from the case (or the staff account) at that moment, and a download code is opened
from its sealed row only for this message. An outbox row holds ids only; each template's
context below reads what it names from the services.
"""

from __future__ import annotations

from collections.abc import Callable
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from flask import current_app, render_template, url_for
from flask_babel import force_locale, format_date, gettext, lazy_gettext

from dsar.accounts.management import role_label, setup_token
from dsar.cases.intake import confirmation_deadline
from dsar.cases.reminders import overdue_cases
from dsar.cases.requester_actions import open_info_request
from dsar.changes.notices import notice_address
from dsar.changes.plan import planned_collections
from dsar.changes.restriction import lift_notice
from dsar.core.tokens import case_token
from dsar.delivery.download_codes import code_for_email
from dsar.delivery.release import failed_sources
from dsar.exports.certificate_content import KINDS, citation
from dsar.extensions import db
from dsar.models import (
    Case,
    ExportPackage,
    MailTemplate,
    OutboundEmail,
    RecipientNotice,
    StaffUser,
)
from dsar.models.types import utcnow
from dsar.postmortem.matching import deceased_identifiers, match_of
from dsar.sources.catalog import get_catalog

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
    MailTemplate.RECIPIENT_NOTICE: lazy_gettext("Erasure of a person's data (request "
                                                "%(reference)s)"),
    MailTemplate.CHANGE_UNDER_WAY: lazy_gettext("Your request %(reference)s is being carried "
                                                "out"),
    MailTemplate.RESTRICTION_LIFT_NOTICE: lazy_gettext("The restriction of your data will be "
                                                       "lifted (request %(reference)s)"),
    MailTemplate.MASKED_DATA_NOTICE: lazy_gettext("Other people's data masked in our answer "
                                                  "(request %(reference)s)"),
    MailTemplate.DIRECTIVES_CHANGED: lazy_gettext("Your directives were changed (request "
                                                  "%(reference)s)"),
}
#: A notice to a recipient (Art. 19) says which change it passes on.
RECIPIENT_SUBJECTS = {
    "rectification": lazy_gettext("Correction of a person's data (request %(reference)s)"),
    "restriction": lazy_gettext("Restriction of a person's data (request %(reference)s)"),
    "objection": lazy_gettext("Objection of a person to a processing of their data (request "
                              "%(reference)s)"),
}


def external_url(endpoint: str, **values) -> str:
    """An absolute URL on ``BASE_URL``, buildable outside a request (in a worker)."""
    base = current_app.config["BASE_URL"].rstrip("/")
    with current_app.test_request_context(base_url=base):
        return url_for(endpoint, _external=True, **values)


def case_links(case: Case) -> dict[str, str]:
    """The requester's confirmation and status links for ``case``, from its current salt (so
    a message sent after a revocation carries the new links)."""
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


# ------------------------------------------------------------------ each template's context


def _info_request(outbound: OutboundEmail) -> dict:
    request = open_info_request(outbound.case)
    return {"question": request.question if request else "",
            "paused": bool(request and request.pause_id)}


def _package_ready(outbound: OutboundEmail) -> dict:
    package = db.session.get(ExportPackage, (outbound.payload or {}).get("package_id"))
    sources = get_catalog().sources
    missing = [sources[n].label(outbound.case.language) if n in sources else n
               for n in failed_sources(outbound.case)]
    kept = bool(package is not None and package.scope == "erasure" and any(
        p.kept for p in planned_collections(outbound.case)))
    case = outbound.case
    cited = (citation(package.scope, case.language,
                      (case.details or {}).get("objection_target"))
             if package is not None and package.scope in KINDS else None)
    return {"package": package, "missing_sources": missing, "kept_anything": kept,
            "citation": cited,
            "available_until": format_date(package.expires_at, "long") if package else ""}


def _download_code(outbound: OutboundEmail) -> dict:
    return {"code": code_for_email(outbound),
            "minutes": current_app.config["DOWNLOAD_CODE_MINUTES"]}


def _staff_setup(outbound: OutboundEmail) -> dict:
    # The link is made now, from the account's current password hash: it works once.
    return {"setup_url": external_url("staff.setup_link",
                                      token=setup_token(outbound.recipient_staff)),
            "hours": int(current_app.config["STAFF_SETUP_LINK_HOURS"]),
            "login_url": external_url("staff.login")}


def _staff_role_notice(outbound: OutboundEmail) -> dict:
    payload = outbound.payload or {}
    account = db.session.get(StaffUser, payload.get("staff_id"))
    by = db.session.get(StaffUser, payload["by"]) if payload.get("by") else None
    return {"account": account, "by_user": by, "role_name": role_label(payload["role"]),
            "audit_url": external_url("staff.audit_trail")}


def _overdue_digest(outbound: OutboundEmail) -> dict:
    return {"overdue": overdue_cases(), "dashboard_url": external_url("staff.dashboard")}


#: What a template needs beyond the case, the recipient and the organisation.
def _recipient_notice(outbound: OutboundEmail) -> dict:
    notice = db.session.get(RecipientNotice, (outbound.payload or {}).get("notice_id"))
    recipient = get_catalog().register.recipients.get(notice.recipient) if notice else None
    return {"recipient": recipient.legal_name if recipient else "",
            "erased_on": format_date(outbound.created_at, "long"),
            "person_email": person_email(outbound.case)}


def person_email(case) -> str:
    """The address of the person whose data changed: the requester's, or for a deceased
    person's rights the deceased's (never the heir's or the designated person's own)."""
    match = match_of(case)
    return deceased_identifiers(match)["email"] if match else case.requester_email


def _change_under_way(outbound: OutboundEmail) -> dict:
    kept = [p for p in planned_collections(outbound.case) if p.kept]
    return {"kept": [gettext("%(label)s: %(text)s", label=f"{p.source_label} · "
                             f"{p.collection_label}", text=p.reason or p.basis)
                     + (f" ({p.until})" if p.until else "") for p in kept]}


TEMPLATE_CONTEXTS: dict[MailTemplate, Callable[[OutboundEmail], dict]] = {
    MailTemplate.CHANGE_UNDER_WAY: _change_under_way,
    MailTemplate.RESTRICTION_LIFT_NOTICE: lambda outbound: lift_notice(outbound.case),
    MailTemplate.RECIPIENT_NOTICE: _recipient_notice,
    MailTemplate.INFO_REQUEST: _info_request,
    MailTemplate.PACKAGE_READY: _package_ready,
    MailTemplate.MASKED_DATA_NOTICE: _package_ready,
    MailTemplate.DOWNLOAD_CODE: _download_code,
    MailTemplate.STAFF_SETUP: _staff_setup,
    MailTemplate.STAFF_ROLE_NOTICE: _staff_role_notice,
    MailTemplate.OVERDUE_DIGEST: _overdue_digest,
}


# ------------------------------------------------------------------ the message


def render_email(outbound: OutboundEmail) -> EmailMessage:
    """Build the message for an outbox row, in its recipient's language: the requester's for
    case e-mails, the staff member's for reminders and digests."""
    case, staff = outbound.case, outbound.recipient_staff
    config = current_app.config
    to_recipient = outbound.template is MailTemplate.RECIPIENT_NOTICE
    # An organisation's notice to another is written in the organisation's language.
    language = (config["LANGUAGES"][0] if to_recipient
                else staff.language if staff else case.language)
    with force_locale(language):
        context = {
            "case": case,
            "staff": staff,
            "payload": outbound.payload or {},
            "organisation": config["ORGANISATION_NAME"],
            "dpo_email": config["DPO_EMAIL"],
        }
        if case is not None:
            context.update(
                received=format_date(case.received_on, "long"),
                due=format_date(case.due_on, "long"),
                confirm_until=format_date(confirmation_deadline(case), "long"),
            )
            if staff is None and not to_recipient:
                context.update(case_links(case))
            else:
                context["case_url"] = external_url("staff.case", reference=case.reference)
        if outbound.template in TEMPLATE_CONTEXTS:
            context.update(TEMPLATE_CONTEXTS[outbound.template](outbound))
        fields = {"reference": case.reference if case else "", "due": context.get("due"),
                  "count": len(context.get("overdue", ()))}
        body = render_template(f"email/{outbound.template}.txt", **context)
        subject = str(RECIPIENT_SUBJECTS.get(str(case.kind), SUBJECTS[outbound.template])
                      if to_recipient else SUBJECTS[outbound.template]) % fields
        signature = gettext("This message was sent automatically; please do not reply to it.")
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = config["MAIL_FROM"]
    message["To"] = (notice_address((outbound.payload or {}).get("notice_id")) if to_recipient
                     else staff.email if staff else case.requester_email)
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = make_msgid(domain=config["MAIL_FROM"].rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(f"{body.strip()}\n\n-- \n{signature}\n")
    message["Content-Language"] = language  # after set_content, which resets Content-*
    return message
