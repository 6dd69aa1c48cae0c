"""What the Chromium walk of a deceased person's rights (``tests/test_browser_postmortem.py``)
needs beyond ``tests/support/browser*.py``: a living person filing and changing her directives
on the portal, the person she designated filing the execution with its documents, the
confirmation links followed through the demo mailbox, and the answer downloaded with its
one-time code and opened (its ``export.json`` and the text of its ``certificate.pdf``)."""

from __future__ import annotations

import io
import json
from pathlib import Path

from playwright.sync_api import expect
from pypdf import PdfReader

from dsar.models import MailTemplate
from tests.support.browser import REFERENCE_PATTERN, spaces, subject
from tests.support.browser_rights import download_zip
from tests.support.casework import PDF
from tests.support.workers import run_queued_jobs

#: The documents the execution form takes for a designated person: field -> file name.
DOCUMENTS = {"death_certificate": "acte-de-deces.pdf",
             "requester_identity": "piece-d-identite.pdf"}


def choose_directives(scope, choices: dict[str, str]) -> None:
    """Tick one radio per category (``choices``: category -> erase, hand_over or keep)
    within ``scope`` (the filing page, or the status page's change form)."""
    for category, choice in choices.items():
        scope.locator(f'input[name="category_{category}"][value="{choice}"]').check()


def send_request(page, base: str, app) -> str:
    """Send the portal form filled in on ``page``; returns the reference the next page
    shows (the confirmation e-mail is queued, then sent by a real worker)."""
    page.locator("#declaration").check()
    page.locator('main form button[type="submit"]').click()
    expect(page.locator("#form-errors")).to_have_count(0)
    expect(page).to_have_url(f"{base}/request/sent")
    lead = page.locator("main p.lead")
    expect(lead).to_contain_text(REFERENCE_PATTERN)
    reference = REFERENCE_PATTERN.search(lead.inner_text()).group(0)
    assert run_queued_jobs(app) == 0  # the confirmation e-mail
    return reference


def confirm_from_mailbox(page, base: str, app, reference: str, email: str) -> None:
    """Follow the e-mailed confirmation link of ``reference`` (read in the demo mailbox,
    addressed to ``email``) and confirm; lands on the status page."""
    page.goto(f"{base}/demo/mailbox")
    link = f'a[href^="{base}/confirm/{reference}/"]'
    mail = page.locator("article.mail").filter(has=page.locator(link))
    expect(mail).to_have_count(1)
    expect(mail).to_have_attribute("data-to", email)
    mail.locator(link).click()
    page.locator("#confirm-button").click()
    expect(page).to_have_url(f"{base}/status/{reference}")
    assert run_queued_jobs(app) == 0  # the acknowledgement


def file_directives(page, base: str, app, *, name: str, email: str,
                    choices: dict[str, str], designated: tuple[str, str],
                    instructions: str) -> tuple[str, str]:
    """The person files directives from the portal's home page (a choice per category, the
    person designated, instructions, the specific consent) and confirms her address; returns
    the reference and the visible text of the filing form (filled in)."""
    page.goto(f"{base}/")
    page.locator('a[data-kind="postmortem_directive"]').click()
    expect(page).to_have_url(f"{base}/request/postmortem_directive")
    page.locator("#full_name").fill(name)
    page.locator("#email").fill(email)
    categories = page.locator("#directive-categories")
    # The form offers exactly the register's categories, each with the three choices.
    expect(categories.locator('input[type="radio"]')).to_have_count(3 * len(choices))
    choose_directives(categories, choices)
    page.locator("#directive_instructions").fill(instructions)
    page.locator("#trusted_person_name").fill(designated[0])
    page.locator("#trusted_person_email").fill(designated[1])
    page.locator("#consent").check()
    form_text = page.locator("main").inner_text()
    reference = send_request(page, base, app)
    confirm_from_mailbox(page, base, app, reference, email)
    return reference, form_text


def file_execution(page, base: str, app, *, name: str, email: str, deceased: dict,
                   folder: Path) -> tuple[str, str]:
    """The designated person files the execution from the portal's home page: her identity,
    the deceased's (``deceased``: name, email, born, died as ISO dates), her role and the two
    documents (files written into ``folder``), then confirms her address; returns the
    reference and the visible text of the filing form (filled in)."""
    page.goto(f"{base}/")
    page.locator('a[data-kind="postmortem_execution"]').click()
    expect(page).to_have_url(f"{base}/request/postmortem_execution")
    page.locator("#full_name").fill(name)
    page.locator("#email").fill(email)
    page.locator("#deceased_name").fill(deceased["name"])
    page.locator("#deceased_email").fill(deceased["email"])
    page.locator("#date_of_birth").fill(deceased["born"])
    page.locator("#date_of_death").fill(deceased["died"])
    page.locator('input[name="requester_role"][value="designated_person"]').check()
    for field, filename in DOCUMENTS.items():
        path = folder / filename
        path.write_bytes(PDF)
        page.locator(f"#{field}").set_input_files(str(path))
    form_text = page.locator("main").inner_text()
    reference = send_request(page, base, app)
    confirm_from_mailbox(page, base, app, reference, email)
    return reference, form_text


def download_answer(page, base: str, app, smtp_server, reference: str, email: str,
                    folder: Path) -> dict[str, bytes]:
    """From the "answer ready" e-mail (demo mailbox) to the status page, then a one-time code
    by e-mail, typed on the download page: the ZIP saved into ``folder``; returns its
    members."""
    title = subject(app, "fr", MailTemplate.PACKAGE_READY, reference)
    page.goto(f"{base}/demo/mailbox")
    ready = page.locator("article.mail").filter(has=page.get_by_role("heading", name=title))
    expect(ready).to_have_count(1)
    expect(ready).to_have_attribute("data-to", email)
    ready.locator(f'a[href^="{base}/status/{reference}/"]').click()
    expect(page).to_have_url(f"{base}/status/{reference}")
    return download_zip(page, base, app, smtp_server, reference, email, folder)


def letter_text(files: dict[str, bytes]) -> str:
    """The text of the package's ``certificate.pdf``, whitespace collapsed (a table cell
    wraps a long value after its hyphen: joined again)."""
    pdf = PdfReader(io.BytesIO(files["certificate.pdf"]))
    return spaces("\n".join(p.extract_text() for p in pdf.pages).replace("-\n", "-"))


def exported_records(files: dict[str, bytes]) -> dict[str, list[dict]]:
    """``export.json``'s records, "source/collection" -> the fields of each record."""
    data = json.loads(files["export.json"])
    return {f"{source['name']}/{collection['name']}": [r["fields"] for r in collection["records"]]
            for source in data["sources"] for collection in source["collections"]}
