"""The staff actions on a case (issue 3). Each function checks the business rules, changes the
case, writes its audit event and queues the requester's e-mail in one transaction, then commits
and enqueues. Role checks are the caller's (``dsar.staff.access``), so these stay testable
without HTTP. A refused action raises ``ActionRefused`` (``dsar.cases.refusals``) with a
message for the user and changes nothing. The requester's own actions are
``dsar.cases.requester_actions``."""

from __future__ import annotations

from flask_babel import format_date
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from dsar import pipeline
from dsar.cases.clock import one_month_deadline, today_in_paris
from dsar.cases.proofs import delete_case_proofs
from dsar.cases.refusals import TEXT_MAX, ActionRefused, required_text
from dsar.cases.workflow import InvalidTransition, refresh_due_date, transition
from dsar.core.audit import record_event
from dsar.core.tokens import normalise_reference
from dsar.extensions import db
from dsar.mail.outbox import commit_and_send, queue_email
from dsar.models import (
    CHANGE_KINDS,
    CLOCK_RUNNING_STATUSES,
    STANDING_STATUSES,
    ActorType,
    Case,
    CaseKind,
    CaseNote,
    CaseStatus,
    ChangePlan,
    ClockPause,
    IdentityMethod,
    InfoRequest,
    MailTemplate,
    PlanStatus,
    StaffRole,
    StaffUser,
)
from dsar.models.types import utcnow
from dsar.postmortem import matching
from dsar.search import gathering

#: The roles a case can be assigned to.
ASSIGNABLE_ROLES = (StaffRole.AGENT, StaffRole.DPO)


def move_case(case: Case, target: CaseStatus, staff: StaffUser,
              payload: dict | None = None) -> None:
    """Change the status by a staff action; a move the state machine forbids is refused."""
    try:
        transition(case, target, actor_type=ActorType.STAFF, actor_id=staff.id, payload=payload)
    except InvalidTransition:
        raise ActionRefused(
            _l("This action is not possible while the case is in this state.")) from None


def add_note(case: Case, staff: StaffUser, body: str) -> CaseNote:
    """An internal note (never shown to the requester)."""
    body = required_text(body, _l("Please write the note."))
    note = CaseNote(case_id=case.id, author_id=staff.id, body=body)
    db.session.add(note)
    db.session.flush()
    record_event("case.note_added", case=case, actor_type=ActorType.STAFF, actor_id=staff.id,
                 payload={"note_id": note.id})
    db.session.commit()
    return note


def verify_identity(case: Case, staff: StaffUser, method: str, note: str | None,
                    deceased=None) -> None:
    """Record the identity decision; the proof documents are deleted at once (docs/legal-rules.md
    §3), only "checked on D by U, method M" remains. For a deceased person's rights, staff
    confirm the deceased's identifiers against the documents in the same decision
    (``deceased``: the form's ``deceased_email``, ``deceased_customer_number``,
    ``date_of_death``), before the documents go."""
    try:
        method = IdentityMethod(method)
    except ValueError:
        raise ActionRefused(_l("Please choose how the identity was checked.")) from None
    if method in (IdentityMethod.OTHER, IdentityMethod.DOCUMENT) and not (note or "").strip():
        raise ActionRefused(_l("Please say in the note what was checked."))
    if case.kind is CaseKind.POSTMORTEM_EXECUTION and method is not IdentityMethod.DOCUMENT:
        # Décret 2019-536, art. 124: the documents are what proves the death and the right.
        raise ActionRefused(_l("A deceased person's rights are checked on the documents: "
                               "choose \"Document\"."))
    move_case(case, CaseStatus.VERIFIED, staff, {"method": str(method)})
    if case.kind is CaseKind.POSTMORTEM_EXECUTION:
        matching.confirm(case, staff, deceased or {})
    today = today_in_paris()
    summary = f"checked on {today.isoformat()} by staff {staff.id}, method {method}"
    if note and note.strip():
        summary += f": {note.strip()[:TEXT_MAX]}"
    case.identity_verified_at = utcnow()
    case.identity_note = summary
    deleted = delete_case_proofs(case, summary)
    record_event("identity.verified", case=case, actor_type=ActorType.STAFF, actor_id=staff.id,
                 payload={"method": str(method), "proofs_deleted": deleted})
    db.session.commit()


def ask_info(case: Case, staff: StaffUser, question: str, doubt: str | None = None
             ) -> InfoRequest:
    """Ask the requester for information. The clock pauses from today only when staff record
    a reasonable doubt about the requester's identity (``doubt``: its reason, kept on the
    pause); a question about the scope or to clarify the request leaves it running
    (docs/legal-rules.md D8)."""
    question = required_text(question, _l("Please write the question."))
    if not (case.requester_email or "").strip():
        raise ActionRefused(_l("This person gave no e-mail address: write to them by post (the "
                               "question could not be answered here, nor the clock paused)."))
    doubt = (doubt or "").strip()[:TEXT_MAX]
    resume = CaseStatus(case.status)
    move_case(case, CaseStatus.NEEDS_INFO, staff)
    pause = None
    if doubt:
        pause = ClockPause(case=case, started_on=today_in_paris(),
                           reason=f"identity doubt: {doubt}")
        db.session.add(pause)
        db.session.flush()
    request = InfoRequest(case_id=case.id, asked_by_id=staff.id, question=question,
                          resume_status=resume, pause_id=pause.id if pause else None)
    db.session.add(request)
    db.session.flush()
    refresh_due_date(case)
    record_event("case.info_requested", case=case, actor_type=ActorType.STAFF,
                 actor_id=staff.id, payload={"info_request_id": request.id,
                                             "clock_paused": pause is not None})
    commit_and_send(queue_email(case, MailTemplate.INFO_REQUEST))
    return request


def late_days(case: Case, late_confirmed: bool, message) -> int:
    """How many days past the one-month date an extension or a refusal is notified (0: in
    time, or a standing record, which has no clock). Past it, the law's limit (Art. 12(3),
    12(4)) is missed: staff must say so explicitly (``late_confirmed``), and the lateness is
    recorded with the decision; else ``ActionRefused`` with ``message(the date in words)``."""
    if case.status in STANDING_STATUSES:
        return 0
    last_day = one_month_deadline(case)
    late = (today_in_paris() - last_day).days
    if late <= 0:
        return 0
    if not late_confirmed:
        raise ActionRefused(message(format_date(last_day, "long")))
    return late


def extend(case: Case, staff: StaffUser, reason: str, late_confirmed: bool = False) -> None:
    """Extend by two months (Art. 12(3)): DPO only (checked by the caller), once, with a reason
    that is sent to the requester. After the one-month date only with ``late_confirmed``: the
    law's limit is missed, and the lateness is recorded (docs/legal-rules.md D6)."""
    reason = required_text(reason, _l("Please give the reason for the extension."))
    if not case.status.is_open:
        raise ActionRefused(_l("This case is closed."))
    if case.status not in CLOCK_RUNNING_STATUSES | {CaseStatus.NEEDS_INFO}:
        # Waiting for an answer is no reason not to extend: the clock may well be running.
        raise ActionRefused(_l("This action is not possible while the case is in this state."))
    if case.extended:
        raise ActionRefused(_l("This case has already been extended; the law allows it once."))
    late = late_days(case, late_confirmed, lambda day: _l(
        "Late: an extension had to be notified by %(date)s (one month after receipt). To "
        "notify it all the same, tick the box: the lateness is recorded.", date=day))
    case.extended = True
    case.extension_reason = reason
    case.extended_at = utcnow()
    refresh_due_date(case)
    record_event("case.extended", case=case, actor_type=ActorType.STAFF, actor_id=staff.id,
                 payload={"due_on": case.due_on.isoformat(), "late_days": late})
    commit_and_send(queue_email(case, MailTemplate.EXTENDED))


def reject(case: Case, staff: StaffUser, scope: str, reasons: str,
           late_confirmed: bool = False) -> None:
    """Refuse fully (the case closes) or partly (it goes on). The notice gives the reasons and
    the rights to complain to the CNIL and to a judicial remedy (Art. 12(4)). After the
    one-month date only with ``late_confirmed`` (the lateness is recorded, D6)."""
    reasons = required_text(reasons, _l("Please give the reasons for the refusal."))
    late = 0
    if scope in ("full", "partial") and case.status.is_open:
        late = late_days(case, late_confirmed, lambda day: _l(
            "Late: a refusal had to be notified by %(date)s (one month after receipt). To "
            "notify it all the same, tick the box: the lateness is recorded.", date=day))
    if late:
        record_event("case.refused_late", case=case, actor_type=ActorType.STAFF,
                     actor_id=staff.id, payload={"scope": scope, "late_days": late})
    if scope == "full":
        move_case(case, CaseStatus.REJECTED, staff, {"scope": "full"})
        case.refusal_reasons = reasons
        template = MailTemplate.REJECTED
    elif scope == "partial":
        if not case.status.is_open:
            raise ActionRefused(_l("This case is closed."))
        case.partial_refusal_reasons = reasons
        record_event("case.partially_refused", case=case, actor_type=ActorType.STAFF,
                     actor_id=staff.id)
        template = MailTemplate.PARTIALLY_REFUSED
    else:
        raise ActionRefused(_l("Please choose a full or a partial refusal."))
    commit_and_send(queue_email(case, template))


def mark_unfounded(case: Case, staff: StaffUser, justification: str) -> None:
    """Record that the request is manifestly unfounded or excessive (Art. 12(5)), with the
    DPO's written justification. It does not close the case: refusing is a separate step."""
    justification = required_text(justification, _l("Please write the justification."))
    if not case.status.is_open:
        raise ActionRefused(_l("This case is closed."))
    case.manifestly_unfounded = True
    case.unfounded_justification = justification
    record_event("case.marked_unfounded", case=case, actor_type=ActorType.STAFF,
                 actor_id=staff.id)
    db.session.commit()


def assign(case: Case, staff: StaffUser, assignee_id: int | None) -> None:
    """Give the case to an agent or the DPO (or to nobody)."""
    if assignee_id is not None:
        assignee = db.session.get(StaffUser, assignee_id)
        if assignee is None or not assignee.is_active or assignee.role not in ASSIGNABLE_ROLES:
            raise ActionRefused(_l("Cases can be assigned to active agents and DPOs only."))
    case.assignee_id = assignee_id
    record_event("case.assigned", case=case, actor_type=ActorType.STAFF, actor_id=staff.id,
                 payload={"assignee_id": assignee_id})
    db.session.commit()


def assignable_staff() -> list[StaffUser]:
    """The active accounts a case can be assigned to, by name."""
    return list(db.session.scalars(
        select(StaffUser).where(StaffUser.role.in_(ASSIGNABLE_ROLES),
                                StaffUser.is_active_account.is_(True)).order_by(StaffUser.name)))


def link_duplicate(case: Case, staff: StaffUser, original_reference: str) -> None:
    """Mark ``case`` as repeating an open case of the same person and kind."""
    original = db.session.scalar(
        select(Case).where(Case.reference == normalise_reference(original_reference or "")))
    if original is None or original.id == case.id:
        raise ActionRefused(_l("No other case has this reference."))
    if (not case.email_normalized or original.email_normalized != case.email_normalized
            or original.kind != case.kind or not original.status.is_open):
        raise ActionRefused(_l(
            "A duplicate must be of the same person and kind as an open original."))
    case.duplicate_of_id = original.id
    record_event("case.duplicate_linked", case=case, actor_type=ActorType.STAFF,
                 actor_id=staff.id, payload={"original_case_id": original.id})
    db.session.commit()


#: Kinds whose processing starts with a search of every source: for the requester, or for a
#: deceased person on the identifiers staff confirmed (``dsar.postmortem.matching``).
#: Directives are a standing record: nothing to search.
GATHERED_KINDS = frozenset({
    CaseKind.ACCESS, CaseKind.PORTABILITY, CaseKind.RECTIFICATION, CaseKind.ERASURE,
    CaseKind.RESTRICTION, CaseKind.OBJECTION, CaseKind.POSTMORTEM_EXECUTION,
})


def search_again(case: Case, staff: StaffUser, confirmed: bool) -> None:
    """Search every source again for a case in review ("Relancer la recherche"): what was
    found is replaced, so staff confirm it explicitly."""
    if case.status is not CaseStatus.REVIEW:
        raise ActionRefused(_l("This action is not possible while the case is in this state."))
    if not confirmed:
        raise ActionRefused(_l("Please confirm: the sources are searched again and what was "
                               "found replaces the results reviewed so far."))
    start_processing(case, staff, again=True)


def start_processing(case: Case, staff: StaffUser, *, again: bool = False) -> None:
    """Hand a verified case to processing: the search of every source starts (the gather
    jobs are queued after the commit); the case then waits in ``review``. From ``review``
    only through :func:`search_again` (``again``), which staff confirm."""
    if case.status is CaseStatus.REVIEW and not again:
        raise ActionRefused(_l("This request was already searched: search again instead."))
    if plan_locked(case):
        raise ActionRefused(_l("The plan of this request was approved: it is not searched "
                               "again."))
    matching.check_searchable(case)
    if case.kind is not CaseKind.POSTMORTEM_EXECUTION and not case.email_normalized:
        # An empty search would look like a complete answer "we hold nothing about you".
        raise ActionRefused(_l("This person gave no e-mail address: there is nothing to search "
                               "our systems by. Ask them for the address they used with us "
                               "(by post), or answer by hand."))
    move_case(case, CaseStatus.IN_PROGRESS, staff)
    planned = gathering.prepare(case) if case.kind in GATHERED_KINDS else []
    db.session.commit()
    pipeline.start(planned)
    if case.kind in GATHERED_KINDS and gathering.all_finished(case.id):
        # Nothing could be searched by the e-mail address: the fan-in decides at once.
        pipeline.enqueue_collect(case.id, gathering.current_round(case.id))


def rerun_source(case: Case, staff: StaffUser, source: str) -> None:
    """Search one source again after it failed (or to refresh it)."""
    if plan_locked(case):
        raise ActionRefused(_l("The plan of this request was approved: it is not searched "
                               "again."))
    if case.status not in gathering.GATHERING_STATUSES:
        raise ActionRefused(_l("This action is not possible while the case is in this state."))
    try:
        planned = gathering.rerun(case, source)
    except ValueError:
        raise ActionRefused(_l("This source cannot be searched again now.")) from None
    record_event("gather.rerun_requested", case=case, actor_type=ActorType.STAFF,
                 actor_id=staff.id, payload={"source": source})
    db.session.commit()
    pipeline.start([planned])


def plan_locked(case: Case) -> bool:
    """Whether ``case`` has a plan a DPO approved (being carried out, or done): its search
    is no longer to change."""
    if case.kind not in CHANGE_KINDS:
        return False
    return db.session.scalar(select(ChangePlan.status).where(ChangePlan.case_id == case.id)) in (
        PlanStatus.APPROVED, PlanStatus.CARRIED_OUT, PlanStatus.VERIFIED)
