"""What each allowed attempt of the least-privilege table (``tests/test_staff_roles.py``)
must have done: one check per action or page, ``check(app, world, staff, response)``, and the
filing form's request (``file_request``)."""

from __future__ import annotations

from sqlalchemy import select

from dsar.cases.clock import today_in_paris
from dsar.extensions import db
from dsar.models import (
    Case,
    CaseNote,
    CaseStatus,
    ChangePlan,
    Channel,
    ExportPackage,
    GatherStatus,
    InfoRequest,
    MailTemplate,
    NoticeStatus,
    OutboundEmail,
    PackageStatus,
    PlanStatus,
    RecipientNotice,
    SourceResult,
    StaffUser,
)
from dsar.pipeline import job_is_queued, transmit_job_id
from tests.support.casework import PDF
from tests.support.role_scenarios import (
    AGENT,
    DPO,
    events,
    load_case,
    redirected_to_case,
)

# --------------------------------------------------------------------------- effects


def role_raised(app, world, staff, resp):
    assert resp.status_code == 302
    assert db.session.get(StaffUser, world.extra["staff_id"]).role is DPO


def setup_link_queued(app, world, staff, resp):
    assert resp.status_code == 302
    sent = db.session.scalars(select(OutboundEmail).where(
        OutboundEmail.recipient_staff_id == world.extra["staff_id"])).all()
    assert [row.template for row in sent] == [MailTemplate.STAFF_SETUP]


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


def item_kept(app, world, staff, resp):
    redirected_to_case(world, resp)
    plan = db.session.scalar(select(ChangePlan).where(ChangePlan.case_id == world.case_id))
    assert [(e["source"], e["collection"], e["exception"]) for e in plan.exceptions] == [
        ("shop", "customers", "legal_claims")]
    assert len(events("plan.item_kept", staff.id)) == 1


def plan_approved(app, world, staff, resp):
    redirected_to_case(world, resp)
    assert load_case(world).status is CaseStatus.EXECUTING
    plan = db.session.scalar(select(ChangePlan).where(ChangePlan.case_id == world.case_id))
    assert plan.status is PlanStatus.APPROVED and plan.approved_by_id == staff.id
    assert len(events("plan.approved", staff.id)) == 1


def notice_recorded(app, world, staff, resp):
    redirected_to_case(world, resp)
    notice = db.session.get(RecipientNotice, world.extra["notice_id"])
    assert notice.status is NoticeStatus.DISPROPORTIONATE and notice.decided_by_id == staff.id
    assert len(events("notice.decided", staff.id)) == 1


def transmission_queued(app, world, staff, resp):
    redirected_to_case(world, resp)
    [event] = events("package.transmission_requested", staff.id)
    assert event.payload == {"package_id": world.extra["package_id"]}
    assert job_is_queued(transmit_job_id(world.extra["package_id"]))


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


def file_request(client, world, token: str):
    """Acting: file a request received by telephone today (no evidence needed)."""
    return client.post("/staff/cases/new", data={
        "csrf_token": token, "kind": "access", "channel": "phone",
        "received_on": today_in_paris().isoformat(), "requester_name": "Jean Dupont",
        "language": "fr", "message": "Appel au standard."})


def request_filed(app, world, staff, resp):
    filed = db.session.scalar(select(Case).where(Case.id != world.case_id))
    assert resp.status_code == 302 and resp.location.endswith(f"/staff/cases/{filed.reference}")
    assert filed.channel is Channel.PHONE and filed.requester_name == "Jean Dupont"
    [event] = events("case.filed_by_staff", staff.id)
    assert event.payload == {"channel": "phone", "backdated_days": 0}


def links_revoked(app, world, staff, resp):
    redirected_to_case(world, resp)
    assert [e.case_id for e in events("case.links_revoked", staff.id)] == [world.case_id]
    sent = db.session.scalars(select(OutboundEmail).where(
        OutboundEmail.case_id == world.case_id)).all()
    assert [row.template for row in sent] == [MailTemplate.LINKS_RENEWED]


# --------------------------------------------------------------------------- the table
