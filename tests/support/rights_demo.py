"""The demo organisation for issue 14's acceptance (``tests/test_rights_demo.py``): the private
demo of ``tests/support/erasure_demo`` (its data in the test's folder, the CRM and newsletter
APIs in their own processes), plus dsar itself served over real HTTP, so that the demo
newsletter's sign-up asks dsar's suppression list (``HORIZON_SUPPRESSION_URL``, as ``dsar
demo`` wires it) and the organisation's tools can ask the restriction register; and the back
office's steps the three tests share, read from the real pages."""

from __future__ import annotations

import html
import io
import json
import re
import sqlite3
import threading
import zipfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from pypdf import PdfReader
from sqlalchemy import select
from werkzeug.serving import make_server

from dsar.core import storage
from dsar.demo.services.newsletter import SUPPRESSION_TOKEN_ENV, SUPPRESSION_URL_ENV
from dsar.extensions import db
from dsar.models import CaseStatus, ExportPackage, NoticeStatus, RecipientNotice
from tests.support.erasure_demo import DemoOrg, private_demo
from tests.support.gathering import case_status
from tests.support.staff import login, make_staff, post_action
from tests.support.workers import run_queued_jobs

#: The bearer token of dsar's register checks in these tests.
CHECK_TOKEN = "rights-demo-check-token-0123456789"  # noqa: S105 -- a test's own token
_OPTION = re.compile(r'<option value="([^"]*)">([^<]*)</option>')


class _LateApp:
    """A WSGI app bound once the dsar app exists: the server must listen (its address goes
    into the newsletter process's environment) before the demo and its app are made."""

    app = None

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)


@dataclass
class RightsDemo(DemoOrg):
    """The demo organisation, and dsar's own address over HTTP."""

    dsar_url: str = ""

    def restricted(self, email: str) -> bool:
        """What the organisation's tools hear from ``POST /api/restriction/check``."""
        answer = httpx.post(f"{self.dsar_url}/api/restriction/check", json={"email": email},
                            headers={"Authorization": f"Bearer {CHECK_TOKEN}"}, timeout=10,
                            trust_env=False)
        assert answer.status_code == 200, answer.status_code
        return answer.json()["restricted"]

    def sign_up(self, email: str) -> tuple[int, dict]:
        """A sign-up at the demo newsletter (``POST /v3/contacts``): status and body."""
        with self.newsletter() as letter:
            answer = letter.post("/v3/contacts", json={"email": email, "first_name": "Léa",
                                                       "optin_source": "Formulaire du site"})
        return answer.status_code, answer.json()

    def account(self, customer_id: int) -> dict:
        """A platform account as its database holds it, by column name."""
        uri = f"{(self.data / 'platform.sqlite').resolve().as_uri()}?mode=ro"
        with closing(sqlite3.connect(uri, uri=True)) as conn:
            conn.row_factory = sqlite3.Row
            return dict(conn.execute("SELECT * FROM accounts WHERE id = ?",
                                     (customer_id,)).fetchone())

    def crm_contact(self, contact_id: int) -> dict:
        """A CRM contact as the CRM's API gives it."""
        with self.crm() as crm:
            answer = crm.get(f"/api/v1/contacts/{contact_id}")
        assert answer.status_code == 200, answer.status_code
        [contact] = answer.json()["data"]
        return contact

    def letter_contact(self, contact_id: int) -> dict:
        """A newsletter contact as the newsletter's API gives it."""
        with self.newsletter() as letter:
            answer = letter.get(f"/v3/contacts/{contact_id}")
        assert answer.status_code == 200, answer.status_code
        return answer.json()


@contextmanager
def rights_demo(tmp_path: Path, monkeypatch, database_url: str, redis_url: str,
                key_file: str, smtp_server) -> Iterator[RightsDemo]:
    """The private demo organisation with dsar served on a port the OS picks: the register
    checks answer with :data:`CHECK_TOKEN`, and the demo newsletter's sign-up asks dsar's
    suppression list."""
    late = _LateApp()
    server = make_server("127.0.0.1", 0, late, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    dsar_url = f"http://127.0.0.1:{server.port}"
    # Set before the newsletter process starts: it reads them from its environment.
    monkeypatch.setenv(SUPPRESSION_URL_ENV, f"{dsar_url}/api/suppression/check")
    monkeypatch.setenv(SUPPRESSION_TOKEN_ENV, CHECK_TOKEN)
    try:
        with private_demo(tmp_path, monkeypatch, database_url, redis_url, key_file,
                          smtp_server) as org:
            org.app.config["SUPPRESSION_API_TOKEN"] = CHECK_TOKEN
            late.app = org.app
            yield RightsDemo(org.app, org.data, org.crm_url, org.newsletter_url, dsar_url)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def staff_client(app, role: str):
    """A test client signed in through the real pages as a new account of ``role``."""
    client = app.test_client()
    login(client, make_staff(app, role, email=f"{role}-{id(client)}@staff.example"))
    return client


def pick_list(client, reference: str) -> dict[tuple[str, str, str, str], tuple[str, str]]:
    """The rectification's pick list as the case page offers it: (source, collection, field,
    record key) -> (the option's value, the label staff read: "source · collection · field =
    value")."""
    page = client.get(f"/staff/cases/{reference}")
    assert page.status_code == 200
    offered = {}
    for value, label in _OPTION.findall(page.get_data(as_text=True)):
        value = html.unescape(value)
        if value.startswith("["):  # the pick list's tokens are JSON lists
            offered[tuple(json.loads(value))] = (value, html.unescape(label))
    return offered


def record_notices(app, client, case) -> set[str]:
    """Staff record each pending Art. 19 notice as sent by other means (a recipient with an
    address was e-mailed by the workers; no demo recipient declares one); the answer is
    built by the workers afterwards. Returns the recipients staff recorded."""
    with app.app_context():
        notices = dict(db.session.execute(select(RecipientNotice.recipient, RecipientNotice.id)
                                          .where(RecipientNotice.case_id == case.id,
                                                 RecipientNotice.status
                                                 == NoticeStatus.PENDING)).all())
    for notice_id in notices.values():
        assert post_action(client, case.reference, "notice", {
            "notice_id": str(notice_id), "outcome": "notified"}).status_code == 302
    assert run_queued_jobs(app) == 0
    return set(notices)


def release(app, client, case) -> int:
    """The DPO releases the case's answer; the case is completed. Returns the package id."""
    with app.app_context():
        package = db.session.scalar(select(ExportPackage).where(
            ExportPackage.case_id == case.id).order_by(ExportPackage.id.desc()))
        assert package is not None, "no answer built"
        assert package.scope == str(case.kind)
        package_id = package.id
    assert post_action(client, case.reference, "release",
                       {"package_id": str(package_id)}).status_code == 302
    assert case_status(app, case.id) is CaseStatus.COMPLETED
    return package_id


def package_files(app, package_id: int) -> dict[str, bytes]:
    """Every file of a stored package, decrypted and unzipped."""
    with app.app_context():
        package = db.session.get(ExportPackage, package_id)
        with storage.reader(package.blob_id) as blob:
            data = blob.read()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def pdf_text(data: bytes) -> str:
    """A PDF's text on one line (a table cell's wrapped value joined again)."""
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    return " ".join(text.replace("-\n", "-").split())
