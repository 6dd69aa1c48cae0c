"""Over-size uploads caught in a real headless Chromium before anything is sent (issue 16):
the person keeps what they typed, the message is next to the field in the page's language
(the server's text, from the catalogue), and nothing reaches the server until the file is
replaced. Without JavaScript the server's own check answers, as before.

Same set-up as the other browser walks (``tests/fixtures/browser.py``): the real app over HTTP
in a background thread, the real database, Redis and SMTP catcher, Debian's Chromium.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from dsar.extensions import db
from dsar.models import Case, IdentityProof
from tests.support.browser import text_in
from tests.support.casework import PDF

pytestmark = pytest.mark.browser

MB = 1024 * 1024
FILE_TOO_LARGE = "The file is larger than 10 MB. Please send a smaller file."
TOTAL_TOO_LARGE = ("Together, the files you chose are larger than %(size)d MB, the most one "
                   "request can carry. Please send smaller files (a scan in lower resolution, or "
                   "a PDF).")


def pdf_file(path, size: int = 0):
    """A real PDF at ``path`` padded to about ``size`` bytes (the server accepts it when
    small enough); returns its path as text."""
    path.write_bytes(PDF[:-7] + b"\n" * size + b"%%EOF\n")
    return str(path)


def cases_and_proofs(app) -> tuple[int, int]:
    """How many cases and stored documents the database holds."""
    with app.app_context():
        return (db.session.scalar(select(func.count()).select_from(Case)),
                db.session.scalar(select(func.count()).select_from(IdentityProof)))


def record_posts(page) -> list[str]:
    """The URLs of every POST the page sends, appended as the walk goes on."""
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    return posts


def expect_size_error(page, field: str, message: str) -> None:
    """The message is next to ``field``, with the markup of the server's errors."""
    error = page.locator(f"#{field}-field p.error[role=alert]")
    expect(error).to_have_text(message)
    expect(page.locator(f"#{field}-field")).to_have_class("field has-error")
    expect(page.locator(f"#{field}")).to_have_attribute("aria-invalid", "true")
    error_id = error.get_attribute("id")
    described = page.locator(f"#{field}").get_attribute("aria-describedby").split()
    assert error_id in described


def expect_no_size_error(page, field: str) -> None:
    expect(page.locator(f"#{field}-field p.error")).to_have_count(0)
    expect(page.locator(f"#{field}-field")).to_have_class("field")
    expect(page.locator(f"#{field}")).not_to_have_attribute("aria-invalid", "true")


ACCESS = {"full_name": "Camille Martin", "email": "camille@example.fr",
          "customer_number": "C-4471", "message": "Toutes mes données, s'il vous plaît."}


def test_access_form_keeps_an_oversize_file_in_the_browser(live_server, new_context, tmp_path):
    app, base = live_server.app, live_server.url
    page = new_context("fr-FR").new_page()
    csp_errors: list[str] = []
    page.on("console", lambda m: csp_errors.append(m.text)
            if "Content Security Policy" in m.text else None)
    posts = record_posts(page)
    response = page.goto(f"{base}/request/access")
    # The script is the app's own static file: the strict policy stays as it is.
    policy = response.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy
    expect(page.locator("script:not([src])")).to_have_count(0)
    for name, value in ACCESS.items():
        page.locator(f"#{name}").fill(value)
    page.locator("#declaration").check()
    message = text_in(app, "fr", FILE_TOO_LARGE)
    assert "Mo" in message  # the catalogue's French, as the server's own check says it

    # Chosen: the message appears at once, next to the field.
    page.locator("#proof").set_input_files(pdf_file(tmp_path / "scan.pdf", 10 * MB + 1))
    expect_size_error(page, "proof", message)
    # Sent anyway: stopped, the person lands on the field, everything typed is still there.
    page.locator('main form button[type="submit"]').click()
    expect(page.locator("#proof")).to_be_focused()
    expect(page).to_have_url(f"{base}/request/access")
    expect_size_error(page, "proof", message)
    for name, value in ACCESS.items():
        expect(page.locator(f"#{name}")).to_have_value(value)
    expect(page.locator("#declaration")).to_be_checked()
    assert cases_and_proofs(app) == (0, 0)

    # A file under the limit: the message goes and the request is filed with it.
    page.locator("#proof").set_input_files(pdf_file(tmp_path / "scan-small.pdf", 2 * MB))
    expect_no_size_error(page, "proof")
    page.locator('main form button[type="submit"]').click()
    expect(page).to_have_url(f"{base}/request/sent")
    assert cases_and_proofs(app) == (1, 1)
    # Only that last submit was sent: the stopped one never left the browser.
    assert posts == [f"{base}/request/access"]
    assert csp_errors == []


def fill_execution(page) -> dict[str, str]:
    """The execution form filled in by the person the deceased designated; returns the
    text fields' values."""
    values = {"full_name": "Élise Roux", "email": "elise@example.fr",
              "deceased_name": "Jeanne Roux", "deceased_email": "jeanne@example.fr",
              "date_of_birth": "1941-05-12", "date_of_death": "2025-01-20",
              "message": "Ma mère avait laissé des directives."}
    for name, value in values.items():
        page.locator(f"#{name}").fill(value)
    page.locator('input[name="requester_role"][value="designated_person"]').check()
    page.locator("#declaration").check()
    return values


def expect_execution_kept(page, values: dict[str, str]) -> None:
    for name, value in values.items():
        expect(page.locator(f"#{name}")).to_have_value(value)
    expect(page.locator('input[name="requester_role"][value="designated_person"]')
           ).to_be_checked()
    expect(page.locator("#declaration")).to_be_checked()


def test_execution_form_stops_an_oversize_document_at_its_field(
        live_server, new_context, tmp_path):
    app, base = live_server.app, live_server.url
    page = new_context("en-US").new_page()
    posts = record_posts(page)
    page.goto(f"{base}/request/postmortem_execution")
    values = fill_execution(page)
    page.locator("#death_certificate").set_input_files(pdf_file(tmp_path / "acte.pdf"))
    page.locator("#requester_identity").set_input_files(
        pdf_file(tmp_path / "identite.pdf", 12 * MB))
    message = text_in(app, "en", FILE_TOO_LARGE)

    expect_size_error(page, "requester_identity", message)
    expect_no_size_error(page, "death_certificate")
    page.locator('main form button[type="submit"]').click()
    expect(page.locator("#requester_identity")).to_be_focused()
    expect_size_error(page, "requester_identity", message)
    expect_execution_kept(page, values)
    assert cases_and_proofs(app) == (0, 0)

    page.locator("#requester_identity").set_input_files(pdf_file(tmp_path / "id.pdf", MB))
    expect_no_size_error(page, "requester_identity")
    page.locator('main form button[type="submit"]').click()
    expect(page).to_have_url(f"{base}/request/sent")
    assert cases_and_proofs(app) == (1, 2)
    assert posts == [f"{base}/request/postmortem_execution"]


def test_files_together_over_the_request_limit_are_stopped(live_server, new_context, tmp_path):
    app, base = live_server.app, live_server.url
    # A lower request limit than the default (four files of 10 MB fit in 45 MB): the sum is
    # checked against what the server is configured with.
    app.config["MAX_CONTENT_LENGTH"] = 12 * MB
    page = new_context("fr-FR").new_page()
    posts = record_posts(page)
    page.goto(f"{base}/request/postmortem_execution")
    values = fill_execution(page)
    page.locator("#death_certificate").set_input_files(pdf_file(tmp_path / "acte.pdf", 7 * MB))
    expect_no_size_error(page, "death_certificate")
    page.locator("#requester_identity").set_input_files(
        pdf_file(tmp_path / "identite.pdf", 7 * MB))
    # Each file is under 10 MB; together they are not: said at the file that tipped it over.
    message = text_in(app, "fr", TOTAL_TOO_LARGE, size=12)
    expect_size_error(page, "requester_identity", message)
    expect_no_size_error(page, "death_certificate")
    page.locator('main form button[type="submit"]').click()
    expect(page.locator("#requester_identity")).to_be_focused()
    expect_execution_kept(page, values)
    assert cases_and_proofs(app) == (0, 0)

    page.locator("#requester_identity").set_input_files(pdf_file(tmp_path / "id.pdf"))
    expect_no_size_error(page, "requester_identity")
    page.locator('main form button[type="submit"]').click()
    expect(page).to_have_url(f"{base}/request/sent")
    assert cases_and_proofs(app) == (1, 2)
    assert posts == [f"{base}/request/postmortem_execution"]


def test_without_javascript_the_server_says_it_and_keeps_the_form(
        live_server, browser, tmp_path):
    app, base = live_server.app, live_server.url
    context = browser.new_context(locale="en-US", java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{base}/request/access")
        for name, value in ACCESS.items():
            page.locator(f"#{name}").fill(value)
        page.locator("#declaration").check()
        page.locator("#proof").set_input_files(pdf_file(tmp_path / "scan.pdf", 10 * MB + 1))
        with page.expect_response(lambda r: r.request.method == "POST") as sent:
            page.locator('main form button[type="submit"]').click()
        assert sent.value.status == 400
        expect(page.locator("#proof-error")).to_contain_text(text_in(app, "en", FILE_TOO_LARGE))
        for name, value in ACCESS.items():
            expect(page.locator(f"#{name}")).to_have_value(value)
        assert cases_and_proofs(app) == (0, 0)
    finally:
        context.close()
