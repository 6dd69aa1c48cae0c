"""Who may do what in the back office: least privilege per role (docs/architecture.md,
docs/security.md).

Checked on the server for every action; a refusal is audited."""

from __future__ import annotations

import enum

from dsar.models import StaffRole

A, D, U, M = StaffRole.AGENT, StaffRole.DPO, StaffRole.AUDITOR, StaffRole.ADMIN


class Action(enum.StrEnum):
    VIEW_CASES = "view_cases"
    #: File a request received by e-mail, post, telephone or in person (its real date).
    FILE_REQUEST = "file_request"
    VIEW_PROOF = "view_proof"
    ADD_NOTE = "add_note"
    VERIFY_IDENTITY = "verify_identity"
    ASK_INFO = "ask_info"
    ASSIGN = "assign"
    LINK_DUPLICATE = "link_duplicate"
    START_PROCESSING = "start_processing"
    RERUN_SOURCE = "rerun_source"
    PREVIEW_PACKAGE = "preview_package"
    RELEASE = "release"
    #: A request that changes data: keep items under an exception, approve the plan.
    KEEP_IN_PLAN = "keep_in_plan"
    APPROVE_PLAN = "approve_plan"
    #: Record how a recipient was told of an erasure (Art. 19), or why it could not be.
    RECORD_NOTICE = "record_notice"
    #: A rectification: map a correction to the data found (prepare), or refuse one (decide).
    PREPARE_CORRECTION = "prepare_correction"
    REFUSE_CORRECTION = "refuse_correction"
    #: An objection to other processing: stop it, or go on for compelling grounds.
    DECIDE_OBJECTION = "decide_objection"
    #: Lift a restriction on a date the person is told of beforehand (Art. 18(3)).
    LIFT_RESTRICTION = "lift_restriction"
    #: An heir's request about a deceased person: what becomes of each collection, within
    #: what the law allows heirs (LIL art. 85 II).
    DECIDE_POSTMORTEM = "decide_postmortem"
    TRANSMIT = "transmit"
    EXTEND = "extend"
    REJECT = "reject"
    MARK_UNFOUNDED = "mark_unfounded"
    REVOKE_LINKS = "revoke_links"
    VIEW_AUDIT = "view_audit"
    MANAGE_STAFF = "manage_staff"


#: The roles allowed each action. Admins manage accounts and settings but read no case:
#: nothing in their job needs the requesters' data.
ALLOWED: dict[Action, frozenset[StaffRole]] = {
    Action.VIEW_CASES: frozenset({A, D, U}),
    Action.VIEW_PROOF: frozenset({A, D}),
    # Those who handle requests file the ones that did not come through the portal.
    Action.FILE_REQUEST: frozenset({A, D}),
    Action.ADD_NOTE: frozenset({A, D}),
    Action.VERIFY_IDENTITY: frozenset({A, D}),
    Action.ASK_INFO: frozenset({A, D}),
    Action.ASSIGN: frozenset({A, D}),
    Action.LINK_DUPLICATE: frozenset({A, D}),
    Action.START_PROCESSING: frozenset({A, D}),
    Action.RERUN_SOURCE: frozenset({A, D}),
    # A complete copy of the person's data: those who prepare and release the answer only.
    Action.PREVIEW_PACKAGE: frozenset({A, D}),
    # Sending a complete copy of the data out of the organisation is the DPO's decision.
    Action.RELEASE: frozenset({D}),
    Action.KEEP_IN_PLAN: frozenset({D}),
    Action.APPROVE_PLAN: frozenset({D}),
    Action.RECORD_NOTICE: frozenset({A, D}),
    # Agents prepare, DPOs approve and decide.
    Action.PREPARE_CORRECTION: frozenset({A, D}),
    Action.REFUSE_CORRECTION: frozenset({D}),
    Action.DECIDE_OBJECTION: frozenset({D}),
    Action.LIFT_RESTRICTION: frozenset({D}),
    Action.DECIDE_POSTMORTEM: frozenset({D}),
    Action.TRANSMIT: frozenset({D}),
    Action.EXTEND: frozenset({D}),
    Action.REJECT: frozenset({D}),
    Action.MARK_UNFOUNDED: frozenset({D}),
    # Cutting the requester's access to their case (a leaked link) is the DPO's decision.
    Action.REVOKE_LINKS: frozenset({D}),
    Action.VIEW_AUDIT: frozenset({D, U}),
    Action.MANAGE_STAFF: frozenset({M}),
}


def allowed(role: StaffRole, action: Action) -> bool:
    """Whether ``role`` may perform ``action``."""
    return StaffRole(role) in ALLOWED[action]
