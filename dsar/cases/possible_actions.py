"""Which staff actions the state of a case allows at all, so that the case page offers only
what would work. The actions check their own rules again when they run
(``dsar.cases.staff_actions``, ``dsar.delivery.release``, ``dsar.cases.links``); who may do
what is ``dsar.cases.permissions``."""

from __future__ import annotations

from sqlalchemy import select

from dsar.cases import links
from dsar.cases.staff_actions import plan_locked
from dsar.cases.workflow import move_allowed
from dsar.changes.objection import is_direct_marketing
from dsar.changes.restriction import can_lift
from dsar.delivery import release
from dsar.delivery.partial import can_follow_up
from dsar.exports.build import current_package
from dsar.extensions import db
from dsar.models import (
    CHANGE_KINDS,
    CLOCK_RUNNING_STATUSES,
    STANDING_STATUSES,
    Case,
    CaseKind,
    CaseStatus,
    ChangePlan,
    PlanStatus,
)
from dsar.postmortem import matching
from dsar.search.gathering import GATHERING_STATUSES

#: Actions that need the case to move to a status: possible when the state machine allows it.
_MOVES = {"verify": CaseStatus.VERIFIED, "ask": CaseStatus.NEEDS_INFO,
          "start": CaseStatus.IN_PROGRESS}
#: Actions on a plan still to approve, and the kinds that have them.
_PLAN_ACTIONS = {
    "approve": CHANGE_KINDS,
    "keep": {CaseKind.ERASURE},
    "correct": {CaseKind.RECTIFICATION},
    "remove_correction": {CaseKind.RECTIFICATION},
    "refuse_correction": {CaseKind.RECTIFICATION},
    "remove_refusal": {CaseKind.RECTIFICATION},
    "decide": {CaseKind.OBJECTION},
    "choose": {CaseKind.POSTMORTEM_EXECUTION},
}


def possible(case: Case, action: str) -> bool:
    """Whether ``case``'s state allows ``action`` (a name of the case page's actions: note,
    assign, verify, ask, start, rerun, transmit, release, extend, revoke_links, the plan's
    actions, lift; the others while the case is open)."""
    status = CaseStatus(case.status)
    if action in ("note", "assign"):
        return True
    if action == "follow_up":
        return can_follow_up(case)
    if status in STANDING_STATUSES:
        # A standing record waits for nothing: no deadline to extend, nothing to search.
        return action in ("reject", "revoke_links") and (
            action != "revoke_links" or links.links_alive(case))
    if action in ("start", "rerun", "search_again") and plan_locked(case):
        return False  # the plan approved: searching again would rebuild it under the DPO
    if action == "start" and not matching.searchable(case):
        return False  # a deceased person not confirmed yet, or a refusal to send
    if action in ("start", "ask") and not case.email_normalized \
            and case.kind is not CaseKind.POSTMORTEM_EXECUTION:
        return False  # no address: nothing to search by, no link to answer a question by
    if action == "start":
        return status is not CaseStatus.REVIEW and move_allowed(case, _MOVES[action])
    if action == "search_again":
        return status is CaseStatus.REVIEW
    if action in _MOVES:
        return move_allowed(case, _MOVES[action])
    if action == "rerun":
        return status in GATHERING_STATUSES
    if action == "transmit":
        return (release.receiving_endpoint(case) is not None
                and release.is_downloadable(release.released_package(case)))
    if action == "release":
        return (status is CaseStatus.REVIEW and case.kind in release.RELEASED_KINDS
                and current_package(case.id) is not None)
    if action in _PLAN_ACTIONS:
        plan = db.session.scalar(select(ChangePlan.status).where(ChangePlan.case_id == case.id))
        return (status is CaseStatus.REVIEW and case.kind in _PLAN_ACTIONS[action]
                and plan in (PlanStatus.DRAFT, PlanStatus.REMAINS)
                and (action != "decide" or not is_direct_marketing(case))
                and (action != "choose" or matching.heir_decides(case)))
    if action == "lift":
        return can_lift(case)
    if action == "notice":
        return status is CaseStatus.REVIEW and case.kind in CHANGE_KINDS
    if action == "extend":
        return (status in CLOCK_RUNNING_STATUSES or status is CaseStatus.NEEDS_INFO) \
            and not case.extended
    if action == "revoke_links":
        return links.links_alive(case)
    return status.is_open

