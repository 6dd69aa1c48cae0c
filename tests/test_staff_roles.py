"""Least privilege in the back office (issue 3 acceptance): for every action and every role, the
allowed roles succeed, the others get 403 with nothing changed and the refusal audited.

The expected roles are written out here from docs/security.md (each role) and docs/legal-rules.md §2
(only the DPO extends), not read from ``dsar.cases.permissions``: a wrong entry in the app's table
must fail a test.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from dsar.cases.clock import today_in_paris
from dsar.cases.permissions import Action
from dsar.models import (
    CaseStatus,
    StaffRole,
)
from dsar.staff.cases import ACTIONS
from tests.support.erasure_world import erasure_in_review, erasure_with_a_pending_notice
from tests.support.forms import csrf_from
from tests.support.rights_effects import (
    a_directive_case,
    collection_chosen,
    correction_added,
    correction_refused,
    correction_removed,
    directives_found,
    directives_shown,
    follow_up_recorded,
    lift_announced,
    objection_decided,
    refusal_removed,
    search_directives,
)
from tests.support.rights_world import (
    heir_request_in_review,
    objection_in_review,
    partial_answer_to_follow_up,
    rectification_in_review,
    rectification_with_a_correction,
    restriction_in_force,
)

# --------------------------------------------------------------------------- effects
from tests.support.role_effects import (
    assigned,
    audit_shown,
    case_page_shown,
    dashboard_shown,
    duplicate_linked,
    extended,
    file_request,
    identity_verified,
    item_kept,
    links_revoked,
    marked_unfounded,
    note_added,
    notice_recorded,
    package_released,
    plan_approved,
    processing_started,
    proof_shown,
    question_asked,
    rejected,
    request_filed,
    role_raised,
    search_queued_again,
    setup_link_queued,
    transmission_queued,
    user_created,
    users_shown,
)
from tests.support.role_scenarios import (
    ADMIN,
    AGENT,
    AUDITOR,
    DPO,
    ROLES,
    Scenario,
    an_agent_account,
    case_and_an_agent_to_assign,
    case_and_its_original,
    case_in,
    case_with_a_package,
    case_with_failed_search,
    case_with_proof,
    create_user,
    denials,
    get,
    post_case_action,
    raise_to_dpo,
    released_portability_case,
    send_setup_link,
    snapshot,
)
from tests.support.staff import login, make_staff

CASEWORKERS = frozenset({AGENT, DPO})
DPO_ONLY = frozenset({DPO})

CASE_ACTIONS = [
    Scenario("note", Action.ADD_NOTE, CASEWORKERS, case_in(CaseStatus.CONFIRMED),
             post_case_action("note", lambda w: {"body": "Called back, see ticket 42."}),
             note_added),
    Scenario("verify", Action.VERIFY_IDENTITY, CASEWORKERS, case_with_proof,
             post_case_action("verify", lambda w: {"method": "email_and_identifiers"}),
             identity_verified),
    Scenario("ask", Action.ASK_INFO, CASEWORKERS, case_in(CaseStatus.CONFIRMED),
             post_case_action("ask", lambda w: {"question": "Which contract?"}), question_asked),
    Scenario("extend", Action.EXTEND, DPO_ONLY, case_in(CaseStatus.CONFIRMED),
             post_case_action("extend", lambda w: {"reason": "Many sources to search."}),
             extended),
    Scenario("reject", Action.REJECT, DPO_ONLY, case_in(CaseStatus.CONFIRMED),
             post_case_action("reject", lambda w: {"scope": "full",
                                                   "reasons": "Not a customer of ours."}),
             rejected),
    Scenario("unfounded", Action.MARK_UNFOUNDED, DPO_ONLY, case_in(CaseStatus.CONFIRMED),
             post_case_action("unfounded", lambda w: {"justification": "Tenth copy this week."}),
             marked_unfounded),
    Scenario("assign", Action.ASSIGN, CASEWORKERS, case_and_an_agent_to_assign,
             post_case_action("assign", lambda w: {"assignee_id": str(w.extra["assignee_id"])}),
             assigned),
    Scenario("duplicate", Action.LINK_DUPLICATE, CASEWORKERS, case_and_its_original,
             post_case_action("duplicate", lambda w: {"original": w.extra["original"]}),
             duplicate_linked),
    Scenario("start", Action.START_PROCESSING, CASEWORKERS, case_in(CaseStatus.VERIFIED),
             post_case_action("start", lambda w: {}), processing_started),
    Scenario("search_again", Action.START_PROCESSING, CASEWORKERS, case_in(CaseStatus.REVIEW),
             post_case_action("search_again", lambda w: {"confirm": "yes"}),
             processing_started),
    Scenario("rerun", Action.RERUN_SOURCE, CASEWORKERS, case_with_failed_search,
             post_case_action("rerun", lambda w: {"source": "crm"}), search_queued_again),
    Scenario("release", Action.RELEASE, DPO_ONLY, case_with_a_package,
             post_case_action("release", lambda w: {"package_id": str(w.extra["package_id"])}),
             package_released),
    Scenario("transmit", Action.TRANSMIT, DPO_ONLY, released_portability_case,
             post_case_action("transmit", lambda w: {}), transmission_queued,
             writes=False),  # it queues a job; the job writes the outcome
    Scenario("revoke_links", Action.REVOKE_LINKS, DPO_ONLY, case_in(CaseStatus.CONFIRMED),
             post_case_action("revoke_links", lambda w: {}), links_revoked),
    # An erasure: an agent prepares; only a DPO keeps items or approves the plan.
    Scenario("keep", Action.KEEP_IN_PLAN, DPO_ONLY, erasure_in_review,
             post_case_action("keep", lambda w: {
                 "source_collection": "shop/customers", "exception": "legal_claims",
                 "reason": "Litige en cours devant le tribunal de commerce."}), item_kept),
    Scenario("approve", Action.APPROVE_PLAN, DPO_ONLY, erasure_in_review,
             post_case_action("approve", lambda w: {}), plan_approved),
    Scenario("notice", Action.RECORD_NOTICE, CASEWORKERS, erasure_with_a_pending_notice,
             post_case_action("notice", lambda w: {
                 "notice_id": str(w.extra["notice_id"]), "outcome": "disproportionate",
                 "reason": "Sauvegardes chiffrées écrasées sous 30 jours."}), notice_recorded),
    # Rectification, objection, restriction: agents prepare, DPOs decide.
    Scenario("correct", Action.PREPARE_CORRECTION, CASEWORKERS, rectification_in_review,
             post_case_action("correct", lambda w: {"targets": w.extra["token"],
                                                    "new_value": "Camille Martin-Leroy"}),
             correction_added),
    Scenario("remove_correction", Action.PREPARE_CORRECTION, CASEWORKERS,
             rectification_with_a_correction,
             post_case_action("remove_correction", lambda w: {"item_id": w.extra["item_id"]}),
             correction_removed),
    # A refusal is the DPO's decision: an agent can neither make nor withdraw one.
    Scenario("remove_refusal", Action.REFUSE_CORRECTION, DPO_ONLY,
             rectification_with_a_correction,
             post_case_action("remove_refusal", lambda w: {"item_id": w.extra["refusal_id"]}),
             refusal_removed),
    Scenario("refuse_correction", Action.REFUSE_CORRECTION, DPO_ONLY, rectification_in_review,
             post_case_action("refuse_correction", lambda w: {
                 "what": "Date de naissance", "reason": "Conforme à la pièce d'identité."}),
             correction_refused),
    Scenario("decide", Action.DECIDE_OBJECTION, DPO_ONLY, objection_in_review,
             post_case_action("decide", lambda w: {
                 "processing": "customers", "decision": "grounds",
                 "text": "Défense d'un litige en cours."}), objection_decided),
    Scenario("lift", Action.LIFT_RESTRICTION, DPO_ONLY, restriction_in_force,
             post_case_action("lift", lambda w: {
                 "lift_on": (today_in_paris() + timedelta(days=10)).isoformat(),
                 "reason": "L'exactitude des données est établie."}), lift_announced),
    # The follow-up of an answer sent without a source: the DPO's, as the release was.
    Scenario("follow_up", Action.RELEASE, DPO_ONLY, partial_answer_to_follow_up,
             post_case_action("follow_up", lambda w: {
                 "note": "Facturation interrogée de nouveau ; complément envoyé."}),
             follow_up_recorded),
    # What becomes of a deceased person's data at an heir's request is the DPO's call.
    Scenario("choose", Action.DECIDE_POSTMORTEM, DPO_ONLY, heir_request_in_review,
             post_case_action("choose", lambda w: {"collection": "shop/customers",
                                                   "choice": "erase"}), collection_chosen),
]

PAGES = [
    Scenario("dashboard", Action.VIEW_CASES, frozenset({AGENT, DPO, AUDITOR}),
             case_in(CaseStatus.CONFIRMED), get(lambda w: "/staff/"), dashboard_shown,
             on_case=False, writes=False),
    Scenario("case-page", Action.VIEW_CASES, frozenset({AGENT, DPO, AUDITOR}),
             case_in(CaseStatus.CONFIRMED), get(lambda w: f"/staff/cases/{w.reference}"),
             case_page_shown, writes=False),
    Scenario("directives-page", Action.VIEW_CASES, frozenset({AGENT, DPO, AUDITOR}),
             a_directive_case, get(lambda w: "/staff/directives"), directives_shown,
             on_case=False, writes=False),
    Scenario("directives-search", Action.VIEW_CASES, frozenset({AGENT, DPO, AUDITOR}),
             a_directive_case, search_directives, directives_found,
             on_case=False, writes=False),
    # A request received by post, e-mail, telephone or in person: filed by those who handle
    # requests; an auditor reads, an administrator manages accounts.
    Scenario("file-request", Action.FILE_REQUEST, CASEWORKERS, case_in(CaseStatus.CONFIRMED),
             file_request, request_filed, on_case=False),
    Scenario("proof", Action.VIEW_PROOF, CASEWORKERS, case_with_proof,
             get(lambda w: f"/staff/cases/{w.reference}/proofs/{w.extra['proof_id']}"),
             proof_shown, writes=False),
    Scenario("audit-trail", Action.VIEW_AUDIT, frozenset({DPO, AUDITOR}),
             case_in(CaseStatus.CONFIRMED), get(lambda w: "/staff/audit"), audit_shown,
             on_case=False, writes=False),
    Scenario("users-page", Action.MANAGE_STAFF, frozenset({ADMIN}),
             case_in(CaseStatus.CONFIRMED), get(lambda w: "/staff/users"), users_shown,
             on_case=False, writes=False),
    Scenario("create-user", Action.MANAGE_STAFF, frozenset({ADMIN}),
             case_in(CaseStatus.CONFIRMED), create_user, user_created, on_case=False),
    Scenario("change-role", Action.MANAGE_STAFF, frozenset({ADMIN}), an_agent_account,
             raise_to_dpo, role_raised, on_case=False),
    Scenario("send-setup-link", Action.MANAGE_STAFF, frozenset({ADMIN}), an_agent_account,
             send_setup_link, setup_link_queued, on_case=False),
]

SCENARIOS = CASE_ACTIONS + PAGES


def test_every_case_action_has_a_scenario():
    assert {s.name for s in CASE_ACTIONS} == set(ACTIONS)


# --------------------------------------------------------------------------- the test


@pytest.mark.parametrize("role", ROLES, ids=str)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_role_may_or_may_not(app, client, scenario: Scenario, role: StaffRole):
    world = scenario.prepare(app)
    staff = make_staff(app, role)
    login(client, staff)
    # A CSRF token of this session, from a page every visitor may see.
    token = csrf_from(client.get("/request/access").get_data(as_text=True))
    denied_before = len(denials(app, staff.id))
    before = snapshot(app)

    resp = scenario.act(client, world, token)

    if role in scenario.allowed:
        with app.app_context():
            scenario.check(app, world, staff, resp)
        if scenario.writes:  # the snapshot sees changes (so "unchanged" below means something)
            assert snapshot(app) != before
        assert len(denials(app, staff.id)) == denied_before
    else:
        assert resp.status_code == 403
        assert snapshot(app) == before, "a refused action changed something"
        new = denials(app, staff.id)[denied_before:]
        assert len(new) == 1, "the refusal was not audited (once)"
        assert new[0].payload == {"action": str(scenario.permission)}, (
            f"the audit says {new[0].payload}, not the action attempted")
        # Refusals about a case are filed on it, so its history shows who tried what.
        expected_case = world.case_id if scenario.on_case else None
        assert new[0].case_id == expected_case
