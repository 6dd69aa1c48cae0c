"""The DPO releases the answer they saw (and only the DPO, acknowledging any source that could
not be searched); the requester is told; the package expires, or goes with a withdrawn case, and
is deleted from storage."""

from __future__ import annotations

from datetime import timedelta

from dsar.core import storage
from dsar.delivery.release import purge_expired
from dsar.extensions import db
from dsar.models import ActorType, Case, CaseStatus, ExportPackage, PackageStatus
from tests.support.audit import audit_events
from tests.support.delivery import ask_code, emailed_code, in_review, latest_package, release
from tests.support.forms import csrf_from
from tests.support.gathering import EMAIL
from tests.support.staff import login, make_staff, post_action
from tests.support.workers import run_queued_jobs


def test_only_the_dpo_releases(gather_app):
    case = in_review(gather_app)
    agent = make_staff(gather_app, "agent", email="agent-release@staff.example")
    client = gather_app.test_client()
    login(client, agent)
    assert 'id="release"' not in client.get(f"/staff/cases/{case.reference}").get_data(True)
    assert post_action(client, case.reference, "release").status_code == 403
    assert latest_package(gather_app, case.id).status is PackageStatus.READY
    [denied] = audit_events(gather_app, "access.denied")
    assert denied.payload["action"] == "release"


def test_the_dpo_releases_only_the_package_they_saw(gather_app):
    case = in_review(gather_app)
    seen = latest_package(gather_app, case.id)
    resp = release(gather_app, case, package_id=str(seen.id + 1))  # a newer build since
    assert resp.status_code == 400 and 'id="release-error"' in resp.get_data(as_text=True)
    assert latest_package(gather_app, case.id).status is PackageStatus.READY


def test_a_failed_source_needs_the_dpos_acknowledgement(gather_app, monkeypatch, smtp_server):
    monkeypatch.delenv("TEST_BILLING_URL")  # billing cannot be searched
    case = in_review(gather_app)
    resp = release(gather_app, case)
    assert resp.status_code == 400 and 'id="release-error"' in resp.get_data(as_text=True)
    assert latest_package(gather_app, case.id).status is PackageStatus.READY
    assert run_queued_jobs(gather_app) == 0
    assert all("prête" not in m["Subject"] for m in smtp_server.messages())

    resp = release(gather_app, case, acknowledge_failures="yes",
                   acknowledged_source="billing")
    assert resp.status_code == 302
    assert latest_package(gather_app, case.id).status is PackageStatus.RELEASED
    [event] = audit_events(gather_app, "package.released")
    assert event.payload["sources_missing"] == ["billing"]
    # The person is told what is missing and how to get it.
    assert run_queued_jobs(gather_app) == 0
    body = smtp_server.last_to(EMAIL).get_body(preferencelist=("plain",)).get_content()
    assert "n’ont pas pu être interrogés" in body and "Facturation" in body


def test_the_ready_e_mail_gives_the_partial_refusal_notice_when_data_was_masked(
        gather_app, smtp_server):
    case = in_review(gather_app)
    with gather_app.app_context():
        package = db.session.get(ExportPackage, latest_package(gather_app, case.id).id)
        package.redaction_count = 2  # as built from records naming someone else
        db.session.commit()
    assert release(gather_app, case).status_code == 302
    assert run_queued_jobs(gather_app) == 0
    body = smtp_server.last_to(EMAIL).get_body(preferencelist=("plain",)).get_content()
    assert "article 15(4) du RGPD" in body and "report.pdf" in body
    assert "CNIL" in body and "recours" in body


def test_sending_to_another_organisation_needs_an_address(gather_app, released):
    case, _ = released  # an access request: the person named no receiving organisation
    dpo = make_staff(gather_app, "dpo", email="dpo-send@staff.example")
    client = gather_app.test_client()
    login(client, dpo)
    resp = post_action(client, case.reference, "transmit")
    assert resp.status_code == 400 and 'id="transmit-error"' in resp.get_data(as_text=True)
    assert audit_events(gather_app, "package.transmission_requested") == []



def test_an_expired_package_shows_a_clear_page_and_is_gone_from_storage(gather_app, released,
                                                                       smtp_server):
    case, browser = released
    package = latest_package(gather_app, case.id)
    ask_code(browser, case.reference)
    code = emailed_code(gather_app, smtp_server)
    with gather_app.app_context():
        assert purge_expired() == {"packages": 0, "codes": 0}  # not yet
        assert purge_expired(package.expires_at + timedelta(seconds=1))["packages"] == 1
        assert not storage.exists(package.blob_id)
    expired = latest_package(gather_app, case.id)
    assert expired.status is PackageStatus.EXPIRED and expired.blob_id is None

    page = browser.get(f"/status/{case.reference}/download")
    assert page.status_code == 410
    html = page.get_data(as_text=True)
    assert 'id="expired-title"' in html and "n’est plus disponible" in html
    token = csrf_from(browser.get("/request/access").get_data(as_text=True))
    resp = browser.post(f"/status/{case.reference}/download",
                        data={"csrf_token": token, "code": code})
    assert resp.status_code == 410 and resp.mimetype == "text/html"
    assert audit_events(gather_app, "package.downloaded") == []
    assert 'id="answer-expired"' in browser.get(f"/status/{case.reference}").get_data(True)
    [event] = audit_events(gather_app, "package.expired")
    assert event.actor_type is ActorType.SYSTEM


def test_the_package_of_a_withdrawn_case_is_deleted(gather_app):
    case = in_review(gather_app)
    package = latest_package(gather_app, case.id)
    with gather_app.app_context():
        from dsar.cases.workflow import transition

        transition(db.session.get(Case, case.id), CaseStatus.WITHDRAWN,
                   actor_type=ActorType.REQUESTER)
        db.session.commit()
        assert purge_expired()["packages"] == 1
        assert not storage.exists(package.blob_id)
    assert latest_package(gather_app, case.id).status is PackageStatus.EXPIRED
