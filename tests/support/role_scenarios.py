"""The vocabulary of the least-privilege table (``tests/test_staff_roles.py``): what a scenario
sets up (a ``World``), how it acts through the real pages, and what the database and the blob
store hold before and after."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from dsar.cases.permissions import Action
from dsar.core import storage
from dsar.extensions import db
from dsar.models import (
    AuditEvent,
    Case,
    CaseKind,
    CaseStatus,
    ExportPackage,
    GatherStatus,
    PackageStatus,
    SourceResult,
    StaffRole,
)
from dsar.models.types import utcnow
from tests.support.app import detached_rows
from tests.support.casework import add_proof
from tests.support.staff import make_case, make_staff

AGENT, DPO, AUDITOR, ADMIN = StaffRole.AGENT, StaffRole.DPO, StaffRole.AUDITOR, StaffRole.ADMIN
ROLES = (AGENT, DPO, AUDITOR, ADMIN)


@dataclass
class World:
    """What a scenario set up: the case the action is about, and anything else it needs."""

    reference: str = ""
    case_id: int | None = None
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    """One row of the table: an action or page, who may use it, and how to try it."""

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


def load_case(world: World) -> Case:
    return db.session.get(Case, world.case_id)


def redirected_to_case(world: World, resp) -> None:
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    assert f"/staff/cases/{world.reference}" in resp.location


def events(action: str, staff_id: int) -> list[AuditEvent]:
    """The audit events of ``action`` by staff member ``staff_id``."""
    return db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == action, AuditEvent.actor_id == str(staff_id))).all()


def case_in(status: CaseStatus) -> Callable[..., World]:
    """A set-up: one case in ``status``."""
    def prepare(app) -> World:
        case = make_case(app, status=status)
        return World(case.reference, case.id)
    return prepare


def case_with_proof(app) -> World:
    """A confirmed case with an identity proof (a PDF in the blob store)."""
    case = make_case(app, status=CaseStatus.CONFIRMED)
    proof_id, blob_id = add_proof(app, case.id)
    return World(case.reference, case.id, {"proof_id": proof_id, "blob_id": blob_id})


def case_with_failed_search(app) -> World:
    """A case in review whose search of the "crm" source failed."""
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
    """A confirmed case, and an agent it could be assigned to."""
    world = case_in(CaseStatus.CONFIRMED)(app)
    world.extra["assignee_id"] = make_staff(app, AGENT, name="Assignee").id
    return world


def case_and_its_original(app) -> World:
    """A repeat request and the open original it could be linked to."""
    original = make_case(app, status=CaseStatus.CONFIRMED)
    repeat = make_case(app, status=CaseStatus.CONFIRMED)
    return World(repeat.reference, repeat.id, {"original": original.reference,
                                               "original_id": original.id})


# --------------------------------------------------------------------------- acting


def post_case_action(action: str, form: Callable[[World], dict]):
    """Acting: POST the case ``action`` with the form ``form(world)`` gives."""
    def act(client, world: World, token: str):
        return client.post(f"/staff/cases/{world.reference}/{action}",
                           data={"csrf_token": token, **form(world)})
    return act


def get(path: Callable[[World], str]):
    """Acting: GET the page at ``path(world)``."""
    return lambda client, world, token: client.get(path(world))


def create_user(client, world: World, token: str):
    """Acting: create an agent's account."""
    return client.post("/staff/users", data={
        "csrf_token": token, "email": "new.agent@staff.example", "name": "New Agent",
        "role": "agent"})


def an_agent_account(app) -> World:
    """An agent's account for an administrator to manage."""
    return World(extra={"staff_id": make_staff(app, AGENT, name="Managed").id})


def raise_to_dpo(client, world: World, token: str):
    """Acting: make the managed agent a DPO."""
    return client.post(f"/staff/users/{world.extra['staff_id']}/role",
                       data={"csrf_token": token, "role": "dpo"})


def send_setup_link(client, world: World, token: str):
    """Acting: e-mail the managed agent a new set-up link."""
    return client.post(f"/staff/users/{world.extra['staff_id']}/setup-link",
                       data={"csrf_token": token})


# --------------------------------------------------------------------------- before and after


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
    """The refusals audited for ``staff_id``, oldest first (detached)."""
    return detached_rows(app, AuditEvent, AuditEvent.action == "access.denied",
                         AuditEvent.actor_id == str(staff_id))
