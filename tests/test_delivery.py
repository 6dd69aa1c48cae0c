"""The DPO releases the answer; the requester downloads it from the status page with a one-time
e-mailed code; it expires and is deleted. A refused download hands nothing over and changes
nothing; every download is audited."""

from __future__ import annotations

import hashlib
import re
import threading
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from dsar.core import storage
from dsar.delivery.release import purge_expired
from dsar.extensions import db
from dsar.models import (
    ActorType,
    AuditEvent,
    Case,
    CaseStatus,
    DownloadCode,
    ExportPackage,
    PackageStatus,
)
from dsar.models.types import utcnow
from tests.conftest import run_queued_jobs
from tests.gather_helpers import verified_case
from tests.helpers import csrf_from, path_of
from tests.staff_helpers import login, make_staff, post_action
from tests.test_gathering import EMAIL, gather_app, org, start  # noqa: F401 (fixtures)

CODE = re.compile(r"^\s+(\d{6})\s*$", re.M)


def in_review(app) -> Case:
    case = verified_case(app)
    start(app, case.id)
    assert run_queued_jobs(app) == 0
    return case


def package_of(app, case_id: int) -> ExportPackage:
    with app.app_context():
        package = db.session.scalars(select(ExportPackage).where(
            ExportPackage.case_id == case_id).order_by(ExportPackage.id.desc())).first()
        db.session.expunge(package)
        return package


def events(app, action: str) -> list[AuditEvent]:
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                  .order_by(AuditEvent.id)).all()
        for row in rows:
            db.session.expunge(row)
        return rows


def release(app, case: Case, **form):
    """The DPO releases the package the case page shows (its id posted with the form)."""
    dpo = make_staff(app, "dpo")
    staff_client = app.test_client()
    login(staff_client, dpo)
    form.setdefault("package_id", str(package_of(app, case.id).id))
    return post_action(staff_client, case.reference, "release", form)


def requester(app, smtp_server):
    """A browser that followed the status link of the "answer ready" e-mail."""
    ready = smtp_server.last_to(EMAIL)
    assert "prête" in ready["Subject"]
    link = next(u for u in smtp_server.links(ready) if "/status/" in u)
    browser = app.test_client()
    assert browser.get(path_of(link)).status_code == 302
    return browser


def ask_code(browser, reference: str):
    page = browser.get(f"/status/{reference}/download")
    return browser.post(f"/status/{reference}/download/code",
                        data={"csrf_token": csrf_from(page.get_data(as_text=True))})


def emailed_code(app, smtp_server) -> str:
    assert run_queued_jobs(app) == 0
    message = smtp_server.last_to(EMAIL)
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert message["Subject"].startswith("Votre code de téléchargement")
    return CODE.search(body).group(1)


def enter_code(browser, reference: str, code: str):
    page = browser.get(f"/status/{reference}/download")
    if page.status_code != 200:  # the expired page has no form: a token from another page
        page = browser.get("/request/access")
    token = csrf_from(page.get_data(as_text=True))
    return browser.post(f"/status/{reference}/download", data={"csrf_token": token,
                                                               "code": code})


@pytest.fixture
def released(gather_app, smtp_server):  # noqa: F811
    """A case whose answer the DPO released, and the requester's browser."""
    case = in_review(gather_app)
    assert release(gather_app, case).status_code == 302
    assert run_queued_jobs(gather_app) == 0
    return case, requester(gather_app, smtp_server)


def test_the_dpo_releases_and_the_requester_downloads_with_a_code(gather_app, released,  # noqa: F811
                                                                  smtp_server):
    case, browser = released
    package = package_of(gather_app, case.id)
    with gather_app.app_context():
        assert db.session.get(Case, case.id).status is CaseStatus.COMPLETED
    assert package.status is PackageStatus.RELEASED
    # Until the end of the 30th day after release, Paris time: the date the person is told.
    until = package.expires_at.astimezone(ZoneInfo("Europe/Paris"))
    assert (until.hour, until.minute, until.second) == (23, 59, 59)
    assert timedelta(days=30) <= package.expires_at - utcnow() < timedelta(days=31)

    status_page = browser.get(f"/status/{case.reference}").get_data(as_text=True)
    assert 'id="download-link"' in status_page
    assert ask_code(browser, case.reference).status_code == 302
    code = emailed_code(gather_app, smtp_server)
    assert code not in browser.get(f"/status/{case.reference}/download").get_data(as_text=True)

    resp = enter_code(browser, case.reference, code)
    assert resp.status_code == 200 and resp.mimetype == "application/zip"
    assert resp.headers["Cache-Control"] == "no-store"
    assert hashlib.sha256(resp.get_data()).hexdigest() == package.sha256
    [downloaded] = events(gather_app, "package.downloaded")
    assert downloaded.actor_type is ActorType.REQUESTER
    assert downloaded.case_id == case.id and downloaded.payload["package_id"] == package.id
    assert package_of(gather_app, case.id).download_count == 1

    # The code is spent: a second download needs a new one.
    again = enter_code(browser, case.reference, code)
    assert again.status_code == 400 and again.mimetype == "text/html"
    assert package_of(gather_app, case.id).download_count == 1
    # The person sees the download in the history of the request.
    assert "Réponse téléchargée" in browser.get(f"/status/{case.reference}").get_data(True)


def assert_nothing_handed_over(app, case, resp, package):
    assert resp.status_code in (400, 429) and resp.mimetype == "text/html"
    assert 'id="download-error"' in resp.get_data(as_text=True)  # our refusal, not a CSRF page
    assert events(app, "package.downloaded") == []
    now = package_of(app, case.id)
    assert (now.status, now.download_count, now.blob_id) == (
        PackageStatus.RELEASED, 0, package.blob_id)
    with app.app_context():
        assert storage.exists(package.blob_id)


def test_no_code_a_wrong_code_or_five_wrong_codes_hand_nothing_over(gather_app, released,  # noqa: F811
                                                                    smtp_server):
    case, browser = released
    package = package_of(gather_app, case.id)

    resp = enter_code(browser, case.reference, "123456")  # no code asked yet
    assert_nothing_handed_over(gather_app, case, resp, package)
    assert 'id="download-error"' in resp.get_data(as_text=True)

    ask_code(browser, case.reference)
    code = emailed_code(gather_app, smtp_server)
    wrong = f"{(int(code) + 1) % 10 ** 6:06d}"
    for left in (4, 3, 2, 1):
        resp = enter_code(browser, case.reference, wrong)
        assert_nothing_handed_over(gather_app, case, resp, package)
        assert f"{left} essai" in resp.get_data(as_text=True)
    resp = enter_code(browser, case.reference, wrong)
    assert "bloqué" in resp.get_data(as_text=True)
    # Locked: even the right code no longer opens it.
    resp = enter_code(browser, case.reference, code)
    assert_nothing_handed_over(gather_app, case, resp, package)
    with gather_app.app_context():
        row = db.session.scalars(select(DownloadCode)).one()
        assert row.locked_at is not None and row.attempts == 5 and row.sealed_code is None
    assert [e.payload["locked"] for e in events(gather_app, "download.code_failed")] == [
        False, False, False, False, True]


def test_a_code_works_only_in_the_browser_that_asked_for_it(gather_app, released, smtp_server):  # noqa: F811
    case, browser = released
    package = package_of(gather_app, case.id)
    # Someone else holding the status link (a forwarded e-mail) asks for a code of their
    # own (e-mailed to the person, not to them)...
    other = requester(gather_app, smtp_server)
    ask_code(other, case.reference)
    emailed_code(gather_app, smtp_server)
    ask_code(browser, case.reference)
    code = emailed_code(gather_app, smtp_server)
    # ...and cannot use the code the person received in their browser, which theirs did not
    # void.
    resp = enter_code(other, case.reference, code)
    assert_nothing_handed_over(gather_app, case, resp, package)
    assert enter_code(browser, case.reference, code).status_code == 200


def test_codes_expire_and_only_the_newest_works(gather_app, released, smtp_server):  # noqa: F811
    case, browser = released
    package = package_of(gather_app, case.id)
    ask_code(browser, case.reference)
    first = emailed_code(gather_app, smtp_server)
    ask_code(browser, case.reference)
    second = emailed_code(gather_app, smtp_server)
    if first != second:
        assert_nothing_handed_over(gather_app, case, enter_code(browser, case.reference, first),
                                   package)
    with gather_app.app_context():
        newest = db.session.scalars(select(DownloadCode).order_by(DownloadCode.id.desc())).first()
        newest.expires_at = utcnow() - timedelta(seconds=1)  # ten minutes later
        db.session.commit()
    resp = enter_code(browser, case.reference, second)
    assert_nothing_handed_over(gather_app, case, resp, package)
    assert "expiré" in resp.get_data(as_text=True)


def test_code_requests_are_limited_per_hour(gather_app, released, smtp_server):  # noqa: F811
    case, browser = released
    for _ in range(3):
        assert ask_code(browser, case.reference).status_code == 302
    resp = ask_code(browser, case.reference)
    assert resp.status_code == 429 and 'id="download-error"' in resp.get_data(as_text=True)
    run_queued_jobs(gather_app)
    codes = [m for m in smtp_server.messages() if m["Subject"].startswith("Votre code")]
    assert len(codes) == 3


def test_an_expired_package_shows_a_clear_page_and_is_gone_from_storage(gather_app, released,  # noqa: F811
                                                                       smtp_server):
    case, browser = released
    package = package_of(gather_app, case.id)
    ask_code(browser, case.reference)
    code = emailed_code(gather_app, smtp_server)
    with gather_app.app_context():
        assert purge_expired() == {"packages": 0, "codes": 0}  # not yet
        assert purge_expired(package.expires_at + timedelta(seconds=1))["packages"] == 1
        assert not storage.exists(package.blob_id)
    expired = package_of(gather_app, case.id)
    assert expired.status is PackageStatus.EXPIRED and expired.blob_id is None

    page = browser.get(f"/status/{case.reference}/download")
    assert page.status_code == 410
    html = page.get_data(as_text=True)
    assert 'id="expired-title"' in html and "n’est plus disponible" in html
    token = csrf_from(browser.get("/request/access").get_data(as_text=True))
    resp = browser.post(f"/status/{case.reference}/download",
                        data={"csrf_token": token, "code": code})
    assert resp.status_code == 410 and resp.mimetype == "text/html"
    assert events(gather_app, "package.downloaded") == []
    assert 'id="answer-expired"' in browser.get(f"/status/{case.reference}").get_data(True)
    [event] = events(gather_app, "package.expired")
    assert event.actor_type is ActorType.SYSTEM


def test_only_the_dpo_releases(gather_app):  # noqa: F811
    case = in_review(gather_app)
    agent = make_staff(gather_app, "agent", email="agent-release@staff.example")
    client = gather_app.test_client()
    login(client, agent)
    assert 'id="release"' not in client.get(f"/staff/cases/{case.reference}").get_data(True)
    assert post_action(client, case.reference, "release").status_code == 403
    assert package_of(gather_app, case.id).status is PackageStatus.READY
    [denied] = events(gather_app, "access.denied")
    assert denied.payload["action"] == "release"


def test_a_failed_source_needs_the_dpos_acknowledgement(gather_app, monkeypatch, smtp_server):  # noqa: F811
    monkeypatch.delenv("TEST_BILLING_URL")  # billing cannot be searched
    case = in_review(gather_app)
    resp = release(gather_app, case)
    assert resp.status_code == 400 and 'id="release-error"' in resp.get_data(as_text=True)
    assert package_of(gather_app, case.id).status is PackageStatus.READY
    assert run_queued_jobs(gather_app) == 0
    assert all("prête" not in m["Subject"] for m in smtp_server.messages())

    resp = release(gather_app, case, acknowledge_failures="yes",
                   acknowledged_source="billing")
    assert resp.status_code == 302
    assert package_of(gather_app, case.id).status is PackageStatus.RELEASED
    [event] = events(gather_app, "package.released")
    assert event.payload["sources_missing"] == ["billing"]
    # The person is told what is missing and how to get it.
    assert run_queued_jobs(gather_app) == 0
    body = smtp_server.last_to(EMAIL).get_body(preferencelist=("plain",)).get_content()
    assert "n’ont pas pu être interrogés" in body and "Facturation" in body


def test_the_package_of_a_withdrawn_case_is_deleted(gather_app):  # noqa: F811
    case = in_review(gather_app)
    package = package_of(gather_app, case.id)
    with gather_app.app_context():
        from dsar.cases.workflow import transition

        transition(db.session.get(Case, case.id), CaseStatus.WITHDRAWN,
                   actor_type=ActorType.REQUESTER)
        db.session.commit()
        assert purge_expired()["packages"] == 1
        assert not storage.exists(package.blob_id)
    assert package_of(gather_app, case.id).status is PackageStatus.EXPIRED


def test_the_ready_e_mail_gives_the_partial_refusal_notice_when_data_was_masked(
        gather_app, smtp_server):  # noqa: F811
    case = in_review(gather_app)
    with gather_app.app_context():
        package = db.session.get(ExportPackage, package_of(gather_app, case.id).id)
        package.redaction_count = 2  # as built from records naming someone else
        db.session.commit()
    assert release(gather_app, case).status_code == 302
    assert run_queued_jobs(gather_app) == 0
    body = smtp_server.last_to(EMAIL).get_body(preferencelist=("plain",)).get_content()
    assert "article 15(4) du RGPD" in body and "report.pdf" in body
    assert "CNIL" in body and "recours" in body


def test_the_dpo_releases_only_the_package_they_saw(gather_app):  # noqa: F811
    case = in_review(gather_app)
    seen = package_of(gather_app, case.id)
    resp = release(gather_app, case, package_id=str(seen.id + 1))  # a newer build since
    assert resp.status_code == 400 and 'id="release-error"' in resp.get_data(as_text=True)
    assert package_of(gather_app, case.id).status is PackageStatus.READY


def test_the_download_stops_at_the_end_of_the_period_even_before_the_purge(
        gather_app, released, smtp_server):  # noqa: F811
    case, browser = released
    ask_code(browser, case.reference)
    code = emailed_code(gather_app, smtp_server)
    with gather_app.app_context():
        package = db.session.get(ExportPackage, package_of(gather_app, case.id).id)
        package.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    resp = enter_code(browser, case.reference, code)
    assert resp.status_code == 410 and resp.mimetype == "text/html"
    assert events(gather_app, "package.downloaded") == []


def test_a_mistyped_code_costs_no_try(gather_app, released, smtp_server):  # noqa: F811
    case, browser = released
    package = package_of(gather_app, case.id)
    ask_code(browser, case.reference)
    code = emailed_code(gather_app, smtp_server)
    for typo in ("12345", "abcdef", "", "1234567"):
        assert_nothing_handed_over(gather_app, case, enter_code(browser, case.reference, typo),
                                   package)
    with gather_app.app_context():
        assert db.session.scalars(select(DownloadCode)).one().attempts == 0
    # Spaces and full-width digits (some phone keyboards) are the same code.
    wide = "".join(chr(ord(d) + 0xFEE0) for d in code)
    assert enter_code(browser, case.reference, f"{wide[:3]} {wide[3:]}").status_code == 200


def test_concurrent_wrong_codes_lock_after_five_and_one_right_code_downloads_once(
        gather_app, released, smtp_server):  # noqa: F811
    """Tries sent at the same moment are counted one by one: the limit holds under load."""
    case, browser = released
    ask_code(browser, case.reference)
    code = emailed_code(gather_app, smtp_server)
    wrong = f"{(int(code) + 1) % 10 ** 6:06d}"
    page = browser.get(f"/status/{case.reference}/download").get_data(as_text=True)
    token = csrf_from(page)
    start_together = threading.Barrier(12)
    statuses = []

    def attempt(value: str) -> None:
        with gather_app.test_client() as client:
            # The same browser session (cookie) as the person's.
            name = gather_app.config["SESSION_COOKIE_NAME"]
            client.set_cookie(name, browser.get_cookie(name).value)
            start_together.wait()
            statuses.append(client.post(f"/status/{case.reference}/download",
                                        data={"csrf_token": token, "code": value}).status_code)

    threads = [threading.Thread(target=attempt, args=(wrong,)) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(set(statuses)) == [400]
    with gather_app.app_context():
        row = db.session.scalars(select(DownloadCode)).one()
        assert row.attempts == 5 and row.locked_at is not None
    assert len(events(gather_app, "download.code_failed")) == 5
    assert enter_code(browser, case.reference, code).status_code == 400  # locked
    assert events(gather_app, "package.downloaded") == []


def test_sending_to_another_organisation_needs_an_address(gather_app, released):  # noqa: F811
    case, _ = released  # an access request: the person named no receiving organisation
    dpo = make_staff(gather_app, "dpo", email="dpo-send@staff.example")
    client = gather_app.test_client()
    login(client, dpo)
    resp = post_action(client, case.reference, "transmit")
    assert resp.status_code == 400 and 'id="transmit-error"' in resp.get_data(as_text=True)
    assert events(gather_app, "package.transmission_requested") == []
