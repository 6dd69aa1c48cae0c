"""Delivering the answer in the tests: a case searched and in review, the DPO's release, the
requester's browser from the "answer ready" e-mail, and the one-time download code."""

from __future__ import annotations

import re

from sqlalchemy import select

from dsar.extensions import db
from dsar.models import Case, ExportPackage
from tests.support.forms import csrf_from, path_of
from tests.support.gathering import EMAIL, start, verified_case
from tests.support.staff import login, make_staff, post_action
from tests.support.workers import run_queued_jobs

#: The download code in the body of its e-mail: six digits alone on an indented line.
CODE = re.compile(r"^\s+(\d{6})\s*$", re.M)


def in_review(app) -> Case:
    """A case of ``EMAIL`` searched by real workers: in review, its package built."""
    case = verified_case(app)
    start(app, case.id)
    assert run_queued_jobs(app) == 0
    return case


def latest_package(app, case_id: int) -> ExportPackage:
    """The case's newest package (detached)."""
    with app.app_context():
        package = db.session.scalars(select(ExportPackage).where(
            ExportPackage.case_id == case_id).order_by(ExportPackage.id.desc())).first()
        db.session.expunge(package)
        return package


def release(app, case: Case, **form):
    """The DPO releases the package the case page shows (its id posted with the form)."""
    dpo = make_staff(app, "dpo")
    staff_client = app.test_client()
    login(staff_client, dpo)
    form.setdefault("package_id", str(latest_package(app, case.id).id))
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
    """The requester asks for a download code from the download page."""
    page = browser.get(f"/status/{reference}/download")
    return browser.post(f"/status/{reference}/download/code",
                        data={"csrf_token": csrf_from(page.get_data(as_text=True))})


def emailed_code(app, smtp_server) -> str:
    """The code of the newest download-code e-mail (sent by a real worker first)."""
    assert run_queued_jobs(app) == 0
    message = smtp_server.last_to(EMAIL)
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert message["Subject"].startswith("Votre code de téléchargement")
    return CODE.search(body).group(1)


def enter_code(browser, reference: str, code: str):
    """The requester types ``code`` on the download page."""
    page = browser.get(f"/status/{reference}/download")
    if page.status_code != 200:  # the expired page has no form: a token from another page
        page = browser.get("/request/access")
    token = csrf_from(page.get_data(as_text=True))
    return browser.post(f"/status/{reference}/download", data={"csrf_token": token,
                                                               "code": code})
