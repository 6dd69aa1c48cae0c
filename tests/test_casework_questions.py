"""Staff ask the requester a question (issue 3, legal rules §1 D8), through the real pages: the
clock pauses until the answer, given from the e-mailed link with an optional document; a
question or an answer without text, or with a disguised executable, is refused and changes
nothing.

Dates are pinned with ``CLOCK_TODAY``. The worked example: received Wednesday 2025-03-05, due
Monday 2025-04-07 (D4).
"""

from __future__ import annotations

from datetime import date

import pytest
from markupsafe import escape
from sqlalchemy import select

from dsar import deadlines
from dsar.core import storage
from dsar.extensions import db
from dsar.models import CaseStatus, ClockPause, IdentityProof, InfoRequest
from tests.support.casework import (
    DOUBT,
    DUE,
    EXE,
    PDF,
    QUESTION,
    RECEIVED,
    ask,
    blob_files,
    case_state,
    fetch,
    open_status_link,
    post_answer,
    refused,
    set_today,
    staff_session,
)
from tests.support.mailbox import body_of
from tests.support.staff import make_case, post_action


@pytest.mark.parametrize(("resume", "upload"), [
    (CaseStatus.CONFIRMED, None),
    (CaseStatus.VERIFIED, (PDF, "contract.pdf")),
], ids=["confirmed-text-only", "verified-with-pdf"])
def test_question_pauses_the_clock_until_the_answer(app, run_jobs, smtp_server, resume, upload):
    """D8: a reasonable doubt about identity, recorded with its reason, pauses the clock from
    the day the question is sent to the day the answer arrives."""
    case = make_case(app, status=resume, received_on=RECEIVED)
    assert case.due_on == DUE
    agent, staff = staff_session(app, "agent")

    set_today(app, "2025-03-10")
    resp = post_action(staff, case.reference, "ask", {"question": QUESTION, "doubt": DOUBT})
    assert resp.status_code == 302
    asked = fetch(app, case.id)
    assert asked.status is CaseStatus.NEEDS_INFO
    with app.app_context():
        [pause] = db.session.scalars(select(ClockPause).where(ClockPause.case_id == case.id))
        assert (pause.started_on, pause.ended_on) == (date(2025, 3, 10), None)
        assert DOUBT in pause.reason
        [question] = db.session.scalars(select(InfoRequest).where(
            InfoRequest.case_id == case.id))
        assert (question.question, question.asked_by_id) == (QUESTION, agent.id)

    # The requester is e-mailed the question and the private status link.
    assert run_jobs() == 0
    mail = smtp_server.last_to(case.requester_email)
    assert case.reference in mail["Subject"]
    assert QUESTION in body_of(mail)
    status_url = next(u for u in smtp_server.links(mail) if f"/status/{case.reference}/" in u)

    requester, status_page = open_status_link(app, status_url)
    html = requester.get(status_page).get_data(as_text=True)
    assert 'data-status="needs_info"' in html
    assert f'id="question-text">{escape(QUESTION)}</p>' in html

    # Seven days later the answer arrives: the clock resumes.
    set_today(app, "2025-03-17")
    resp = post_answer(requester, case.reference, "Contract 778-2201.", upload)
    assert resp.status_code == 302

    answered = fetch(app, case.id)
    assert answered.status is resume
    with app.app_context():
        pause = db.session.get(ClockPause, pause.id)
        assert pause.ended_on == date(2025, 3, 17)
        question = db.session.get(InfoRequest, question.id)
        assert question.answer == "Contract 778-2201." and question.answered_at is not None
        if upload is None:
            assert question.answer_proof_id is None
        else:
            proof = db.session.get(IdentityProof, question.answer_proof_id)
            assert proof.case_id == case.id and proof.content_type == "application/pdf"
            assert storage.get(proof.blob_id) == PDF
    # D8: raw end Sat 2025-04-05 + 7 paused days = Sat 2025-04-12, rolled to Mon 2025-04-14.
    assert answered.due_on == date(2025, 4, 14)
    assert answered.due_on == deadlines.effective_due_date(
        RECEIVED, pauses=[(date(2025, 3, 10), date(2025, 3, 17))], today=date(2025, 3, 17))

    html = requester.get(status_page).get_data(as_text=True)
    assert 'id="question-text"' not in html
    assert 'data-date="2025-04-14"' in html
    assert f'data-status="{resume.value}"' in html


def test_answer_with_a_disguised_executable_is_refused_and_changes_nothing(app, run_jobs,
                                                                          smtp_server):
    case = make_case(app, received_on=RECEIVED)
    _, staff = staff_session(app, "agent")
    set_today(app, "2025-03-10")
    status_url = ask(app, staff, case, run_jobs, smtp_server)
    requester, status_page = open_status_link(app, status_url)
    before = case_state(app, case.id)

    set_today(app, "2025-03-17")
    resp = post_answer(requester, case.reference, "Here is my contract.", (EXE, "contract.pdf"))

    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert 'id="proof-error"' in html
    assert "This file is not a PDF, JPEG or PNG document." in html
    assert "Here is my contract." in html  # what was typed is kept
    assert case_state(app, case.id) == before
    with app.app_context():
        [question] = db.session.scalars(select(InfoRequest).where(
            InfoRequest.case_id == case.id))
        assert question.answer is None and question.answered_at is None
        assert question.pause.ended_on is None
    assert blob_files(app) == []
    # The question is still there to answer.
    assert 'id="question-text"' in requester.get(status_page).get_data(as_text=True)


def test_answer_without_text_is_refused(app, run_jobs, smtp_server):
    case = make_case(app, received_on=RECEIVED)
    _, staff = staff_session(app, "agent")
    set_today(app, "2025-03-10")
    requester, _ = open_status_link(app, ask(app, staff, case, run_jobs, smtp_server))
    before = case_state(app, case.id)
    resp = post_answer(requester, case.reference, "   ", (PDF, "contract.pdf"))
    assert resp.status_code == 400
    assert 'id="answer-error"' in resp.get_data(as_text=True)
    assert case_state(app, case.id) == before
    assert blob_files(app) == []


def test_question_without_text_is_refused(app):
    case = make_case(app, received_on=RECEIVED)
    _, staff = staff_session(app, "agent")
    before = case_state(app, case.id)
    resp = post_action(staff, case.reference, "ask", {"question": "  "})
    assert "Please write the question." in refused(resp, "ask")
    assert case_state(app, case.id) == before


def test_a_question_about_the_scope_does_not_pause_the_clock(app, run_jobs, smtp_server):
    """D8: only a doubt about identity pauses the clock. A question to clarify the request
    leaves the due date where it was, and the e-mail says so; the answer changes nothing."""
    case = make_case(app, status=CaseStatus.VERIFIED, received_on=RECEIVED)
    _, staff = staff_session(app, "agent")
    set_today(app, "2025-03-10")
    resp = post_action(staff, case.reference, "ask", {
        "question": "Quels contrats voulez-vous dire ?"})
    assert resp.status_code == 302
    assert fetch(app, case.id).status is CaseStatus.NEEDS_INFO
    with app.app_context():
        assert db.session.scalars(select(ClockPause).where(
            ClockPause.case_id == case.id)).all() == []
    assert run_jobs() == 0
    mail = smtp_server.last_to(case.requester_email)
    assert "suspended" not in body_of(mail) and "suspendu" not in body_of(mail)
    status_url = next(u for u in smtp_server.links(mail) if f"/status/{case.reference}/" in u)
    requester, status_page = open_status_link(app, status_url)
    set_today(app, "2025-03-17")
    assert post_answer(requester, case.reference, "Le contrat 778-2201.", None).status_code \
        == 302
    answered = fetch(app, case.id)
    assert answered.status is CaseStatus.VERIFIED and answered.due_on == DUE


def test_a_paused_case_stays_on_the_dashboard_lists_with_both_dates(app, run_jobs, smtp_server):
    """D8: a case whose clock is paused for a doubt about identity is still counted on the
    dashboard's overdue list once its unpaused date has passed, and its row says since when
    it is paused and what the date would be without the pause."""
    case = make_case(app, status=CaseStatus.CONFIRMED, received_on=RECEIVED)
    _, staff = staff_session(app, "dpo")
    set_today(app, "2025-03-10")
    assert post_action(staff, case.reference, "ask", {"question": QUESTION,
                                                      "doubt": DOUBT}).status_code == 302
    set_today(app, "2025-04-08")  # the day after the unpaused due date (7 April)
    page = staff.get("/staff/").get_data(as_text=True)
    row = page.split(f'data-reference="{case.reference}"')[1].split("</tr>")[0]
    assert 'data-since="2025-03-10"' in row
    assert "paused since Mar 10, 2025" in row and "(without the pause: Apr 7, 2025)" in row
    assert 'id="count-overdue">1<' in page
