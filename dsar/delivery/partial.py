"""An answer released while some sources could not be searched: the case is **answered in
part**, never plainly completed. The missing sources are named to the person (the e-mail,
the status page) and to staff (the case page, the dashboard's list of follow-ups), and the case
stays on that list until the DPO records the follow-up: what was done about the missing part
(the source searched again and a supplement sent, or why it cannot be)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, text

from dsar.cases.refusals import ActionRefused, required_text
from dsar.core.audit import record_event
from dsar.extensions import db
from dsar.models import ActorType, Case, StaffUser
from dsar.models.case import TO_FOLLOW_UP_SQL
from dsar.models.types import utcnow


def mark_answered_in_part(case: Case, missing: list[str]) -> None:
    """At release (caller's transaction): the answer went without ``missing`` sources."""
    if missing:
        case.missing_sources = sorted(missing)


def can_follow_up(case: Case) -> bool:
    """Whether the case waits for the DPO's follow-up of a partial answer."""
    return case.answered_in_part and case.follow_up_at is None


def record_follow_up(case: Case, staff: StaffUser, note: str) -> None:
    """The DPO records the follow-up of a partial answer (caller commits)."""
    note = required_text(note, _l("Please say what was done about the missing part."))
    if not can_follow_up(case):
        raise ActionRefused(_l("This case has no partial answer to follow up."))
    case.follow_up_note = note
    case.follow_up_at = utcnow()
    record_event("case.followed_up", case=case, actor_type=ActorType.STAFF, actor_id=staff.id,
                 payload={"missing_sources": case.missing_sources or []})


def follow_up_action(case: Case, staff: StaffUser, form) -> None:
    """The case page's "follow_up" action (DPO)."""
    record_follow_up(case, staff, form.get("note"))
    db.session.commit()


def to_follow_up(limit: int = 50) -> list[Case]:
    """Answers released in part whose follow-up is still to do, oldest first."""
    return list(db.session.scalars(select(Case).where(text(TO_FOLLOW_UP_SQL))
                                   .order_by(Case.closed_at, Case.id).limit(limit)))
