"""The DPO extends the deadline by two months (issue 3, legal rules §1 D6, D7), through the real
pages: once, before the one-month date, with a reason sent to the requester; the identity pause
counts; a second extension, a late one, one without a reason or on a closed case is refused.

Dates are pinned with ``CLOCK_TODAY``. The worked example: received Wednesday 2025-03-05, due
Monday 2025-04-07 (D4); extended, 2025-06-05 (D7).
"""

from __future__ import annotations

from datetime import date

import pytest
from babel.dates import format_date
from markupsafe import escape

from dsar import deadlines
from dsar.cases.workflow import refresh_due_date
from dsar.extensions import db
from dsar.models import Case, CaseStatus
from tests.support.audit import audit_events
from tests.support.casework import (
    DUE,
    EXTENDED_DUE,
    RECEIVED,
    ask,
    case_state,
    fetch,
    open_status_link,
    post_answer,
    refused,
    requester_emails,
    set_today,
    staff_session,
)
from tests.support.mailbox import body_of
from tests.support.staff import login, make_case, make_staff, post_action

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


def test_extension_after_the_one_month_date_needs_a_confirmation_and_records_the_lateness(
        app):
    """D6 / Art. 12(3): past the one-month date the extension is late. It is refused naming
    the date unless the DPO ticks that they notify it late; the lateness is then recorded."""
    case = make_case(app, received_on=RECEIVED)
    _, client = staff_session(app, "dpo")
    set_today(app, "2025-04-08")
    before = case_state(app, case.id)

    resp = post_action(client, case.reference, "extend", {"reason": REASON})

    message = refused(resp, "extend")
    assert format_date(DUE, "long", locale="en") in message  # "April 7, 2025"
    assert str(escape(REASON)) in resp.get_data(as_text=True)
    assert 'name="late"' in resp.get_data(as_text=True)  # the box to tick is offered
    assert case_state(app, case.id) == before
    assert not fetch(app, case.id).extended

    resp = post_action(client, case.reference, "extend", {"reason": REASON, "late": "yes"})
    assert resp.status_code == 302
    assert fetch(app, case.id).extended
    [event] = audit_events(app, "case.extended")
    assert event.payload["late_days"] == 1


def test_a_refusal_after_the_one_month_date_needs_a_confirmation_and_records_the_lateness(
        app):
    """D6 / Art. 12(4): a refusal notified after the one-month date is late: confirmed
    explicitly, its lateness recorded."""
    case = make_case(app, received_on=RECEIVED)
    _, client = staff_session(app, "dpo")
    set_today(app, "2025-04-10")
    form = {"scope": "full", "reasons": "Demande identique à la précédente."}
    assert format_date(DUE, "long", locale="en") in refused(
        post_action(client, case.reference, "reject", form), "reject")
    assert fetch(app, case.id).status is not CaseStatus.REJECTED
    assert post_action(client, case.reference, "reject",
                       {**form, "late": "yes"}).status_code == 302
    assert fetch(app, case.id).status is CaseStatus.REJECTED
    [event] = audit_events(app, "case.refused_late")
    assert event.payload == {"scope": "full", "late_days": 3}


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


@pytest.mark.parametrize(("received", "target"), [
    # One month (30 Nov, clamped) + two = Fri 30 Jan 2026, before the law's Mon 2 Feb: shown.
    ("2025-10-31", "2026-01-30"),
    # 5 Apr + two months = 5 Jun, the extended due date itself: nothing more to show (it
    # once showed 10 Jun, later than the law's date).
    ("2025-03-05", None),
])
def test_the_case_page_shows_the_internal_target_of_an_extended_case(app, received, target):
    case = make_case(app, status=CaseStatus.VERIFIED, received_on=date.fromisoformat(received))
    with app.app_context():
        row = db.session.get(Case, case.id)
        row.extended = True
        refresh_due_date(row)
        db.session.commit()
    dpo = app.test_client()
    login(dpo, make_staff(app, "dpo", email="dpo-target@staff.example"))
    page = dpo.get(f"/staff/cases/{case.reference}").get_data(as_text=True)
    if target is None:
        assert 'id="extension-target"' not in page
    else:
        assert f'id="extension-target" data-date="{target}"' in page


def test_a_case_waiting_for_a_clarification_can_be_extended(app, run_jobs, smtp_server):
    """D8: a question about the scope leaves the clock running, so the DPO may still extend
    while the answer is awaited (the one-month date does not wait for it)."""
    case = make_case(app, status=CaseStatus.VERIFIED, received_on=RECEIVED)
    _, client = staff_session(app, "dpo")
    set_today(app, "2025-03-20")
    assert post_action(client, case.reference, "ask", {
        "question": "Quels contrats voulez-vous dire ?"}).status_code == 302
    assert fetch(app, case.id).status is CaseStatus.NEEDS_INFO
    assert post_action(client, case.reference, "extend", {"reason": REASON}).status_code == 302
    assert fetch(app, case.id).extended
