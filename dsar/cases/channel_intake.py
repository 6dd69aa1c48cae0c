"""Filing a request that reached the organisation by e-mail, post, telephone or in person
(docs/channels.md, docs/legal-rules.md D1): staff type it in with its real date of receipt,
which the clock runs from.

A date before today needs a note of how it came and the evidence of that date (the e-mail as
``.eml``, a scan of the letter); a date in the future is refused. The documents are stored
encrypted like the portal's, the case is audited as ``case.filed_by_staff`` (the channel and
how many days back, nothing personal). With an e-mail address the person confirms it by the
usual link; without one the case waits for staff, who check the identity by other means
(``dsar.cases.workflow.waits_for_staff``) and send the printable acknowledgement letter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from flask_babel import lazy_gettext as _l

from dsar.cases.clock import today_in_paris
from dsar.cases.intake import flag_if_excessive
from dsar.cases.proofs import store_upload
from dsar.cases.workflow import create_case
from dsar.core import storage
from dsar.core.audit import record_event
from dsar.deadlines import PARIS
from dsar.extensions import db
from dsar.mail.outbox import commit_and_send, queue_email
from dsar.models import ActorType, Case, CaseKind, Channel, MailTemplate, ProofKind, StaffUser
from dsar.models.types import utcnow

#: The channels staff file from (the portal and the API file their own requests).
STAFF_CHANNELS = (Channel.EMAIL, Channel.POST, Channel.PHONE, Channel.IN_PERSON)
#: The kinds staff file from another channel. Post-mortem requests need the portal's own
#: forms (the register's categories, the deceased person's identifiers).
STAFF_KINDS = (CaseKind.ACCESS, CaseKind.PORTABILITY, CaseKind.RECTIFICATION,
               CaseKind.ERASURE, CaseKind.RESTRICTION, CaseKind.OBJECTION)
#: The audit action of a request filed by staff.
FILED_EVENT = "case.filed_by_staff"

Upload = tuple[bytes, str]


class FilingRefused(ValueError):
    """The filing cannot be accepted as given: ``field`` is the form's field the ``message``
    belongs at."""

    def __init__(self, field: str, message):
        super().__init__(field)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class StaffFiling:
    """What staff typed in about a request received from another channel (files already
    checked by content: bytes and their real type)."""

    kind: CaseKind
    channel: Channel
    received_on: date
    requester_name: str
    language: str
    message: str
    requester_email: str = ""
    postal_address: str = ""
    channel_note: str = ""
    evidence: Upload | None = None
    documents: tuple[Upload, ...] = ()


def check_filing(filing: StaffFiling, today: date | None = None) -> None:
    """Raise ``FilingRefused`` at the first rule ``filing`` breaks: a channel and kind staff
    file, a name, an address for an e-mailed request, a date of receipt that is not in the
    future and, before today, comes with a note of the channel and its evidence."""
    today = today or today_in_paris()
    if filing.channel not in STAFF_CHANNELS:
        raise FilingRefused("channel", _l("Please choose how the request was received."))
    if filing.kind not in STAFF_KINDS:
        raise FilingRefused("kind", _l("Please choose the kind of request."))
    if not filing.requester_name.strip():
        raise FilingRefused("requester_name", _l("This field is required."))
    if filing.channel is Channel.EMAIL and not filing.requester_email.strip():
        raise FilingRefused("requester_email",
                            _l("A request received by e-mail needs the sender's address."))
    if filing.received_on > today:
        raise FilingRefused("received_on", _l("The date of receipt cannot be in the future."))
    if filing.received_on < today:
        if not filing.channel_note.strip():
            raise FilingRefused("channel_note", _l(
                "A request received before today needs a note of how it was received."))
        if filing.evidence is None:
            raise FilingRefused("evidence", _l(
                "A request received before today needs its evidence: the e-mail (.eml) or "
                "a scan of the letter."))


def received_at_for(received_on: date, now: datetime | None = None) -> datetime:
    """When the request is taken to have arrived: now if ``received_on`` is today (Paris),
    else noon in Paris that day (the hour is not known; noon keeps the Paris date whatever
    the offset)."""
    now = now or utcnow()
    if received_on == now.astimezone(PARIS).date():
        return now
    return datetime.combine(received_on, time(12), tzinfo=PARIS)


def _store_all(filing: StaffFiling) -> list:
    """The evidence and the documents stored encrypted (proof rows, not yet on a case); if
    one fails, those already stored are deleted."""
    proofs = []
    try:
        if filing.evidence is not None:
            proofs.append(store_upload(filing.evidence, ProofKind.EVIDENCE))
        for document in filing.documents:
            proofs.append(store_upload(document, ProofKind.OTHER))
    except Exception:
        for proof in proofs:
            storage.delete(proof.blob_id)
        raise
    return proofs


def file_by_staff(filing: StaffFiling, staff: StaffUser) -> Case:
    """Open the case ``filing`` describes, all or nothing, and commit: checked first
    (``FilingRefused``, nothing stored), its documents stored encrypted, the case created
    with its channel and date of receipt (the due date counts from it), audited as
    ``case.filed_by_staff``; with an e-mail address the usual confirmation e-mail is
    queued, then enqueued after the commit. If anything fails, the stored documents are
    deleted."""
    check_filing(filing)
    proofs = _store_all(filing)
    email = filing.requester_email.strip()
    details = {key: value.strip() for key, value in (
        ("postal_address", filing.postal_address), ("channel_note", filing.channel_note))
        if value.strip()}
    try:
        case = create_case(
            kind=filing.kind, requester_name=filing.requester_name.strip(),
            requester_email=email, language=filing.language, channel=filing.channel,
            details=details, message=filing.message.strip(),
            received_at=received_at_for(filing.received_on), proofs=proofs)
        record_event(FILED_EVENT, case=case, actor_type=ActorType.STAFF, actor_id=staff.id,
                     payload={"channel": str(filing.channel),
                              "backdated_days": (today_in_paris() - case.received_on).days})
        if email:
            flag_if_excessive(case)
            commit_and_send(queue_email(case, MailTemplate.CONFIRM_EMAIL))
        else:
            db.session.commit()
    except Exception:
        db.session.rollback()
        for proof in proofs:
            storage.delete(proof.blob_id)
        raise
    return case
