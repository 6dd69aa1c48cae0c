"""The business rules of the staff actions (issue 3, LEGAL.md §1 D6–D8, §2, §3), through the real
pages: questions that pause the clock and the requester's answer, the extension, refusals,
identity decisions, duplicates, and the audit of every view.

Dates are pinned with ``CLOCK_TODAY``. The worked example used throughout: received Wednesday
2025-03-05, so the one-month end is Saturday 2025-04-05 and the due date Monday 2025-04-07 (D4);
extended, 2025-06-05 (D7).
"""

from __future__ import annotations

from datetime import date

import pytest
from babel.dates import format_date
from markupsafe import escape
from sqlalchemy import select

from dsar import deadlines
from dsar.core import storage
from dsar.extensions import db
from dsar.models import (
    CaseKind,
    CaseStatus,
    ClockPause,
    IdentityProof,
    InfoRequest,
)
from tests.casework_helpers import (
    DUE,
    EXE,
    EXTENDED_DUE,
    PDF,
    QUESTION,
    RECEIVED,
    add_proof,
    ask,
    audit_events,
    blob_files,
    body_of,
    case_state,
    fetch,
    open_status_link,
    post_answer,
    refused,
    requester_emails,
    set_today,
    staff_session,
)
from tests.staff_helpers import make_case, post_action

# --------------------------------------------------------------------------- questions (D8)


@pytest.mark.parametrize(("resume", "upload"), [
    (CaseStatus.CONFIRMED, None),
    (CaseStatus.VERIFIED, (PDF, "contract.pdf")),
], ids=["confirmed-text-only", "verified-with-pdf"])
def test_question_pauses_the_clock_until_the_answer(app, run_jobs, smtp_server, resume, upload):
    case = make_case(app, status=resume, received_on=RECEIVED)
    assert case.due_on == DUE
    agent, staff = staff_session(app, "agent")

    set_today(app, "2025-03-10")
    resp = post_action(staff, case.reference, "ask", {"question": QUESTION})
    assert resp.status_code == 302
    asked = fetch(app, case.id)
    assert asked.status is CaseStatus.NEEDS_INFO
    with app.app_context():
        [pause] = db.session.scalars(select(ClockPause).where(ClockPause.case_id == case.id))
        assert (pause.started_on, pause.ended_on) == (date(2025, 3, 10), None)
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


# --------------------------------------------------------------------------- extension (D6, D7)

REASON = "Your data is spread over four archived systems that must be searched by hand."


@pytest.mark.parametrize("today", ["2025-03-20", "2025-04-07"],
                         ids=["well-before", "on-the-one-month-date"])
def test_dpo_extends_once_before_the_one_month_date(app, run_jobs, smtp_server, today):
    case = make_case(app, received_on=RECEIVED)
    dpo, client = staff_session(app, "dpo")
    set_today(app, today)

    resp = post_action(client, case.reference, "extend", {"reason": REASON})

    assert resp.status_code == 302
    extended = fetch(app, case.id)
    assert extended.extended and extended.extended_at is not None
    assert extended.extension_reason == REASON
    assert extended.due_on == EXTENDED_DUE
    assert extended.due_on == deadlines.due_date(RECEIVED, extended=True)
    [event] = audit_events(app, "case.extended")
    assert (event.case_id, event.actor_id) == (case.id, str(dpo.id))
    # The requester is told why, and the new date, in their language (French).
    assert run_jobs() == 0
    mail = smtp_server.last_to(case.requester_email)
    assert case.reference in mail["Subject"]
    body = body_of(mail)
    assert REASON in body
    assert format_date(EXTENDED_DUE, "long", locale="fr") in body  # "5 juin 2025"


def test_second_extension_is_refused(app, run_jobs, smtp_server):
    case = make_case(app, received_on=RECEIVED)
    _, client = staff_session(app, "dpo")
    set_today(app, "2025-03-20")
    assert post_action(client, case.reference, "extend", {"reason": REASON}).status_code == 302
    before = case_state(app, case.id)

    resp = post_action(client, case.reference, "extend", {"reason": "Still more archives."})

    message = refused(resp, "extend")
    assert "already been extended" in message and "once" in message
    assert "Still more archives." in resp.get_data(as_text=True)
    assert case_state(app, case.id) == before
    assert len(requester_emails(app, case.id)) == 1


def test_extension_after_the_one_month_date_is_refused_naming_the_date(app):
    case = make_case(app, received_on=RECEIVED)
    _, client = staff_session(app, "dpo")
    set_today(app, "2025-04-08")
    before = case_state(app, case.id)

    resp = post_action(client, case.reference, "extend", {"reason": REASON})

    message = refused(resp, "extend")
    assert format_date(DUE, "long", locale="en") in message  # "April 7, 2025"
    assert str(escape(REASON)) in resp.get_data(as_text=True)
    assert case_state(app, case.id) == before
    assert not fetch(app, case.id).extended


def test_extension_deadline_includes_the_identity_pause(app, run_jobs, smtp_server):
    """D6 with D8: a 7-day pause moves the one-month date from 2025-04-07 to 2025-04-14, so an
    extension on 2025-04-10 is still in time; the extended date moves by the same 7 days."""
    case = make_case(app, received_on=RECEIVED)
    _, dpo = staff_session(app, "dpo")
    set_today(app, "2025-03-10")
    requester, _ = open_status_link(app, ask(app, dpo, case, run_jobs, smtp_server))
    set_today(app, "2025-03-17")
    assert post_answer(requester, case.reference, "Contract 778-2201.").status_code == 302

    set_today(app, "2025-04-10")
    resp = post_action(dpo, case.reference, "extend", {"reason": REASON})

    assert resp.status_code == 302
    extended = fetch(app, case.id)
    assert extended.extended
    # Raw extended end Thu 2025-06-05 + 7 days = Thu 2025-06-12 (a working day).
    assert extended.due_on == date(2025, 6, 12)
    assert extended.due_on == deadlines.effective_due_date(
        RECEIVED, extended=True, pauses=[(date(2025, 3, 10), date(2025, 3, 17))],
        today=date(2025, 4, 10))


@pytest.mark.parametrize("reason", ["", "   \n "], ids=["empty", "blank"])
def test_extension_without_a_reason_is_refused(app, reason):
    case = make_case(app, received_on=RECEIVED)
    _, client = staff_session(app, "dpo")
    set_today(app, "2025-03-20")
    before = case_state(app, case.id)

    resp = post_action(client, case.reference, "extend", {"reason": reason})

    assert "reason" in refused(resp, "extend").lower()
    assert case_state(app, case.id) == before


def test_closed_case_cannot_be_extended(app):
    case = make_case(app, status=CaseStatus.WITHDRAWN, received_on=RECEIVED)
    _, client = staff_session(app, "dpo")
    set_today(app, "2025-03-20")
    before = case_state(app, case.id)
    resp = post_action(client, case.reference, "extend", {"reason": REASON})
    assert "closed" in refused(resp, "extend")
    assert case_state(app, case.id) == before


# --------------------------------------------------------------------------- refusal (LEGAL §2)

REFUSAL = "We hold no data about this address: it never opened an account with us."
# LEGAL.md §2: the notice names the CNIL and the judicial remedy (English or French wording).
REMEDY_WORDS = ("judicial", "court", "juridiction", "tribunal", "juge")


def assert_names_cnil_and_judicial_remedy(body: str) -> None:
    assert "CNIL" in body
    assert any(word in body.lower() for word in REMEDY_WORDS), body


@pytest.mark.parametrize("scope", ["full", "partial"])
@pytest.mark.parametrize("reasons", ["", "  "], ids=["empty", "blank"])
def test_refusal_without_reasons_is_refused(app, scope, reasons):
    case = make_case(app, received_on=RECEIVED)
    _, client = staff_session(app, "dpo")
    before = case_state(app, case.id)

    resp = post_action(client, case.reference, "reject", {"scope": scope, "reasons": reasons})

    assert "reasons" in refused(resp, "reject").lower()
    assert f'value="{scope}" checked' in resp.get_data(as_text=True)  # the choice is kept
    assert case_state(app, case.id) == before


def test_full_refusal_closes_the_case_and_sends_the_notice(app, run_jobs, smtp_server):
    case = make_case(app, received_on=RECEIVED)
    _, client = staff_session(app, "dpo")

    resp = post_action(client, case.reference, "reject", {"scope": "full", "reasons": REFUSAL})

    assert resp.status_code == 302
    closed = fetch(app, case.id)
    assert closed.status is CaseStatus.REJECTED
    assert closed.closed_at is not None
    assert closed.refusal_reasons == REFUSAL
    assert run_jobs() == 0
    mail = smtp_server.last_to(case.requester_email)
    assert case.reference in mail["Subject"]
    body = body_of(mail)
    assert REFUSAL in body
    assert_names_cnil_and_judicial_remedy(body)
    # A closed case cannot be refused again.
    resp = post_action(client, case.reference, "reject", {"scope": "full", "reasons": REFUSAL})
    assert resp.status_code == 400
    assert len(requester_emails(app, case.id)) == 1


def test_partial_refusal_keeps_the_case_open_and_sends_the_notice(app, run_jobs, smtp_server):
    case = make_case(app, status=CaseStatus.IN_PROGRESS, received_on=RECEIVED)
    _, client = staff_session(app, "dpo")
    partial = "Your employee appraisal is withheld: it contains a colleague's personal data."

    resp = post_action(client, case.reference, "reject", {"scope": "partial",
                                                          "reasons": partial})

    assert resp.status_code == 302
    still_open = fetch(app, case.id)
    assert still_open.status is CaseStatus.IN_PROGRESS
    assert still_open.closed_at is None
    assert still_open.partial_refusal_reasons == partial
    assert still_open.refusal_reasons is None
    assert run_jobs() == 0
    body = body_of(smtp_server.last_to(case.requester_email))
    assert partial in body
    assert_names_cnil_and_judicial_remedy(body)


def test_refusal_notice_is_in_the_requesters_language(app, run_jobs, smtp_server):
    """The requester filed in French: the notice, the CNIL and the court remedy are in French."""
    case = make_case(app, received_on=RECEIVED)
    assert case.language == "fr"
    _, client = staff_session(app, "dpo")  # the DPO works in English
    post_action(client, case.reference, "reject", {"scope": "full", "reasons": REFUSAL})
    assert run_jobs() == 0
    mail = smtp_server.last_to(case.requester_email)
    body = body_of(mail)
    assert mail["Content-Language"] == "fr"
    assert "Bonjour" in body
    english = [s for s in ("If you disagree", "judicial remedy", "We cannot act") if s in body]
    assert not english, f"English text in a French requester's refusal notice: {english}"
    assert_names_cnil_and_judicial_remedy(body)


# --------------------------------------------------------------------------- identity (LEGAL §3)


def test_verifying_identity_deletes_the_proof_and_keeps_only_the_decision(app):
    case = make_case(app, received_on=RECEIVED)
    proof_id, blob_id = add_proof(app, case.id)
    agent, client = staff_session(app, "agent")
    set_today(app, "2025-03-10")

    resp = post_action(client, case.reference, "verify",
                       {"method": "document", "note": "Passport, name and birth date match."})

    assert resp.status_code == 302
    verified = fetch(app, case.id)
    assert verified.status is CaseStatus.VERIFIED
    assert verified.identity_verified_at is not None
    expected = (f"checked on 2025-03-10 by staff {agent.id}, method document: "
                "Passport, name and birth date match.")
    assert verified.identity_note == expected
    with app.app_context():
        assert not storage.exists(blob_id)
        proof = db.session.get(IdentityProof, proof_id)
        assert proof.blob_id is None and proof.deleted_at is not None
        assert proof.decision_note == expected
    assert blob_files(app) == []
    # The document can no longer be opened; the case page says what remains.
    assert client.get(f"/staff/cases/{case.reference}/proofs/{proof_id}").status_code == 404
    page = client.get(f"/staff/cases/{case.reference}").get_data(as_text=True)
    assert str(escape(expected)) in page


def test_verifying_by_document_needs_a_note_and_keeps_the_proof(app):
    case = make_case(app, received_on=RECEIVED)
    proof_id, blob_id = add_proof(app, case.id)
    _, client = staff_session(app, "agent")
    before = case_state(app, case.id)

    resp = post_action(client, case.reference, "verify", {"method": "document", "note": ""})

    assert refused(resp, "verify")
    assert case_state(app, case.id) == before
    with app.app_context():
        assert storage.exists(blob_id)
        assert db.session.get(IdentityProof, proof_id).blob_id == blob_id


# --------------------------------------------------------------------------- duplicates


def test_repeat_request_is_linked_to_the_open_original(app):
    original = make_case(app, email="Camille.Martin@Example.fr")
    repeat = make_case(app)
    _, client = staff_session(app, "agent")

    resp = post_action(client, repeat.reference, "duplicate",
                       {"original": original.reference.lower()})

    assert resp.status_code == 302
    assert fetch(app, repeat.id).duplicate_of_id == original.id
    [event] = audit_events(app, "case.duplicate_linked")
    assert event.case_id == repeat.id and event.payload == {"original_case_id": original.id}


@pytest.mark.parametrize("original", [
    dict(email="someone.else@example.fr"),
    dict(kind=CaseKind.ERASURE),
    dict(status=CaseStatus.WITHDRAWN),
    None,  # no such case
    "itself",
], ids=["another-person", "another-kind", "closed-original", "unknown-reference", "itself"])
def test_duplicate_link_is_refused_unless_same_person_kind_and_open(app, original):
    repeat = make_case(app)
    if original is None:
        reference = "DSR-2345-6789"
    elif original == "itself":
        reference = repeat.reference
    else:
        reference = make_case(app, **original).reference
    _, client = staff_session(app, "agent")
    before = case_state(app, repeat.id)

    resp = post_action(client, repeat.reference, "duplicate", {"original": reference})

    assert refused(resp, "duplicate")
    assert reference in resp.get_data(as_text=True)  # what was typed is kept
    assert case_state(app, repeat.id) == before
    assert audit_events(app, "case.duplicate_linked") == []


# --------------------------------------------------------------------------- audited reading


@pytest.mark.parametrize("role", ["agent", "dpo", "auditor"])
def test_every_view_of_a_case_page_is_audited(app, role):
    case = make_case(app)
    staff, client = staff_session(app, role)
    for _ in range(3):
        assert client.get(f"/staff/cases/{case.reference}").status_code == 200
    viewed = audit_events(app, "case.viewed")
    assert [(e.case_id, e.actor_id) for e in viewed] == [(case.id, str(staff.id))] * 3


def test_every_view_of_a_proof_is_audited(app):
    case = make_case(app)
    first, _ = add_proof(app, case.id)
    second, _ = add_proof(app, case.id, PDF + b"\n")
    staff, client = staff_session(app, "agent")
    for proof_id in (first, second, first):
        resp = client.get(f"/staff/cases/{case.reference}/proofs/{proof_id}")
        assert resp.status_code == 200
        assert resp.headers["Cache-Control"] == "no-store"
    viewed = audit_events(app, "proof.viewed")
    assert [(e.case_id, e.actor_id, e.payload) for e in viewed] == [
        (case.id, str(staff.id), {"proof_id": p}) for p in (first, second, first)]


def test_proof_of_another_case_is_not_shown_nor_audited(app):
    case, other = make_case(app), make_case(app, email="other@example.fr")
    foreign, _ = add_proof(app, other.id)
    _, client = staff_session(app, "agent")
    assert client.get(f"/staff/cases/{case.reference}/proofs/{foreign}").status_code == 404
    assert audit_events(app, "proof.viewed") == []
