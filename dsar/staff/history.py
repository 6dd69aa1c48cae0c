"""The audit trail in words, for the back office: each event a sentence in the staff member's
language ("Demande déposée par le demandeur", "E-mail envoyé : accusé de réception", "Consultée
par Marie Dupont"), with staff names and case references instead of internal ids, and
repeated views by the same person collapsed into one line ("Consultée 14 fois par …").

The events themselves stay as they are written (codes and ids: the hash-chained record,
``dsar.core.audit``); this module only reads them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import select

from dsar.extensions import db
from dsar.i18n import STAFF_STATUS_LABELS
from dsar.models import ActorType, AuditEvent, Case, CaseStatus, StaffUser

#: What each e-mail is, in words.
MAIL_LABELS = {
    "confirm_email": _l("confirmation request"),
    "acknowledgement": _l("acknowledgement of receipt"),
    "withdrawn": _l("withdrawal confirmed"),
    "expired": _l("request not confirmed in time"),
    "info_request": _l("question to the requester"),
    "extended": _l("extension of the deadline"),
    "rejected": _l("refusal"),
    "partially_refused": _l("partial refusal"),
    "package_ready": _l("answer ready"),
    "download_code": _l("download code"),
    "staff_reminder": _l("deadline reminder"),
    "overdue_digest": _l("overdue cases"),
    "staff_setup": _l("account set-up"),
    "staff_role_notice": _l("role changed"),
    "links_renewed": _l("new links"),
    "change_under_way": _l("change under way"),
    "recipient_notice": _l("notice to a recipient"),
    "restriction_lift_notice": _l("restriction to be lifted"),
    "directives_changed": _l("directives changed"),
}

#: Each event's sentence; ``%(actor)s`` is who did it, in words.
SENTENCES = {
    "case.created": _l("Request filed by %(actor)s"),
    "case.filed_by_staff": _l("Request received by another channel, filed by %(actor)s"),
    "case.viewed": _l("Viewed by %(actor)s"),
    "case.assigned": _l("Assigned by %(actor)s"),
    "case.note_added": _l("Note added by %(actor)s"),
    "case.duplicate_linked": _l("Marked as a duplicate by %(actor)s"),
    "case.extended": _l("Deadline extended by two months by %(actor)s"),
    "case.refused_late": _l("Refusal notified after the one-month date, by %(actor)s"),
    "case.partially_refused": _l("Partly refused by %(actor)s"),
    "case.marked_unfounded": _l("Marked manifestly unfounded or excessive by %(actor)s"),
    "case.possibly_excessive": _l("Flagged as possibly excessive (many requests from this "
                                  "address in 24 hours)"),
    "case.info_requested": _l("Question sent to the requester by %(actor)s"),
    "case.info_answered": _l("Answer received from the requester"),
    "case.links_revoked": _l("Requester's links revoked by %(actor)s"),
    "case.followed_up": _l("Follow-up of the partial answer recorded by %(actor)s"),
    "case.purged": _l("Personal data removed at the end of the retention period"),
    "identity.verified": _l("Identity checked by %(actor)s; documents deleted"),
    "deceased.confirmed": _l("Deceased person confirmed by %(actor)s"),
    "proof.viewed": _l("Document opened by %(actor)s"),
    "proof.purged": _l("Document deleted"),
    "gather.source_done": _l("A source was searched"),
    "gather.source_failed": _l("A source could not be searched"),
    "gather.rerun_requested": _l("Source searched again at the request of %(actor)s"),
    "package.built": _l("Answer prepared"),
    "package.previewed": _l("Answer previewed by %(actor)s"),
    "package.released": _l("Answer released by %(actor)s"),
    "package.downloaded": _l("Answer downloaded by the requester"),
    "package.expired": _l("Answer deleted (download period over)"),
    "package.transmission_requested": _l("Transmission to the other organisation asked by "
                                         "%(actor)s"),
    "package.transmitted": _l("Data transmitted to the other organisation"),
    "download.code_requested": _l("Download code asked for by the requester"),
    "download.code_failed": _l("Wrong download code entered"),
    "download.code_refused": _l("Download code refused"),
    "plan.approved": _l("Plan approved by %(actor)s"),
    "plan.item_kept": _l("Data kept under an exception, by %(actor)s"),
    "plan.correction_added": _l("Correction prepared by %(actor)s"),
    "plan.correction_removed": _l("Correction removed by %(actor)s"),
    "plan.correction_refused": _l("Correction refused by %(actor)s"),
    "plan.refusal_removed": _l("Refusal of a correction withdrawn by %(actor)s"),
    "plan.objection_decided": _l("Decision on an objection taken by %(actor)s"),
    "plan.step_done": _l("Change carried out in a source"),
    "plan.step_failed": _l("A change could not be carried out in a source"),
    "plan.verified": _l("Changes checked in the sources"),
    "postmortem.chosen": _l("Decision on a deceased person's data taken by %(actor)s"),
    "notice.decided": _l("Notice to a recipient recorded by %(actor)s"),
    "restriction.added": _l("Entered in the register of restrictions"),
    "restriction.lift_announced": _l("Lift of the restriction announced by %(actor)s"),
    "restriction.lifted": _l("Restriction lifted"),
    "statement.recorded": _l("The requester's statement recorded"),
    "statement.deleted": _l("The requester's statements deleted"),
    "suppression.added": _l("Address added to the list of people not to contact"),
    "directive.recorded": _l("Directives recorded"),
    "directive.revoked": _l("Directives revoked"),
    "access.denied": _l("Action refused to %(actor)s (not allowed for their role)"),
    "acknowledgement.viewed": _l("Acknowledgement letter printed by %(actor)s"),
    "audit.viewed": _l("Audit trail viewed by %(actor)s"),
    "audit.head_sealed": _l("Audit trail sealed"),
    "directives.searched": _l("Directives searched by %(actor)s"),
    "staff.login": _l("Signed in: %(actor)s"),
    "staff.login_failed": _l("Failed sign-in"),
    "staff.locked": _l("Account locked after failed sign-ins"),
    "staff.created": _l("Staff account created by %(actor)s"),
    "staff.role_changed": _l("Staff member's role changed by %(actor)s"),
    "staff.password_reset": _l("Password reset by %(actor)s"),
    "staff.setup_link_sent": _l("Set-up link sent by %(actor)s"),
    "staff.totp_enrolled": _l("Two-step sign-in set up by %(actor)s"),
    "staff.totp_change_started": _l("Change of the two-step sign-in started by %(actor)s"),
    "staff.totp_rekeyed": _l("Two-step sign-in changed by %(actor)s"),
    "staff.logout": _l("Signed out: %(actor)s"),
    "staff.session_expired": _l("Session expired: %(actor)s"),
    "staff.signed_out_everywhere": _l("Signed out on every device: %(actor)s"),
    "staff.password_changed": _l("Password changed by %(actor)s"),
    "staff.password_set": _l("Password chosen by %(actor)s"),
    "staff.unlock": _l("Staff account unlocked by %(actor)s"),
    "staff.deactivate": _l("Staff account deactivated by %(actor)s"),
    "staff.activate": _l("Staff account reactivated by %(actor)s"),
}


@dataclass(frozen=True)
class HistoryLine:
    """One line of a case's history: when (the first and last moment, for collapsed views),
    what, in words."""

    first_at: datetime
    last_at: datetime
    text: str
    action: str
    count: int = 1
    #: Who, in words (to say "viewed 14 times by …").
    actor: str = ""


def actor_names(events: Iterable[AuditEvent]) -> dict[int, str]:
    """Staff id -> name (or address) for the staff events among ``events``, in one query."""
    ids = {int(e.actor_id) for e in events
           if e.actor_type is ActorType.STAFF and str(e.actor_id or "").isdigit()}
    if not ids:
        return {}
    return {s.id: s.name or s.email
            for s in db.session.scalars(select(StaffUser).where(StaffUser.id.in_(ids)))}


def actor_words(event: AuditEvent, names: dict[int, str]) -> str:
    """Who did it, in words."""
    if event.actor_type is ActorType.STAFF:
        staff_id = int(event.actor_id) if str(event.actor_id or "").isdigit() else None
        return names.get(staff_id, str(_l("a staff member")))
    if event.actor_type is ActorType.REQUESTER:
        return str(_l("the requester"))
    return str(_l("the system"))


def sentence(event: AuditEvent, names: dict[int, str]) -> str:
    """One event in words."""
    payload = event.payload or {}
    actor = actor_words(event, names)
    if event.action == "case.status_changed":
        target = payload.get("to")
        label = (STAFF_STATUS_LABELS[CaseStatus(target)]
                 if target in {s.value for s in CaseStatus} else target)
        return str(_l("Status: %(status)s (%(actor)s)", status=label, actor=actor))
    if event.action == "case.created" and payload.get("channel") not in (None, "portal"):
        return str(_l("Request recorded (received by another channel than the portal)"))
    if event.action == "email.sent":
        label = MAIL_LABELS.get(payload.get("template"), payload.get("template"))
        return str(_l("E-mail sent: %(what)s", what=label))
    text = SENTENCES.get(event.action)
    if text is None:
        return event.action  # an event this list does not know yet: its code, never nothing
    # A mapping fills the sentences that name the actor and leaves the others as they are.
    return str(text) % {"actor": actor}


def case_history(events: Sequence[AuditEvent]) -> list[HistoryLine]:
    """A case's events in words, oldest first, consecutive views by the same person
    collapsed into one line."""
    names = actor_names(events)
    lines: list[HistoryLine] = []
    for event in events:
        last = lines[-1] if lines else None
        actor = actor_words(event, names)
        if (event.action == "case.viewed" and last is not None and last.action == "case.viewed"
                and last.actor == actor):
            lines[-1] = HistoryLine(last.first_at, event.created_at, last.text, last.action,
                                    last.count + 1, actor)
            continue
        lines.append(HistoryLine(event.created_at, event.created_at, sentence(event, names),
                                 event.action, 1, actor))
    return [_collapsed(line) for line in lines]


def _collapsed(line: HistoryLine) -> HistoryLine:
    if line.count == 1:
        return line
    return HistoryLine(line.first_at, line.last_at, ngettext(
        "Viewed %(num)d times by %(actor)s", "Viewed %(num)d times by %(actor)s", line.count,
        actor=line.actor), line.action, line.count, line.actor)


def case_references(events: Iterable[AuditEvent]) -> dict[int, str]:
    """Case id -> reference for the events' cases, in one query (the audit trail page)."""
    ids = {e.case_id for e in events if e.case_id}
    if not ids:
        return {}
    return dict(db.session.execute(select(Case.id, Case.reference).where(Case.id.in_(ids))).all())
