"""Refusing a request, fully or partly (issue 3, legal rules §2), through the real pages: reasons
are required; the notice names the CNIL and the judicial remedy, in the requester's language; a
full refusal closes the case, a partial one keeps it open.
"""

from __future__ import annotations

import pytest

from dsar.models import CaseStatus
from tests.support.casework import (
    RECEIVED,
    case_state,
    fetch,
    refused,
    requester_emails,
    set_today,
    staff_session,
)
from tests.support.mailbox import body_of
from tests.support.staff import make_case, post_action

REFUSAL = "We hold no data about this address: it never opened an account with us."
# legal rules §2: the notice names the CNIL and the judicial remedy (English or French wording).
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
    set_today(app, "2025-03-20")  # within the month: a refusal in time
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
    set_today(app, "2025-03-20")  # within the month: a refusal in time
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
    set_today(app, "2025-03-20")  # within the month: a refusal in time
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
