"""End to end in a real headless Chromium, the DPO's desk in French (issue 16's Chromium walk):
a request received by e-mail last week is filed with its real date of receipt, and the back
office reads as French sentences, not codes nor English.

Dominique Petit, DPO, signs in (password, then TOTP) in a browser set to English and switches
the back office to French. From the dashboard she files an access request Camille Martin
e-mailed seven days ago: the date of receipt, how it came, the e-mail itself as a ``.eml``
file, the person's name and address. The case page dates it from last week and counts the
legal deadline from there (``dsar.deadlines``); its history is sentences ("Demande
enregistrée…", "…enregistrée par Dominique Petit", "Consultée par…"), never an event code;
the dashboard's channel filter finds it under e-mail and not under post. Camille confirms by
the e-mailed link; Alex Agent checks her identity ("Document", with a note) and opens the case
again. Every staff page of the walk is scanned: no English msgid of the catalogue and no raw
field name on it (known offenders, to fix, are allowed explicitly in ``KNOWN_ENGLISH`` and
``KNOWN_RAW``; anything new fails, and so does an allowed one that is gone).

Same set-up as the other browser walks (``tests/fixtures/browser.py``): the real app over HTTP
in a background thread, the real database, Redis and SMTP catcher, Debian's Chromium.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from babel.dates import format_date
from playwright.sync_api import expect
from sqlalchemy import select

from dsar import deadlines
from dsar.cases.clock import today_in_paris
from dsar.extensions import db
from dsar.models import Case, Channel, MailTemplate
from tests.support.browser import (
    REFERENCE_PATTERN,
    mails_with_subject,
    post_and_wait,
    spaces,
    subject,
    text_in,
)
from tests.support.browser_desk import (
    EVENT_CODE,
    english_on_staff_page,
    history_lines,
    raw_names_on_page,
    write_eml,
)
from tests.support.browser_erasure import record_server_errors, sign_in_without_code
from tests.support.browser_postmortem import confirm_from_mailbox
from tests.support.browser_staff import open_case_from_dashboard, sign_in
from tests.support.staff import make_staff
from tests.support.workers import run_queued_jobs

pytestmark = pytest.mark.browser

DPO_NAME, AGENT_NAME = "Dominique Petit", "Alex Agent"
REQUESTER, REQUESTER_EMAIL = "Camille Martin", "camille.martin@example.fr"
CHANNEL_NOTE = ("Courriel reçu sur contact@organisation.example, transféré par le service "
                "client.")
IDENTITY_NOTE = "Pièce d'identité présentée à l'accueil, conforme au nom du courriel."
#: English a French staff page of the walk still shows: page -> msgids. Known, to fix:
#: - the identity check's summary, written in English with the staff id and the method's
#:   code into ``Case.identity_note`` (dsar/cases/staff_actions.py, ``summary = f"checked on
#:   … by staff {staff.id}, method {method}"``) and shown as stored by templates/staff/case.html
#:   (``<dd id="identity-note">``): "checked on 2026-12-06 by staff 2, method document: …",
#:   where "by staff" is also a msgid of the catalogue.
KNOWN_ENGLISH: dict[str, set[str]] = {}
#: Raw names a French staff page of the walk still shows: page -> names. Known, to fix.
KNOWN_RAW: dict[str, set[str]] = {}


def stored_case(app, reference: str) -> tuple:
    """The case's date of receipt, channel and due date as stored."""
    with app.app_context():
        case = db.session.scalar(select(Case).where(Case.reference == reference))
        return case.received_on, case.channel, case.due_on


def viewed_by(name: str) -> re.Pattern:
    """A history line saying ``name`` viewed the case, once or several times ("Consultée
    par …", "Consultée 3 fois par …")."""
    return re.compile(rf"Consultée (\d+ fois )?par {re.escape(name)}")


def unexpected(found: dict[str, list[str]], known: dict[str, set[str]]) -> list[str]:
    """What ``found`` (page -> offenders) holds beyond ``known``, and what ``known`` allows
    that is no longer found (fixed: the allow-list must shrink with it)."""
    problems = []
    for where, offenders in found.items():
        new = set(offenders) - known.get(where, set())
        if new:
            problems.append(f"{where}: new {sorted(new)}")
    for where, allowed in known.items():
        gone = allowed - set(found.get(where, []))
        if gone:
            problems.append(f"{where}: fixed, remove from the allow-list {sorted(gone)}")
    return problems


def test_dpo_files_an_emailed_request_of_last_week_in_french(
        live_server, new_context, smtp_server, tmp_path):
    app, base = live_server.app, live_server.url
    # The app's French, whitespace collapsed as the pages' text is read (no-break spaces).
    fr = lambda msgid, **values: spaces(text_in(app, "fr", msgid, **values))  # noqa: E731
    dpo = make_staff(app, "dpo", email="dpo-desk@staff.example", name=DPO_NAME)
    agent = make_staff(app, "agent", email="agent-desk@staff.example", name=AGENT_NAME)
    received = today_in_paris() - timedelta(days=7)
    english: dict[str, list[str]] = {}  # page -> English it showed (checked last)
    raw: dict[str, list[str]] = {}  # page -> raw names it showed (checked last)

    def scan(page, page_name: str, where: str) -> None:
        text = page.locator("body").inner_text()
        english[where] = english_on_staff_page(app, page_name, text, [DPO_NAME, AGENT_NAME])
        raw[where] = raw_names_on_page(app, text)

    # 1. The DPO signs in from a browser in English and switches the back office to French.
    dpo_context = new_context("en-GB")
    errors = record_server_errors(dpo_context)
    page = dpo_context.new_page()
    sign_in(page, base, app, dpo, "en")
    page.locator('nav.lang a[data-lang="fr"]').click()
    expect(page).to_have_url(f"{base}/staff/")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.locator("h1")).to_have_text(fr("Open cases"))
    expect(page.locator("#staff-footer")).to_be_visible()  # not the requester's CNIL notice
    scan(page, "dashboard", "dashboard, empty")

    # 2. "Enregistrer une demande reçue": an access request e-mailed last week, with the
    # e-mail as evidence of its date.
    link_text = fr("File a request received")
    assert link_text == "Enregistrer une demande reçue", link_text
    page.get_by_role("link", name=link_text).click()
    expect(page).to_have_url(f"{base}/staff/cases/new")
    expect(page.locator("h1")).to_have_text(link_text)
    eml = write_eml(tmp_path, sender=REQUESTER_EMAIL, name=REQUESTER,
                    to="contact@organisation.example", sent=received,
                    subject="Demande d'accès à mes données personnelles",
                    body="Bonjour,\n\nJe souhaite obtenir une copie de mes données "
                         "personnelles (article 15 du RGPD).\n\nCamille Martin\n")
    page.locator("#kind").select_option("access")
    page.locator("#channel").select_option("email")
    expect(page.locator("#channel option:checked")).to_have_text(fr("e-mail"))
    page.locator("#received_on").fill(received.isoformat())
    page.locator("#channel_note").fill(CHANNEL_NOTE)
    page.locator("#evidence").set_input_files(str(eml))
    page.locator("#message").fill("Je souhaite obtenir une copie de mes données personnelles.")
    page.locator("#requester_name").fill(REQUESTER)
    page.locator("#requester_email").fill(REQUESTER_EMAIL)
    page.locator("#language").select_option("fr")
    scan(page, "filing form", "filing form, filled in")
    page.locator('#file-request-form button[type="submit"]').click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(base)}/staff/cases/DSR-"))
    expect(page.locator("#form-error")).to_have_count(0)
    reference = REFERENCE_PATTERN.search(page.url).group(0)

    # 3. The case page: received last week by e-mail, due one month after that date.
    expect(page.locator("h1")).to_contain_text(reference)
    expect(page.locator("#case-status")).to_have_attribute("data-status", "submitted")
    due = deadlines.due_date(received)
    assert due != deadlines.due_date(today_in_paris())  # the clock runs from the receipt
    assert stored_case(app, reference) == (received, Channel.EMAIL, due)
    expect(page.locator("#due-on")).to_have_attribute("data-date", due.isoformat())
    assert spaces(page.locator("#due-on").inner_text()).startswith(
        spaces(format_date(due, "long", locale="fr")))
    facts = spaces(page.locator("dl.facts").first.inner_text())
    assert f"{spaces(format_date(received, 'long', locale='fr'))} ({fr('e-mail')})" in facts, \
        facts
    request_facts = page.locator("dl.facts").nth(1)
    expect(request_facts).to_contain_text(REQUESTER)
    expect(request_facts).to_contain_text(REQUESTER_EMAIL)
    expect(request_facts).to_contain_text(fr("How the request was received"))
    expect(request_facts).to_contain_text(CHANNEL_NOTE)
    evidence = page.locator('#proofs li[data-kind="evidence"]')
    expect(evidence).to_have_count(1)
    expect(evidence).to_contain_text(fr("Evidence of the date of receipt"))
    expect(evidence).to_contain_text("message/rfc822")

    # Its history, opened again: sentences with her name, never an event code.
    page.reload()
    expect(page.locator("ol.history")).to_contain_text(viewed_by(DPO_NAME))
    lines = history_lines(page)
    assert fr("Request recorded (received by another channel than the portal)") in lines, lines
    assert fr("Request received by another channel, filed by %(actor)s", actor=DPO_NAME) \
        in lines, lines
    history = " / ".join(lines)
    for words in ("Demande enregistrée", f"enregistrée par {DPO_NAME}"):
        assert words in history, (words, lines)
    # Her two views (the page after filing, then reloaded) collapse into one line.
    assert [line for line in lines if viewed_by(DPO_NAME).fullmatch(line)] == [
        f"Consultée 2 fois par {DPO_NAME}"], lines
    assert not [line for line in lines if EVENT_CODE.search(line)], lines
    scan(page, "case", "case page, just filed")

    # 4. The dashboard's channel filter: under e-mail, not under post.
    page.locator("nav.staff-nav").get_by_role("link", name=fr("Cases")).click()
    expect(page).to_have_url(f"{base}/staff/")
    channel = page.locator('form.filters select[name="channel"]')
    channel.select_option("email")
    expect(channel.locator("option:checked")).to_have_text(fr("e-mail"))
    page.locator('form.filters button[type="submit"]').click()
    expect(page).to_have_url(re.compile(r"[?&]channel=email(&|$)"))
    row = page.locator(f'tr[data-reference="{reference}"]')
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(4)).to_have_text(format_date(received, "medium", locale="fr"))
    scan(page, "dashboard", "dashboard, e-mail channel")
    page.locator('form.filters select[name="channel"]').select_option("post")
    page.locator('form.filters button[type="submit"]').click()
    expect(page).to_have_url(re.compile(r"[?&]channel=post(&|$)"))
    expect(page.locator("#no-cases")).to_be_visible()
    expect(row).to_have_count(0)

    # 5. Camille confirms her address by the e-mailed link (in French).
    assert run_queued_jobs(app) == 0  # the confirmation e-mail
    confirm_subject = subject(app, "fr", MailTemplate.CONFIRM_EMAIL, reference)
    assert len(mails_with_subject(smtp_server, confirm_subject)) == 1, \
        [m["Subject"] for m in smtp_server.messages()]
    requester_context = new_context("fr-FR")
    record_server_errors(requester_context, errors)
    confirm_from_mailbox(requester_context.new_page(), base, app, reference, REQUESTER_EMAIL)

    # 6. The agent checks her identity and opens the case again; the evidence stays.
    agent_context = new_context("fr-FR")
    record_server_errors(agent_context, errors)
    desk = agent_context.new_page()
    sign_in_without_code(desk, base, agent.email)
    expect(desk.locator("html")).to_have_attribute("lang", "fr")
    open_case_from_dashboard(desk, base, reference)
    status = desk.locator("#case-status")
    expect(status).to_have_attribute("data-status", "confirmed")
    scan(desk, "case", "case page, confirmed")
    desk.locator("#verify-method").select_option("document")
    expect(desk.locator("#verify-method option:checked")).to_have_text(fr("Document"))
    desk.locator("#verify-note").fill(IDENTITY_NOTE)
    assert post_and_wait(desk, "verify", desk.locator("#verify button[type=submit]")).status \
        == 302
    expect(status).to_have_attribute("data-status", "verified")
    desk.locator("nav.staff-nav").get_by_role("link", name=fr("Cases")).click()
    open_case_from_dashboard(desk, base, reference)
    expect(status).to_have_attribute("data-status", "verified")
    expect(desk.locator("#identity-note")).to_contain_text(IDENTITY_NOTE)
    expect(desk.locator('#proofs li[data-kind="evidence"]')).to_have_count(1)
    expect(desk.locator('#proofs li[data-kind="evidence"] em')).to_have_count(0)  # kept
    expect(desk.locator("#due-on")).to_have_attribute("data-date", due.isoformat())
    lines = history_lines(desk)
    for sentence in (
            fr("Identity checked by %(actor)s; documents deleted", actor=AGENT_NAME),
            fr("E-mail sent: %(what)s", what=fr("confirmation request"))):
        assert sentence in lines, (sentence, lines)
    for name in (DPO_NAME, AGENT_NAME):
        assert any(viewed_by(name).fullmatch(line) for line in lines), (name, lines)
    assert not [line for line in lines if EVENT_CODE.search(line)], lines
    scan(desk, "case", "case page, identity checked")
    assert errors == [], errors

    # Last, the words: no English and no raw name on the staff pages, beyond the known ones.
    problems = ([f"English on {p}" for p in unexpected(english, KNOWN_ENGLISH)]
                + [f"raw name on {p}" for p in unexpected(raw, KNOWN_RAW)])
    assert not problems, "\n".join(problems)
