"""Confirmation, the status page, tokens and withdrawal."""

from __future__ import annotations

import inspect

import pytest
from sqlalchemy import select

from dsar.core import tokens
from dsar.deadlines import due_date
from dsar.extensions import db
from dsar.models import AuditEvent, Case, CaseStatus
from tests.support.forms import access_form, csrf_from, path_of, post_form
from tests.support.portal import file_and_confirm


def test_confirming_moves_case_to_confirmed_and_sends_acknowledgement(app, client, run_jobs,
                                                                      smtp_server):
    case, status_path, ack = file_and_confirm(app, client, run_jobs, smtp_server)
    assert case.status is CaseStatus.CONFIRMED
    assert case.confirmed_at is not None
    body = ack.get_body(preferencelist=("plain",)).get_content()
    assert case.reference in ack["Subject"]
    assert case.reference in body
    # The receipt date and the due date are in the e-mail, in the requester's language.
    from babel.dates import format_date

    assert format_date(case.received_on, "long", locale=case.language) in body
    assert format_date(case.due_on, "long", locale=case.language) in body
    assert ack["Content-Language"] == case.language


def test_get_on_confirmation_link_does_not_confirm(app, client, run_jobs, smtp_server):
    """Mail scanners follow links: only the button confirms."""
    post_form(client, "/request/access", access_form())
    run_jobs()
    confirm = next(u for u in smtp_server.links(smtp_server.messages()[-1]) if "/confirm/" in u)
    client.get(path_of(confirm))
    client.get(path_of(confirm))
    with app.app_context():
        assert db.session.scalars(select(Case)).one().status is CaseStatus.SUBMITTED


def test_status_page_shows_dates_in_a_fresh_session(app, run_jobs, smtp_server):
    case, status_path, _ = file_and_confirm(app, app.test_client(), run_jobs, smtp_server)
    fresh = app.test_client()
    resp = fresh.get(status_path, headers={"Accept-Language": "en"})
    assert resp.status_code == 302
    assert "?" not in resp.location and case.reference in resp.location
    page = fresh.get(resp.location, headers={"Accept-Language": "en"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f'data-date="{due_date(case.received_on).isoformat()}"' in html
    assert 'data-status="confirmed"' in html
    assert "Request received" in html


def test_status_page_without_link_is_404(app, client, run_jobs, smtp_server):
    case, _, _ = file_and_confirm(app, client, run_jobs, smtp_server)
    assert app.test_client().get(f"/status/{case.reference}").status_code == 404


def test_wrong_token_and_unknown_reference_answer_alike(app, client, run_jobs, smtp_server):
    case, status_path, _ = file_and_confirm(app, client, run_jobs, smtp_server)
    good_token = status_path.rsplit("/", 1)[1]
    bad_token = good_token[:-1] + ("A" if good_token[-1] != "A" else "B")
    stranger = app.test_client()
    wrong = stranger.get(f"/status/{case.reference}/{bad_token}")
    unknown = stranger.get(f"/status/DSR-ZZZZ-ZZZZ/{good_token}")
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.get_data() == unknown.get_data()
    # A confirmation token is not a status token, and vice versa.
    with app.app_context():
        confirm_token = tokens.case_token(case.reference, case.token_salt, "confirm")
    assert stranger.get(f"/status/{case.reference}/{confirm_token}").status_code == 404
    assert stranger.get(f"/status/{case.reference}").status_code == 404


def test_tokens_are_compared_in_constant_time():
    source = inspect.getsource(tokens.check_case_token)
    assert "hmac.compare_digest" in source
    assert "==" not in source.replace("compare_digest", "")


def test_references_are_random_and_well_formed():
    seen = {tokens.new_reference() for _ in range(2000)}
    assert len(seen) == 2000
    assert all(len(r) == 13 and r.startswith("DSR-") and r[8] == "-" for r in seen)
    assert all(set(r[4:8] + r[9:]) <= set(tokens.REFERENCE_ALPHABET) for r in seen)


def test_references_are_not_sequential(app, client):
    refs = []
    for i in range(3):
        post_form(client, "/request/access", access_form(email=f"p{i}@example.fr"))
    with app.app_context():
        refs = [c.reference for c in db.session.scalars(select(Case).order_by(Case.id))]
    assert len(set(refs)) == 3
    # Nothing in a reference counts up: consecutive cases share no common prefix pattern.
    assert not all(a < b for a, b in zip(refs, refs[1:], strict=False)) or len(
        {r[4:6] for r in refs}) > 1


def test_withdrawal(app, client, run_jobs, smtp_server):
    case, status_path, _ = file_and_confirm(app, client, run_jobs, smtp_server)
    page = client.get(f"/status/{case.reference}")
    token = csrf_from(page.get_data(as_text=True))
    # Without ticking the box nothing happens.
    client.post(f"/status/{case.reference}/withdraw", data={"csrf_token": token})
    with app.app_context():
        assert db.session.get(Case, case.id).status is CaseStatus.CONFIRMED
    resp = client.post(f"/status/{case.reference}/withdraw",
                       data={"csrf_token": token, "confirm_withdraw": "yes"})
    assert resp.status_code == 302
    with app.app_context():
        stored = db.session.get(Case, case.id)
        assert stored.status is CaseStatus.WITHDRAWN
        assert stored.closed_at is not None
        actions = [(e.action, e.payload.get("to")) for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.case_id == case.id).order_by(AuditEvent.id))]
    assert ("case.created", None) in actions
    assert ("case.status_changed", "confirmed") in actions
    assert ("case.status_changed", "withdrawn") in actions
    assert run_jobs() == 0
    assert case.reference in smtp_server.last_to(case.requester_email)["Subject"]
    html = client.get(f"/status/{case.reference}").get_data(as_text=True)
    assert 'data-status="withdrawn"' in html
    assert "withdraw-button" not in html


def test_withdraw_needs_csrf(app, client, run_jobs, smtp_server):
    case, _, _ = file_and_confirm(app, client, run_jobs, smtp_server)
    resp = client.post(f"/status/{case.reference}/withdraw", data={"confirm_withdraw": "yes"})
    assert resp.status_code == 400
    with app.app_context():
        assert db.session.get(Case, case.id).status is CaseStatus.CONFIRMED


def test_withdraw_someone_elses_case_is_404(app, client, run_jobs, smtp_server):
    case, _, _ = file_and_confirm(app, client, run_jobs, smtp_server)
    other = app.test_client()
    token = csrf_from(other.get("/request/access").get_data(as_text=True))
    resp = other.post(f"/status/{case.reference}/withdraw",
                      data={"csrf_token": token, "confirm_withdraw": "yes"})
    assert resp.status_code == 404
    with app.app_context():
        assert db.session.get(Case, case.id).status is CaseStatus.CONFIRMED


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_emails_are_in_the_requesters_language(app, client, run_jobs, smtp_server, lang):
    client.get(f"/language/{lang}")
    post_form(client, "/request/access", access_form())
    run_jobs()
    message = smtp_server.messages()[-1]
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert message["Content-Language"] == lang
    word = {"fr": "Bonjour", "en": "Hello"}[lang]
    assert body.startswith(word)
