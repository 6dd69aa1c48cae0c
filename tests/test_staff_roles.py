"""Least privilege in the back office (issue 3 acceptance): for every action and every role, the
allowed roles succeed, the others get 403 with nothing changed and the refusal audited.

The expected roles are written out here from DESIGN.md ("Staff back office") and LEGAL.md §2
(only the DPO extends), not read from ``dsar.cases.permissions``: a wrong entry in the app's table
must fail a test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from dsar.cases.permissions import Action
from dsar.core import storage
from dsar.extensions import db
from dsar.models import (
    AuditEvent,
    Case,
    CaseKind,
    CaseNote,
    CaseStatus,
    ExportPackage,
    GatherStatus,
    IdentityProof,
    InfoRequest,
    MailTemplate,
    OutboundEmail,
    PackageStatus,
    ProofKind,
    SourceResult,
    StaffRole,
    StaffUser,
)
from dsar.models.types import utcnow
from dsar.pipeline import job_is_queued
from dsar.staff.cases import ACTIONS
from tests.helpers import csrf_from
from tests.staff_helpers import login, make_case, make_staff

AGENT, DPO, AUDITOR, ADMIN = StaffRole.AGENT, StaffRole.DPO, StaffRole.AUDITOR, StaffRole.ADMIN
ROLES = (AGENT, DPO, AUDITOR, ADMIN)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@dataclass
class World:
    """What a scenario set up: the case the action is about, and anything else it needs."""

    reference: str = ""
    case_id: int | None = None
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    name: str
    #: The permission a refusal must be audited with.
    permission: Action
    #: The roles that may do it (the specification).
    allowed: frozenset[StaffRole]
    prepare: Callable[..., World]
    #: ``act(client, world, token)`` -> the response.
    act: Callable
    #: ``check(app, world, staff, response)``: asserts the effect of an allowed attempt.
    check: Callable
    #: Whether the page or action is about one case (its refusal is audited on that case).
    on_case: bool = True
    #: Whether an allowed attempt changes data (beyond the audit trail).
    writes: bool = True


# --------------------------------------------------------------------------- set-ups


def case_in(status: CaseStatus) -> Callable[..., World]:
    def prepare(app) -> World:
        case = make_case(app, status=status)
        return World(case.reference, case.id)
    return prepare


def case_with_proof(app) -> World:
    case = make_case(app, status=CaseStatus.CONFIRMED)
    with app.app_context():
        blob = storage.put(PDF)
        proof = IdentityProof(case_id=case.id, kind=ProofKind.IDENTITY, blob_id=blob.blob_id,
                              size=blob.size, sha256=blob.sha256, content_type="application/pdf")
        db.session.add(proof)
        db.session.commit()
        return World(case.reference, case.id, {"proof_id": proof.id, "blob_id": blob.blob_id})


def case_with_failed_search(app) -> World:
    case = make_case(app, status=CaseStatus.REVIEW)
    with app.app_context():
        row = SourceResult(case_id=case.id, source="crm", round=1, status=GatherStatus.FAILED,
                           counts={}, error="SourceError: HTTP 503 from /contacts")
        db.session.add(row)
        db.session.commit()
        return World(case.reference, case.id, {"row_id": row.id})


def case_with_a_package(app) -> World:
    """A case in review whose answer package is built and waits for release."""
    from dsar.exports.build import results_digest

    case = make_case(app, status=CaseStatus.REVIEW)
    with app.app_context():
        with storage.writer() as out:
            out.write(b"PK\x05\x06" + bytes(18))  # an empty ZIP
        package = ExportPackage(case_id=case.id, blob_id=out.blob.blob_id, size=out.blob.size,
                                sha256=out.blob.sha256, results_digest=results_digest(case.id))
        db.session.add(package)
        db.session.commit()
        return World(case.reference, case.id, {"package_id": package.id})


def released_portability_case(app) -> World:
    """A completed portability case whose answer was released, with a receiving address."""
    world = case_with_a_package(app)
    with app.app_context():
        case = db.session.get(Case, world.case_id)
        case.kind = CaseKind.PORTABILITY
        case.details = {"receiving_endpoint": "https://receiver.example/import"}
        case.status = CaseStatus.COMPLETED
        package = db.session.get(ExportPackage, world.extra["package_id"])
        package.scope, package.status = "portability", PackageStatus.RELEASED
        package.released_at = utcnow()
        package.expires_at = utcnow() + timedelta(days=30)
        db.session.commit()
    return world


def case_and_an_agent_to_assign(app) -> World:
    world = case_in(CaseStatus.CONFIRMED)(app)
    world.extra["assignee_id"] = make_staff(app, AGENT, name="Assignee").id
    return world


def case_and_its_original(app) -> World:
    original = make_case(app, status=CaseStatus.CONFIRMED)
    repeat = make_case(app, status=CaseStatus.CONFIRMED)
    return World(repeat.reference, repeat.id, {"original": original.reference,
                                               "original_id": original.id})


# --------------------------------------------------------------------------- acting


def post_case_action(action: str, form: Callable[[World], dict]):
    def act(client, world: World, token: str):
        return client.post(f"/staff/cases/{world.reference}/{action}",
                           data={"csrf_token": token, **form(world)})
    return act


def get(path: Callable[[World], str]):
    return lambda client, world, token: client.get(path(world))


def create_user(client, world: World, token: str):
    return client.post("/staff/users", data={
        "csrf_token": token, "email": "new.agent@staff.example", "name": "New Agent",
        "role": "agent"})


def an_agent_account(app) -> World:
    """An agent's account for an administrator to manage."""
    return World(extra={"staff_id": make_staff(app, AGENT, name="Managed").id})


def raise_to_dpo(client, world: World, token: str):
    return client.post(f"/staff/users/{world.extra['staff_id']}/role",
                       data={"csrf_token": token, "role": "dpo"})


def send_setup_link(client, world: World, token: str):
    return client.post(f"/staff/users/{world.extra['staff_id']}/setup-link",
                       data={"csrf_token": token})


# --------------------------------------------------------------------------- effects


def role_raised(app, world, staff, resp):
    assert resp.status_code == 302
    assert db.session.get(StaffUser, world.extra["staff_id"]).role is DPO


def setup_link_queued(app, world, staff, resp):
    assert resp.status_code == 302
    sent = db.session.scalars(select(OutboundEmail).where(
        OutboundEmail.recipient_staff_id == world.extra["staff_id"])).all()
    assert [row.template for row in sent] == [MailTemplate.STAFF_SETUP]


def load_case(world: World) -> Case:
    return db.session.get(Case, world.case_id)


def redirected_to_case(world: World, resp) -> None:
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    assert f"/staff/cases/{world.reference}" in resp.location


def events(action: str, staff_id: int) -> list[AuditEvent]:
    return db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == action, AuditEvent.actor_id == str(staff_id))).all()


def note_added(app, world, staff, resp):
    redirected_to_case(world, resp)
    notes = db.session.scalars(select(CaseNote).where(CaseNote.case_id == world.case_id)).all()
    assert [(n.body, n.author_id) for n in notes] == [("Called back, see ticket 42.", staff.id)]


def identity_verified(app, world, staff, resp):
    redirected_to_case(world, resp)
    case = load_case(world)
    assert case.status is CaseStatus.VERIFIED
    assert f"by staff {staff.id}, method email_and_identifiers" in case.identity_note


def question_asked(app, world, staff, resp):
    redirected_to_case(world, resp)
    assert load_case(world).status is CaseStatus.NEEDS_INFO
    asked = db.session.scalars(select(InfoRequest).where(
        InfoRequest.case_id == world.case_id)).all()
    assert [(q.question, q.asked_by_id) for q in asked] == [("Which contract?", staff.id)]


def extended(app, world, staff, resp):
    redirected_to_case(world, resp)
    case = load_case(world)
    assert case.extended and case.extension_reason == "Many sources to search."


def rejected(app, world, staff, resp):
    redirected_to_case(world, resp)
    case = load_case(world)
    assert case.status is CaseStatus.REJECTED
    assert case.refusal_reasons == "Not a customer of ours."


def marked_unfounded(app, world, staff, resp):
    redirected_to_case(world, resp)
    case = load_case(world)
    assert case.manifestly_unfounded and case.unfounded_justification == "Tenth copy this week."


def assigned(app, world, staff, resp):
    redirected_to_case(world, resp)
    assert load_case(world).assignee_id == world.extra["assignee_id"]


def duplicate_linked(app, world, staff, resp):
    redirected_to_case(world, resp)
    assert load_case(world).duplicate_of_id == world.extra["original_id"]


def processing_started(app, world, staff, resp):
    redirected_to_case(world, resp)
    assert load_case(world).status is CaseStatus.IN_PROGRESS


def search_queued_again(app, world, staff, resp):
    redirected_to_case(world, resp)
    row = db.session.get(SourceResult, world.extra["row_id"])
    assert row.status is GatherStatus.PENDING and row.round == 2 and row.error is None
    assert [e.payload["source"] for e in events("gather.rerun_requested", staff.id)] == ["crm"]


def package_released(app, world, staff, resp):
    redirected_to_case(world, resp)
    assert load_case(world).status is CaseStatus.COMPLETED
    package = db.session.get(ExportPackage, world.extra["package_id"])
    assert package.status is PackageStatus.RELEASED and package.released_by_id == staff.id


def transmission_queued(app, world, staff, resp):
    redirected_to_case(world, resp)
    [event] = events("package.transmission_requested", staff.id)
    assert event.payload == {"package_id": world.extra["package_id"]}
    assert job_is_queued(f"package-{world.extra['package_id']}-transmit")


def dashboard_shown(app, world, staff, resp):
    assert resp.status_code == 200
    assert world.reference in resp.get_data(as_text=True)


def case_page_shown(app, world, staff, resp):
    assert resp.status_code == 200
    assert world.reference in resp.get_data(as_text=True)
    assert [e.case_id for e in events("case.viewed", staff.id)] == [world.case_id]


def proof_shown(app, world, staff, resp):
    assert resp.status_code == 200
    assert resp.data == PDF
    viewed = events("proof.viewed", staff.id)
    assert [(e.case_id, e.payload["proof_id"]) for e in viewed] == [
        (world.case_id, world.extra["proof_id"])]


def audit_shown(app, world, staff, resp):
    assert resp.status_code == 200
    assert len(events("audit.viewed", staff.id)) == 1


def users_shown(app, world, staff, resp):
    assert resp.status_code == 200
    assert staff.email in resp.get_data(as_text=True)


def user_created(app, world, staff, resp):
    assert resp.status_code == 302 and resp.location.endswith("/staff/users")
    user = db.session.scalar(select(StaffUser).where(
        StaffUser.email == "new.agent@staff.example"))
    assert user is not None and user.role is AGENT
    assert user.password_changed_at is None  # the owner chooses it from the e-mailed link


def links_revoked(app, world, staff, resp):
    redirected_to_case(world, resp)
    assert [e.case_id for e in events("case.links_revoked", staff.id)] == [world.case_id]
    sent = db.session.scalars(select(OutboundEmail).where(
        OutboundEmail.case_id == world.case_id)).all()
    assert [row.template for row in sent] == [MailTemplate.LINKS_RENEWED]


# --------------------------------------------------------------------------- the table

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
]

PAGES = [
    Scenario("dashboard", Action.VIEW_CASES, frozenset({AGENT, DPO, AUDITOR}),
             case_in(CaseStatus.CONFIRMED), get(lambda w: "/staff/"), dashboard_shown,
             on_case=False, writes=False),
    Scenario("case-page", Action.VIEW_CASES, frozenset({AGENT, DPO, AUDITOR}),
             case_in(CaseStatus.CONFIRMED), get(lambda w: f"/staff/cases/{w.reference}"),
             case_page_shown, writes=False),
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


def snapshot(app) -> dict:
    """Every row of every table but the audit trail, and the files of the blob store."""
    with app.app_context():
        tables = {}
        for table in db.metadata.sorted_tables:
            if table.name.startswith("audit_"):
                continue
            order = list(table.primary_key.columns)
            tables[table.name] = [tuple(row) for row in
                                  db.session.execute(select(table).order_by(*order))]
        root = Path(app.config["STORAGE_DIR"])
        tables["<blob store>"] = sorted(str(p) for p in root.rglob("*")) if root.exists() else []
        return tables


def denials(app, staff_id: int) -> list[AuditEvent]:
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "access.denied", AuditEvent.actor_id == str(staff_id))
            .order_by(AuditEvent.id)).all()
        db.session.expunge_all()
        return rows


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
