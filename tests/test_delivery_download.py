"""The requester downloads the released answer from the status page with a one-time e-mailed
code: a missing, wrong, mistyped, expired or foreign code hands nothing over and changes
nothing; five wrong codes lock it, even when sent at once; every download is audited."""

from __future__ import annotations

import hashlib
import threading
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from dsar.core import storage
from dsar.extensions import db
from dsar.models import ActorType, Case, CaseStatus, DownloadCode, ExportPackage, PackageStatus
from dsar.models.types import utcnow
from tests.support.audit import audit_events
from tests.support.delivery import ask_code, emailed_code, enter_code, latest_package, requester
from tests.support.forms import csrf_from
from tests.support.workers import run_queued_jobs


def test_the_dpo_releases_and_the_requester_downloads_with_a_code(gather_app, released,
                                                                  smtp_server):
    case, browser = released
    package = latest_package(gather_app, case.id)
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
    [downloaded] = audit_events(gather_app, "package.downloaded")
    assert downloaded.actor_type is ActorType.REQUESTER
    assert downloaded.case_id == case.id and downloaded.payload["package_id"] == package.id
    assert latest_package(gather_app, case.id).download_count == 1

    # The code is spent: a second download needs a new one.
    again = enter_code(browser, case.reference, code)
    assert again.status_code == 400 and again.mimetype == "text/html"
    assert latest_package(gather_app, case.id).download_count == 1
    # The person sees the download in the history of the request.
    assert "Réponse téléchargée" in browser.get(f"/status/{case.reference}").get_data(True)


def assert_nothing_handed_over(app, case, resp, package):
    assert resp.status_code in (400, 429) and resp.mimetype == "text/html"
    assert 'id="download-error"' in resp.get_data(as_text=True)  # our refusal, not a CSRF page
    assert audit_events(app, "package.downloaded") == []
    now = latest_package(app, case.id)
    assert (now.status, now.download_count, now.blob_id) == (
        PackageStatus.RELEASED, 0, package.blob_id)
    with app.app_context():
        assert storage.exists(package.blob_id)


def test_no_code_a_wrong_code_or_five_wrong_codes_hand_nothing_over(gather_app, released,
                                                                    smtp_server):
    case, browser = released
    package = latest_package(gather_app, case.id)

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
    assert [e.payload["locked"] for e in audit_events(gather_app, "download.code_failed")] == [
        False, False, False, False, True]


def test_a_code_works_only_in_the_browser_that_asked_for_it(gather_app, released, smtp_server):
    case, browser = released
    package = latest_package(gather_app, case.id)
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


def test_codes_expire_and_only_the_newest_works(gather_app, released, smtp_server):
    case, browser = released
    package = latest_package(gather_app, case.id)
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


def test_code_requests_are_limited_per_hour(gather_app, released, smtp_server):
    case, browser = released
    for _ in range(3):
        assert ask_code(browser, case.reference).status_code == 302
    resp = ask_code(browser, case.reference)
    assert resp.status_code == 429 and 'id="download-error"' in resp.get_data(as_text=True)
    run_queued_jobs(gather_app)
    codes = [m for m in smtp_server.messages() if m["Subject"].startswith("Votre code")]
    assert len(codes) == 3


def test_the_download_stops_at_the_end_of_the_period_even_before_the_purge(
        gather_app, released, smtp_server):
    case, browser = released
    ask_code(browser, case.reference)
    code = emailed_code(gather_app, smtp_server)
    with gather_app.app_context():
        package = db.session.get(ExportPackage, latest_package(gather_app, case.id).id)
        package.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    resp = enter_code(browser, case.reference, code)
    assert resp.status_code == 410 and resp.mimetype == "text/html"
    assert audit_events(gather_app, "package.downloaded") == []


def test_a_mistyped_code_costs_no_try(gather_app, released, smtp_server):
    case, browser = released
    package = latest_package(gather_app, case.id)
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
        gather_app, released, smtp_server):
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
    assert len(audit_events(gather_app, "download.code_failed")) == 5
    assert enter_code(browser, case.reference, code).status_code == 400  # locked
    assert audit_events(gather_app, "package.downloaded") == []
