"""What the end-to-end tests in headless Chromium share: where Chromium is and how it starts,
the live server they drive, and the app's own texts in a given language (the tests read the
catalogue rather than hard-code translations)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from flask import Flask
from flask_babel import force_locale, gettext

from dsar.mail.compose import SUBJECTS
from dsar.models import MailTemplate

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # the tests run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium keeps calling Google services, which floods a closed network.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Screenshots the browser tests leave for a person to look at.
ARTIFACTS = Path(__file__).resolve().parent.parent.parent / "test-artifacts"
REFERENCE_PATTERN = re.compile(r"DSR-[0-9A-Z]{4}-[0-9A-Z]{4}")


@dataclass
class LiveServer:
    """The app served over HTTP, and its base URL."""

    app: Flask
    url: str


def in_language(app: Flask, lang: str, text) -> str:
    """``text`` (a lazy string, or a callable returning text) as the app renders it in
    ``lang``, from the app's own catalogue: the test does not hard-code translations."""
    with app.test_request_context(), force_locale(lang):
        return str(text() if callable(text) else text)


def text_in(app: Flask, lang: str, msgid: str, **values) -> str:
    """A message of the app (``gettext`` msgid, i.e. its English text) as rendered in
    ``lang``."""
    return in_language(app, lang, lambda: gettext(msgid, **values))


def subject(app: Flask, lang: str, template: MailTemplate, reference: str) -> str:
    """The subject of the e-mail ``template`` about case ``reference``, in ``lang``."""
    return in_language(app, lang, lambda: str(SUBJECTS[template]) % {"reference": reference})


def spaces(text: str) -> str:
    """Collapse whitespace (including the no-break spaces of French formatting)."""
    return " ".join(text.replace("\u00a0", " ").replace("\u202f", " ").split())


def post_and_wait(page, action: str, button):
    """Click ``button`` of a case action form; returns the response to the POST itself (302
    when the action is done, 400 when it is refused)."""
    with page.expect_response(
        lambda r: r.request.method == "POST" and r.url.endswith(f"/{action}")
    ) as info:
        button.click()
    page.wait_for_load_state()
    return info.value


def mails_with_subject(smtp_server, title: str) -> list:
    """The messages the mailbox received with the subject ``title``."""
    return [m for m in smtp_server.messages() if m["Subject"] == title]
