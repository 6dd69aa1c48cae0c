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
from tests.support.delivery import (
    ask_code,
    emailed_code,
    in_review,
    latest_package,
    release,
    requester,
)
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


def test_an_answer_without_a_source_is_answered_in_part_until_the_dpo_follows_it_up(
        gather_app, monkeypatch, smtp_server):
    """Released while a source failed, the case is "answered in part", never plainly
    completed: the person reads which system is missing, the DPO has a follow-up to record
    (only the DPO), and both then see it done."""
    monkeypatch.delenv("TEST_BILLING_URL")  # billing cannot be searched
    case = in_review(gather_app)
    assert release(gather_app, case, acknowledge_failures="yes",
                   acknowledged_source="billing").status_code == 302
    assert run_queued_jobs(gather_app) == 0
    with gather_app.app_context():
        row = db.session.get(Case, case.id)
        assert (row.status, row.answered_in_part, row.missing_sources) == (
            CaseStatus.COMPLETED, True, ["billing"])
    person = requester(gather_app, smtp_server)
    page = person.get(f"/status/{case.reference}").get_data(as_text=True)
    assert 'data-part="yes"' in page and "Répondue en partie" in page
    assert 'id="answered-in-part"' in page and "Facturation" in page

    agent, dpo = (gather_app.test_client() for _ in range(2))
    login(agent, make_staff(gather_app, "agent", email="agent-partial@staff.example"))
    login(dpo, make_staff(gather_app, "dpo", email="dpo-partial@staff.example"))
    staff_page = dpo.get(f"/staff/cases/{case.reference}").get_data(as_text=True)
    assert 'id="answered-in-part" data-missing="billing"' in staff_page
    dashboard = dpo.get("/staff/").get_data(as_text=True)
    assert f'<li data-reference="{case.reference}">' in dashboard.split('id="follow-ups"')[1]
    assert 'id="follow_up"' in staff_page
    assert post_action(agent, case.reference, "follow_up", {"note": "x"}).status_code == 403
    assert post_action(dpo, case.reference, "follow_up", {"note": " "}).status_code == 400
    assert post_action(dpo, case.reference, "follow_up", {
        "note": "Facturation interrogée le lendemain ; complément envoyé par e-mail."}
    ).status_code == 302
    [event] = audit_events(gather_app, "case.followed_up")
    assert event.payload == {"missing_sources": ["billing"]}
    assert 'id="follow-up-done"' in person.get(f"/status/{case.reference}").get_data(True)
    staff_page = dpo.get(f"/staff/cases/{case.reference}").get_data(as_text=True)
    assert 'id="follow-up-done"' in staff_page and 'id="follow_up"' not in staff_page
    assert 'id="follow-ups"' not in dpo.get("/staff/").get_data(as_text=True)


def test_an_answer_with_every_source_is_plainly_completed(gather_app, smtp_server):
    case = in_review(gather_app)
    assert release(gather_app, case).status_code == 302
    with gather_app.app_context():
        assert db.session.get(Case, case.id).answered_in_part is False


def test_masked_data_is_notified_when_the_answer_is_built_not_at_its_release(
        gather_app, smtp_server):
    """Art. 12(4): a partial refusal is told when decided. Building an answer that masks other
    people's data e-mails the person at once, with the remedies, before any release; a
    rebuild does not tell them twice."""
    from dsar import pipeline
    from dsar.exports.build import masked_data_notice

    case = in_review(gather_app)
    with gather_app.app_context():
        row = db.session.get(Case, case.id)
        package = db.session.get(ExportPackage, latest_package(gather_app, case.id).id)
        package.redaction_count = 2  # as built from records naming someone else
        notice = masked_data_notice(row, package)
        assert notice is not None
        assert masked_data_notice(row, package) is None  # once per case
        db.session.commit()
        pipeline.enqueue_email(notice)  # as the build does after its commit
    assert run_queued_jobs(gather_app) == 0
    mail = smtp_server.last_to(EMAIL)
    body = mail.get_body(preferencelist=("plain",)).get_content()
    assert case.reference in mail["Subject"]
    assert "RGPD, art. 15, paragraphe 4" in body and "refus partiel" in body and "CNIL" in body
    assert latest_package(gather_app, case.id).status is PackageStatus.READY  # not released
