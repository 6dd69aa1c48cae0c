"""The case's history and the audit trail read as sentences in the staff member's language:
who did what, by name, with case references; repeated views by the same person in one line;
no event code, no internal id."""

from __future__ import annotations

import re

from dsar.extensions import db
from dsar.models import AuditEvent, CaseStatus
from tests.support.staff import login, make_case, make_staff, post_action
from tests.support.workers import run_queued_jobs


def history_of(page: str) -> list[str]:
    """The history's lines as text."""
    block = page.split('<ol class="history">')[1].split("</ol>")[0]
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", li.split(">", 1)[1])).strip()
            for li in block.split("<li")[1:]]


def test_the_history_reads_as_sentences_with_names_and_collapsed_views(app, smtp_server):
    case = make_case(app, status=CaseStatus.CONFIRMED)
    assert run_queued_jobs(app) == 0
    agent = app.test_client()
    login(agent, make_staff(app, "agent", email="marie@staff.example", name="Marie Dupont"))
    agent.get("/language/fr")
    for _ in range(3):
        agent.get(f"/staff/cases/{case.reference}")
    assert post_action(agent, case.reference, "note", {"body": "Appel reçu."}).status_code \
        == 302
    lines = history_of(agent.get(f"/staff/cases/{case.reference}").get_data(as_text=True))
    text = " | ".join(lines)
    assert any(line.endswith("Demande déposée par le demandeur") for line in lines), text
    assert "Consultée 4 fois par Marie Dupont" in text, text  # 3 + post_action's own look
    assert "Note ajoutée par Marie Dupont" in text, text
    # No code, no internal id anywhere in the history.
    assert not re.search(r"\b[a-z]+\.[a-z_]+\b", text), text
    assert "staff" not in text and "requester" not in text


def test_the_audit_trail_names_people_and_cases(app):
    case = make_case(app, status=CaseStatus.CONFIRMED)
    dpo = app.test_client()
    login(dpo, make_staff(app, "dpo", email="paul@staff.example", name="Paul Martin"))
    dpo.get("/language/fr")
    dpo.get(f"/staff/cases/{case.reference}")
    page = dpo.get("/staff/audit").get_data(as_text=True)
    row = page.split('data-action="case.viewed"')[1].split("</tr>")[0]
    assert "Consultée par Paul Martin" in row and case.reference in row
    with app.app_context():
        assert db.session.query(AuditEvent).filter_by(action="case.viewed").count() == 1


def test_the_identity_note_reads_in_words(app):
    """What remains of the documents reads in the staff member's language, with their name,
    not "checked on 2026-12-06 by staff 3, method document"."""
    case = make_case(app, status=CaseStatus.CONFIRMED)
    agent = app.test_client()
    login(agent, make_staff(app, "agent", email="marie2@staff.example", name="Marie Dupont"))
    agent.get("/language/fr")
    assert post_action(agent, case.reference, "verify", {
        "method": "document", "note": "Passeport vu."}).status_code == 302
    page = agent.get(f"/staff/cases/{case.reference}").get_data(as_text=True)
    note = page.split('id="identity-note">')[1].split("</dd>")[0]
    assert "par Marie Dupont (Pièce justificative)" in note and note.endswith(": Passeport vu.")
    assert "checked on" not in page and "by staff" not in page
