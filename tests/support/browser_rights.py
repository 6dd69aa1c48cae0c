"""What the Chromium walks of rectification, restriction and objection
(``tests/test_browser_rights.py``) need beyond ``tests/support/browser*.py``: the demo
organisation of their own, served with dsar over HTTP; filing a request of any kind on the
portal; the back office's steps they share (verify and start, the pick list, the Art. 19
notices, the release); the requester's download; and the French a page should show.

The organisation is generated into the test's folder (the walks change it), its CRM and
newsletter APIs run in-process on ports the OS picks, and the demo newsletter's sign-up asks
dsar's suppression list over HTTP, as ``dsar demo`` wires it."""

from __future__ import annotations

import io
import json
import sqlite3
import threading
import zipfile
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from flask_babel import format_date
from playwright.sync_api import expect
from pypdf import PdfReader
from sqlalchemy import select
from werkzeug.serving import make_server

from dsar import create_app
from dsar.demo.org import generate, write_config
from dsar.demo.org.config import CRM_TOKEN_ENV, NEWSLETTER_KEY_ENV
from dsar.demo.services import crm_app, newsletter_app, serve
from dsar.demo.services.newsletter import SUPPRESSION_TOKEN_ENV, SUPPRESSION_URL_ENV
from dsar.extensions import db
from dsar.models import AuditEvent, Case, MailTemplate
from tests.support.app import app_config, dispose
from tests.support.browser import (
    REFERENCE_PATTERN,
    in_language,
    mails_with_subject,
    post_and_wait,
    spaces,
    subject,
)
from tests.support.browser_erasure import english_on_page
from tests.support.delivery import CODE
from tests.support.mailbox import body_of
from tests.support.workers import run_queued_jobs

CRM_TOKEN, NEWSLETTER_KEY = "crm-walk-secret", "newsletter-walk-secret"
#: The bearer token of dsar's register checks (the newsletter's sign-up asks with it).
CHECK_TOKEN = "rights-walk-check-token-0123456789"  # noqa: S105 -- a test's own token
#: The smallest demo population (the showcase people are the first 50 accounts).
PEOPLE = 50


@dataclass
class Horizon:
    """The demo organisation "Académie Horizon Formation" and dsar serving it."""

    app: object
    url: str
    data: Path
    crm_url: str
    newsletter_url: str

    def crm(self) -> httpx.Client:
        """A client of the CRM's API, with its token."""
        return httpx.Client(base_url=self.crm_url, timeout=10, trust_env=False,
                            headers={"Authorization": f"Bearer {CRM_TOKEN}"})

    def newsletter(self) -> httpx.Client:
        """A client of the newsletter's API, with its key."""
        return httpx.Client(base_url=self.newsletter_url, timeout=10, trust_env=False,
                            headers={"api-key": NEWSLETTER_KEY})

    def row(self, database: str, table: str, row_id: int) -> dict:
        """One row of a demo database, by column name, read-only straight from the file."""
        uri = f"{(self.data / database).resolve().as_uri()}?mode=ro"
        with closing(sqlite3.connect(uri, uri=True)) as conn:
            conn.row_factory = sqlite3.Row
            found = conn.execute(f"SELECT * FROM {table} WHERE id = ?",  # noqa: S608
                                 (row_id,)).fetchone()
        assert found is not None, (database, table, row_id)
        return dict(found)

    def ids(self, database: str, table: str, column: str, value) -> list[int]:
        """The ids of the rows of ``table`` whose ``column`` is ``value`` (letter case
        ignored, as the sources' searches do)."""
        uri = f"{(self.data / database).resolve().as_uri()}?mode=ro"
        with closing(sqlite3.connect(uri, uri=True)) as conn:
            return [r[0] for r in conn.execute(
                f"SELECT id FROM {table} WHERE lower({column}) = lower(?) "  # noqa: S608
                "ORDER BY id", (str(value),))]


@contextmanager
def live_horizon(tmp_path: Path, monkeypatch, database_url: str, redis_url: str,
                 key_file: str, smtp_server) -> Iterator[Horizon]:
    """The demo organisation written into ``tmp_path/demo-org`` for this test alone, its two
    APIs running, and dsar searching its six sources served over HTTP on 127.0.0.1 (the demo
    mailbox on the test's SMTP catcher, e-mailed links pointing at this server)."""
    data = tmp_path / "demo-org"
    generate(data, PEOPLE)
    monkeypatch.setenv(CRM_TOKEN_ENV, CRM_TOKEN)
    monkeypatch.setenv(NEWSLETTER_KEY_ENV, NEWSLETTER_KEY)
    monkeypatch.setenv("DSAR_INSTANCE_PATH", str(tmp_path))  # {instance} in sources.toml
    apis = [serve(crm_app(data / "crm.sqlite", CRM_TOKEN)),
            serve(newsletter_app(data / "newsletter.sqlite", NEWSLETTER_KEY))]
    crm_url, newsletter_url = (f"http://127.0.0.1:{port}" for _, _, port in apis)
    write_config(tmp_path, crm_url=crm_url, newsletter_url=newsletter_url)
    config = app_config(database_url, redis_url, key_file, tmp_path / "storage",
                        smtp_server.port)
    config.update(SOURCES_FILE=str(tmp_path / "sources.toml"),
                  REGISTER_FILE=str(tmp_path / "register.toml"), GATHER_RETRY_INTERVALS=[],
                  DEMO_MAILBOX_DIR=str(smtp_server.directory), SUPPRESSION_API_TOKEN=CHECK_TOKEN)
    app = create_app(config)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    app.config["BASE_URL"] = url
    # The in-process newsletter reads these when a sign-up comes, as the demo's own does.
    monkeypatch.setenv(SUPPRESSION_URL_ENV, f"{url}/api/suppression/check")
    monkeypatch.setenv(SUPPRESSION_TOKEN_ENV, CHECK_TOKEN)
    thread = threading.Thread(target=server.serve_forever, name="live-horizon", daemon=True)
    thread.start()
    try:
        yield Horizon(app, url, data, crm_url, newsletter_url)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
        dispose(app)
        for api, api_thread, _ in apis:
            api.shutdown()
            api.server_close()
            api_thread.join(10)


# ------------------------------------------------------------------------------ the requester


def file_request(page, base: str, app, kind: str, person: dict,
                 details: Callable[[object], None]) -> str:
    """The requester picks ``kind`` on the portal's home page, fills in who they are
    (``person``: a showcase entry), lets ``details`` fill the kind's own fields, sends the
    request and follows the e-mailed confirmation link (through the demo mailbox); returns
    the reference, on the status page."""
    page.goto(f"{base}/")
    page.locator(f'a[data-kind="{kind}"]').click()
    expect(page).to_have_url(f"{base}/request/{kind}")
    page.locator("#full_name").fill(f"{person['first_name']} {person['last_name']}")
    page.locator("#email").fill(person["email"])
    page.locator("#customer_number").fill(str(person["customer_id"]))
    details(page)
    page.locator("#declaration").check()
    page.locator('main form button[type="submit"]').click()
    expect(page).to_have_url(f"{base}/request/sent")
    expect(page.locator("#form-errors")).to_have_count(0)
    lead = page.locator("main p.lead")
    expect(lead).to_contain_text(REFERENCE_PATTERN)
    reference = REFERENCE_PATTERN.search(lead.inner_text()).group(0)
    assert run_queued_jobs(app) == 0  # the confirmation e-mail
    page.goto(f"{base}/demo/mailbox")
    mail = page.locator("article.mail").filter(
        has=page.locator(f'a[href^="{base}/confirm/{reference}/"]'))
    expect(mail).to_have_attribute("data-to", person["email"])
    mail.locator(f'a[href^="{base}/confirm/{reference}/"]').click()
    page.locator("#confirm-button").click()
    expect(page).to_have_url(f"{base}/status/{reference}")
    return reference


def open_status_from_ready_mail(page, base: str, app, smtp_server, reference: str,
                                email: str) -> str:
    """The requester follows the link of the "answer ready" e-mail (read in the demo
    mailbox) to the status page; returns the e-mail's body."""
    title = subject(app, "fr", MailTemplate.PACKAGE_READY, reference)
    page.goto(f"{base}/demo/mailbox")
    ready = page.locator("article.mail").filter(has=page.get_by_role("heading", name=title))
    expect(ready).to_have_count(1)
    expect(ready).to_have_attribute("data-to", email)
    [mail] = mails_with_subject(smtp_server, title)
    ready.locator(f'a[href^="{base}/status/{reference}/"]').click()
    expect(page).to_have_url(f"{base}/status/{reference}")
    return body_of(mail)


def download_answer(page, base: str, app, smtp_server, reference: str, email: str,
                    folder: Path) -> tuple[list[str], str]:
    """From the status page: a one-time code by e-mail, typed on the download page, and the
    ZIP saved into ``folder``; returns its names and the text of its ``certificate.pdf``."""
    members = download_zip(page, base, app, smtp_server, reference, email, folder)
    pdf = PdfReader(io.BytesIO(members["certificate.pdf"]))
    text = "\n".join(p.extract_text() for p in pdf.pages)
    # A table cell wraps a long value after its hyphen ("Fontaine-\nMorel"): joined again.
    return list(members), spaces(text.replace("-\n", "-"))


def download_zip(page, base: str, app, smtp_server, reference: str, email: str,
                 folder: Path) -> dict[str, bytes]:
    """From the status page: a one-time code by e-mail, typed on the download page, and the
    ZIP saved into ``folder``; returns its members."""
    page.locator("#download-link").click()
    expect(page).to_have_url(f"{base}/status/{reference}/download")
    page.locator("#code-button").click()
    expect(page.locator("#code-sent")).to_be_visible()
    assert run_queued_jobs(app) == 0
    code_mail = smtp_server.last_to(email)
    assert code_mail["Subject"] == subject(app, "fr", MailTemplate.DOWNLOAD_CODE, reference)
    page.locator("#code").fill(CODE.search(body_of(code_mail)).group(1))
    with page.expect_download() as download:
        page.locator("#download-button").click()
    zip_path = folder / download.value.suggested_filename
    download.value.save_as(zip_path)
    with zipfile.ZipFile(zip_path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


# ------------------------------------------------------------------------------ the back office


def verify_and_start(page, app) -> None:
    """On the open case page: the agent records the identity check and starts processing;
    the search runs on the worker and the case is then in review."""
    status = page.locator("#case-status")
    expect(status).to_have_attribute("data-status", "confirmed")
    page.locator("#verify-method").select_option("email_and_identifiers")
    page.locator("#verify-note").fill("Adresse confirmée, numéro client concordant.")
    assert post_and_wait(page, "verify", page.locator("#verify button[type=submit]")).status \
        == 302
    expect(status).to_have_attribute("data-status", "verified")
    assert post_and_wait(page, "start", page.locator("#start button[type=submit]")).status \
        == 302
    expect(status).to_have_attribute("data-status", "in_progress")
    assert run_queued_jobs(app) == 0
    page.reload()
    expect(status).to_have_attribute("data-status", "review")


def pick_list(page) -> dict[tuple[str, str, str, str], str]:
    """The rectification's pick list as the page offers it: (source, collection, field,
    record key) -> the option's value."""
    values = page.locator("#correct select[name=targets] option").evaluate_all(
        "options => options.map(o => o.value)")
    return {tuple(json.loads(value)): value for value in values}


def map_correction(page, values: list[str], new_value: str) -> None:
    """The "correct" form: the fields picked (option values) and what they should say."""
    form = page.locator("#correct")
    form.locator("select[name=targets]").select_option(values)
    form.locator("input[name=new_value]").fill(new_value)
    assert post_and_wait(page, "correct", form.locator("button[type=submit]")).status == 302


def approve(page, app) -> None:
    """The DPO approves the plan; the steps and the verification run on the worker."""
    assert post_and_wait(page, "approve", page.locator("#approve button[type=submit]")).status \
        == 302
    expect(page.locator("#case-status")).to_have_attribute("data-status", "executing")
    assert run_queued_jobs(app) == 0
    page.reload()
    expect(page.locator("[data-plan-status]")).to_have_attribute("data-plan-status",
                                                                 "verified")


def record_notices(page, app) -> list[str]:
    """No demo recipient declares an address: staff record each Art. 19 notice as told by
    other means through the page's form, one by one; the answer is then built on the worker.
    Returns the recipients (``data-recipient``) recorded."""
    recorded = []
    form = page.locator("#notice")
    while form.count():
        pending = page.locator('#notice-table tr[data-status="pending"]')
        recorded.append(pending.first.get_attribute("data-recipient"))
        # The form lists the pending notices in the table's order: the first is that row.
        form.locator("select[name=notice_id]").select_option(index=0)
        form.locator("select[name=outcome]").select_option("notified")
        assert post_and_wait(page, "notice", form.locator("button[type=submit]")).status == 302
        expect(page.locator(f'#notice-table tr[data-recipient="{recorded[-1]}"]')) \
            .to_have_attribute("data-status", "notified")
    assert run_queued_jobs(app) == 0
    page.reload()
    return recorded


def release(page) -> None:
    """The DPO releases the answer prepared; the case is completed."""
    expect(page.locator("#package")).to_be_visible()
    assert post_and_wait(page, "release", page.locator("#release button[type=submit]")).status \
        == 302
    expect(page.locator("#case-status")).to_have_attribute("data-status", "completed")
    expect(page.locator("#package-released")).to_be_visible()


# ------------------------------------------------------------------------------ French


def french_date(app, day) -> str:
    """``day`` as the French pages write it ("9 décembre 2026")."""
    return in_language(app, "fr", lambda: format_date(day, "long"))


def french_problems(app, shown: dict[str, str], expected: dict[str, list[str]],
                    msgids: dict[str, list]) -> list[str]:
    """What a French page gets wrong: per page (``shown``: its text), the French texts
    ``expected`` there that it does not show, and the English messages (``msgids``: the
    page's own) it shows untranslated."""
    problems = []
    for where, text in shown.items():
        text = spaces(text)
        missing = [t for t in expected.get(where, []) if t not in text]
        if missing:
            problems.append(f"{where}: missing the French {missing}")
        english = english_on_page(app, text, msgids.get(where, []))
        if english:
            problems.append(f"{where}: English shown {english}")
    return problems


def actor_types(app, reference: str) -> set:
    """Who acted on the case, by the audit trail (``ActorType`` values)."""
    with app.app_context():
        case_id = db.session.scalar(select(Case.id).where(Case.reference == reference))
        return set(db.session.scalars(select(AuditEvent.actor_type).where(
            AuditEvent.case_id == case_id)))
