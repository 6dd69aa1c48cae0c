"""Issue 15's walk on the demo organisation: Monique Garnier (showcase F) died on the date the
showcase gives; her directives, recorded long before, erase everything but her training record
(handed over to her daughter Élise) and her invoices (kept). Élise's request goes through the
back office and real workers, on the platform's SQLite database, the CRM and the newsletter
APIs running in their own processes. Read back from the sources: only Monique's records
changed, her training record is in the copy and no credential is."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from dsar.demo.cases import DETAILS
from dsar.demo.org import SHOWCASE
from dsar.extensions import db
from dsar.models import Case, CaseKind, CaseStatus, ChangeStep, DirectiveVersion
from dsar.postmortem import directives
from tests.support.erasure_demo import changed_entries, snapshot
from tests.support.gathering import case_status
from tests.support.rights_demo import (
    package_files,
    pdf_text,
    record_notices,
    release,
    rights_demo,
    staff_client,
)
from tests.support.staff import make_case, post_action
from tests.support.workers import run_queued_jobs

F = SHOWCASE["F"]
ELISE = F["relative"]


@pytest.fixture
def org(tmp_path, monkeypatch, app, database_url, redis_url, key_file, smtp_server):
    """A private demo organisation, dsar served over HTTP (``app``: for its clean-up)."""
    with rights_demo(tmp_path, monkeypatch, database_url, redis_url, key_file,
                     smtp_server) as demo:
        yield demo


def her_directives(app) -> str:
    """Monique's directives as the demo's sample records them, dated a year before her
    death."""
    case = make_case(app, status=CaseStatus.CONFIRMED, kind=CaseKind.POSTMORTEM_DIRECTIVE,
                     email=F["email"], details=DETAILS[CaseKind.POSTMORTEM_DIRECTIVE])
    with app.app_context():
        assert directives.take_up(db.session.get(Case, case.id))
        version = db.session.scalar(select(DirectiveVersion).where(
            DirectiveVersion.case_id == case.id))
        version.created_at = datetime(int(F["died"][:4]) - 1, 6, 1, tzinfo=UTC)
        db.session.commit()
    return case.reference


def test_the_daughter_has_monique_s_directives_carried_out_in_the_demo(org):
    app = org.app
    reference = her_directives(app)
    before = snapshot(org.data)
    case = make_case(app, status=CaseStatus.CONFIRMED, kind=CaseKind.POSTMORTEM_EXECUTION,
                     email=ELISE["email"], details={
                         "deceased_name": f"{F['first_name']} {F['last_name']}",
                         "deceased_email": F["email"], "date_of_birth": F["birth_date"],
                         "date_of_death": F["died"], "requester_role": "designated_person"})
    agent, dpo = staff_client(app, "agent"), staff_client(app, "dpo")
    assert post_action(agent, case.reference, "verify", {
        "method": "document", "note": "Acte de décès et pièce d'identité vus.",
        "deceased_email": F["email"], "date_of_death": F["died"]}).status_code == 302
    page = agent.get(f"/staff/cases/{case.reference}").get_data(as_text=True)
    assert reference in page and 'data-outcome="directives"' in page
    assert post_action(agent, case.reference, "start", {}).status_code == 302
    assert run_queued_jobs(app) == 0
    assert case_status(app, case.id) is CaseStatus.REVIEW
    assert snapshot(org.data) == before  # a search changes nothing

    assert post_action(dpo, case.reference, "approve", {}).status_code == 302
    assert run_queued_jobs(app) == 0
    with app.app_context():
        failed = {s.source: s.error for s in db.session.scalars(select(ChangeStep).where(
            ChangeStep.case_id == case.id)) if s.error}
    assert not failed, failed
    record_notices(app, dpo, case)
    package_id = release(app, dpo, case)

    after = snapshot(org.data)
    changed = changed_entries(before, after)
    # Her account is anonymised (erased, as the platform erases accounts); her invoices and
    # her training record stay; nobody else's record changed.
    assert set(changed.get("platform.accounts", ())) == {F["customer_id"]}
    assert after["platform.accounts"][F["customer_id"]][0] != F["email"]
    for table in ("platform.invoices", "platform.enrolments"):
        assert table not in changed, table
    others = {p["email"] for k, p in SHOWCASE.items() if k != "F"}
    for rows in changed.values():
        assert all(not any(str(v).lower() in others for v in (after.get(r) or ())) for r in rows)

    files = package_files(app, package_id)
    copy = files["export.json"].decode()
    assert "password_hash" not in copy and "$argon2" not in copy
    exported = json.loads(copy)
    collections = {(s["name"], c["name"]) for s in exported["sources"]
                   for c in s["collections"]}
    assert ("platform", "enrolments") in collections
    assert ("platform", "invoices") not in collections  # kept, not handed over
    words = pdf_text(files["certificate.pdf"])
    assert "Loi Informatique et Libertés, art. 85" in words and F["last_name"] in words
