"""The closed vocabularies of a case. Stored as strings with CHECK constraints."""

from __future__ import annotations

import enum


class CaseKind(enum.StrEnum):
    """The right a request exercises (docs/architecture.md)."""

    ACCESS = "access"
    PORTABILITY = "portability"
    RECTIFICATION = "rectification"
    ERASURE = "erasure"
    RESTRICTION = "restriction"
    OBJECTION = "objection"
    POSTMORTEM_DIRECTIVE = "postmortem_directive"
    POSTMORTEM_EXECUTION = "postmortem_execution"


class CaseStatus(enum.StrEnum):
    """Where a case stands; changed only by ``dsar.cases.workflow.transition``."""

    SUBMITTED = "submitted"
    CONFIRMED = "confirmed"
    NEEDS_INFO = "needs_info"
    VERIFIED = "verified"
    IN_PROGRESS = "in_progress"
    REVIEW = "review"
    #: A kind that changes data: the DPO approved the plan, its steps run in the sources.
    EXECUTING = "executing"
    #: Every step done: a new search checks that what should be gone is gone.
    VERIFYING = "verifying"
    #: Post-mortem directives recorded: a standing record the person may change or revoke,
    #: not a request to answer within a month (off the clock).
    RECORDED = "recorded"
    COMPLETED = "completed"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"

    @property
    def is_open(self) -> bool:
        return self not in CLOSED_STATUSES


#: The kinds whose answer is carried out in the sources (docs/erasure.md), not a copy of the
#: data: after the search, a plan the DPO approves.
CHANGE_KINDS = frozenset({CaseKind.ERASURE, CaseKind.RECTIFICATION, CaseKind.RESTRICTION,
                          CaseKind.OBJECTION, CaseKind.POSTMORTEM_EXECUTION})

CLOSED_STATUSES = frozenset(
    {CaseStatus.COMPLETED, CaseStatus.REJECTED, CaseStatus.WITHDRAWN, CaseStatus.EXPIRED}
)
#: Statuses in which the legal clock runs: open, and not suspended while waiting for the
#: requester's answer (docs/legal-rules.md D8). Only these can be overdue or need a reminder.
#: Open statuses of cases that wait for no answer: post-mortem directives recorded, a standing
#: record (docs/postmortem.md). Off the clock and off the dashboard's list of work to do.
STANDING_STATUSES = frozenset({CaseStatus.RECORDED})
CLOCK_RUNNING_STATUSES = frozenset(
    s for s in CaseStatus
    if s not in CLOSED_STATUSES and s not in (CaseStatus.NEEDS_INFO, CaseStatus.RECORDED)
)
#: The statuses a question to the requester can be asked from, and so the ones the case returns
#: to once answered (``InfoRequest.resume_status``): the state machine's moves into and out of
#: ``needs_info`` (``dsar.cases.workflow.TRANSITIONS``; a test holds the two together).
INFO_RESUME_STATUSES = (CaseStatus.CONFIRMED, CaseStatus.VERIFIED)


class Channel(enum.StrEnum):
    """How the request reached the organisation (docs/legal-rules.md D1: any official channel)."""

    PORTAL = "portal"
    EMAIL = "email"
    POST = "post"
    PHONE = "phone"
    API = "api"
    #: Handed over at a desk or an office (filed by staff, ``dsar.cases.channel_intake``).
    IN_PERSON = "in_person"


class ActorType(enum.StrEnum):
    """Who did something recorded in the audit trail."""

    REQUESTER = "requester"
    STAFF = "staff"
    WORKER = "worker"
    SYSTEM = "system"


class StaffRole(enum.StrEnum):
    """Least-privilege roles of the back office (docs/security.md)."""

    AGENT = "agent"
    DPO = "dpo"
    AUDITOR = "auditor"
    ADMIN = "admin"


class ProofKind(enum.StrEnum):
    """What an uploaded document is meant to prove."""

    IDENTITY = "identity"
    MANDATE = "mandate"
    DEATH_CERTIFICATE = "death_certificate"
    HEIR_STATUS = "heir_status"
    OTHER = "other"
    #: How a request filed by staff reached the organisation on its date (the e-mail as
    #: ``.eml``, a scan of the letter): the proof of the date the clock runs from.
    EVIDENCE = "evidence"


class MailTemplate(enum.StrEnum):
    """The e-mails a case can send; each has ``templates/email/<name>.txt``."""

    CONFIRM_EMAIL = "confirm_email"
    ACKNOWLEDGEMENT = "acknowledgement"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"
    INFO_REQUEST = "info_request"
    EXTENDED = "extended"
    REJECTED = "rejected"
    PARTIALLY_REFUSED = "partially_refused"
    PACKAGE_READY = "package_ready"
    DOWNLOAD_CODE = "download_code"
    # To staff (``OutboundEmail.recipient_staff_id``):
    STAFF_REMINDER = "staff_reminder"
    OVERDUE_DIGEST = "overdue_digest"
    #: A new account's one-time link to choose its password.
    STAFF_SETUP = "staff_setup"
    #: To every DPO: a DPO or administrator account was created, or a role was raised.
    STAFF_ROLE_NOTICE = "staff_role_notice"
    # To the requester again:
    #: The DPO revoked the case's links; the new status link.
    LINKS_RENEWED = "links_renewed"
    #: An erasure's plan was approved: it is being carried out (the certificate follows).
    CHANGE_UNDER_WAY = "change_under_way"
    # To a recipient of the data (``payload["notice_id"]``; address from register.toml):
    #: The person's data was erased: erase it too (Art. 19).
    RECIPIENT_NOTICE = "recipient_notice"
    # To the requester, before a restriction is lifted (Art. 18(3)), with the date:
    RESTRICTION_LIFT_NOTICE = "restriction_lift_notice"
    #: Post-mortem directives changed or revoked from the status page (a warning if it was
    #: not the person).
    DIRECTIVES_CHANGED = "directives_changed"
    #: To the requester, when the answer being prepared masks other people's data: a partial
    #: refusal is notified when it is decided (Art. 12(4)), not at the release.
    MASKED_DATA_NOTICE = "masked_data_notice"


#: Templates addressed to a staff member rather than to the requester.
STAFF_TEMPLATES = frozenset({MailTemplate.STAFF_REMINDER, MailTemplate.OVERDUE_DIGEST,
                             MailTemplate.STAFF_SETUP, MailTemplate.STAFF_ROLE_NOTICE})


class IdentityMethod(enum.StrEnum):
    """How staff satisfied themselves of the requester's identity (docs/legal-rules.md §3)."""

    EMAIL_AND_IDENTIFIERS = "email_and_identifiers"
    DOCUMENT = "document"
    KNOWN_CONTACT = "known_contact"
    OTHER = "other"


class MailStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
