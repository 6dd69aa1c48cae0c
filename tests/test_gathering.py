"""The gathering pipeline through real RQ workers on a real Redis: rounds that follow the person
from source to source, encrypted results, failures shown to staff and run again, idempotent
jobs, and recovery when Redis loses its jobs."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

from redis import Redis
from sqlalchemy import select

from dsar.core import storage
from dsar.extensions import db
from dsar.models import AuditEvent, Case, CaseKind, CaseStatus, GatherStatus, SourceResult
from dsar.models.types import utcnow
from dsar.pipeline.sweep import requeue_lost_gathering
from dsar.search import gathering
from tests.support.gathering import EMAIL, case_status, rows_by_source, start, verified_case
from tests.support.staff import login, make_staff, post_action
from tests.support.workers import run_queued_jobs


def found_keys(app, case_id: int) -> dict[str, list[tuple[str, str]]]:
    with app.app_context():
        rows = db.session.scalars(select(SourceResult).where(SourceResult.case_id == case_id))
        return {r.source: [(x["collection"], x["key"]) for x in gathering.result_of(r)["records"]]
                for r in rows}


def test_the_search_follows_the_person_and_stops_at_what_is_theirs(gather_app):
    case = verified_case(gather_app, EMAIL.upper())  # the address as the person typed it
    start(gather_app, case.id)
    assert case_status(gather_app, case.id) is CaseStatus.IN_PROGRESS

    assert run_queued_jobs(gather_app) == 0
    assert case_status(gather_app, case.id) is CaseStatus.REVIEW
    # Customer 1 only (not the namesake, customer 2); billing was reached in round 2 through
    # the customer id the shop yielded, and gave customer 1's two invoices only.
    assert found_keys(gather_app, case.id) == {
        "shop": [("customers", "1")],
        "billing": [("invoices", "10"), ("invoices", "12")],
    }
    rows = rows_by_source(gather_app, case.id)
    assert (rows["shop"].round, rows["billing"].round) == (1, 2)
    assert rows["billing"].counts == {"invoices": 2}
    with gather_app.app_context():
        actions = [e.action for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.case_id == case.id).order_by(AuditEvent.id))]
        assert actions.count("gather.source_done") == 2
        review = db.session.scalars(select(AuditEvent).where(
            AuditEvent.case_id == case.id, AuditEvent.action == "case.status_changed")).all()[-1]
        assert review.payload["to"] == "review" and review.payload["records"] == 3


def test_what_was_found_is_stored_encrypted(gather_app):
    case = verified_case(gather_app)
    start(gather_app, case.id)
    run_queued_jobs(gather_app)
    rows = rows_by_source(gather_app, case.id)
    blobs = [p.read_bytes() for p in Path(gather_app.config["STORAGE_DIR"]).rglob("*")
             if p.is_file()]
    assert len(blobs) == 3  # the two sources' results and the answer package
    for data in [*blobs, rows["shop"].input_sealed, rows["billing"].input_sealed]:
        assert b"camille" not in data.lower() and b"Camille" not in data
    with gather_app.app_context():
        plain = storage.get(rows["shop"].result_blob_id)
    assert b"camille.martin@example.fr" in plain
    assert hashlib.sha256(plain).hexdigest() == rows["shop"].result_sha256


def test_a_search_run_twice_stores_the_same_result(gather_app):
    case = verified_case(gather_app)
    start(gather_app, case.id)
    run_queued_jobs(gather_app)
    before = rows_by_source(gather_app, case.id)
    with gather_app.app_context():
        # The same job delivered twice: the guard sees the work done.
        assert gathering.gather(case.id, "shop") == "already-done"
        # Searched again on purpose: same records, same sum, the old blob replaced.
        gathering.rerun(db.session.get(Case, case.id), "shop")
        db.session.commit()
        assert gathering.gather(case.id, "shop") == "done"
    after = rows_by_source(gather_app, case.id)
    assert after["shop"].result_sha256 == before["shop"].result_sha256
    assert after["shop"].result_blob_id != before["shop"].result_blob_id
    with gather_app.app_context():
        assert not storage.exists(before["shop"].result_blob_id)


def test_a_failing_source_is_shown_with_its_error_and_can_be_run_again(
        gather_app, monkeypatch):
    monkeypatch.delenv("TEST_BILLING_URL")
    case = verified_case(gather_app)
    start(gather_app, case.id)
    run_queued_jobs(gather_app)
    # The case still reaches review, with the failure in plain sight.
    assert case_status(gather_app, case.id) is CaseStatus.REVIEW
    billing = rows_by_source(gather_app, case.id)["billing"]
    assert billing.status is GatherStatus.FAILED
    assert "TEST_BILLING_URL" in billing.error and EMAIL not in billing.error

    agent = make_staff(gather_app, "agent", email="rerun@staff.example")
    client = gather_app.test_client()
    login(client, agent)
    page = client.get(f"/staff/cases/{case.reference}").get_data(as_text=True)
    assert 'id="source-billing" data-status="failed"' in page
    assert "TEST_BILLING_URL" in page

    monkeypatch.setenv("TEST_BILLING_URL",
                       f"sqlite:///{Path(gather_app.config['SOURCES_FILE']).parent}"
                       "/billing.sqlite")
    resp = post_action(client, case.reference, "rerun", {"source": "billing"})
    assert resp.status_code == 302
    assert run_queued_jobs(gather_app) == 0
    billing = rows_by_source(gather_app, case.id)["billing"]
    assert billing.status is GatherStatus.DONE and billing.record_count == 2
    assert billing.error is None


def test_an_unknown_source_cannot_be_run_again(gather_app):
    case = verified_case(gather_app)
    start(gather_app, case.id)
    run_queued_jobs(gather_app)
    agent = make_staff(gather_app, "agent", email="rerun2@staff.example")
    client = gather_app.test_client()
    login(client, agent)
    resp = post_action(client, case.reference, "rerun", {"source": "nowhere"})
    assert resp.status_code == 400
    assert 'id="rerun-error"' in resp.get_data(as_text=True)


def test_when_redis_loses_the_jobs_the_sweep_queues_them_again(gather_app, redis_url):
    case = verified_case(gather_app)
    start(gather_app, case.id)
    Redis.from_url(redis_url).flushdb()  # Redis restarted without persistence
    assert run_queued_jobs(gather_app) == 0
    assert case_status(gather_app, case.id) is CaseStatus.IN_PROGRESS

    with gather_app.app_context():
        # Fresh work is left alone for a grace period (its job is probably on its way).
        assert requeue_lost_gathering()["requeued_searches"] == 0
        later = utcnow() + timedelta(minutes=5)
        assert requeue_lost_gathering(later)["requeued_searches"] == 1
    run_queued_jobs(gather_app)
    assert case_status(gather_app, case.id) is CaseStatus.REVIEW
    assert found_keys(gather_app, case.id)["billing"] == [("invoices", "10"), ("invoices", "12")]


def test_a_lost_fan_in_is_queued_again(gather_app, redis_url):
    case = verified_case(gather_app)
    start(gather_app, case.id)
    with gather_app.app_context():
        assert gathering.gather(case.id, "shop") == "done"
        assert gathering.collect(case.id)[0] == "next-round"
        assert gathering.gather(case.id, "billing") == "done"
    Redis.from_url(redis_url).flushdb()  # the fan-in job the last search queued is gone
    with gather_app.app_context():
        # The first sweep notes that Redis lost its data; it waits for live workers to say
        # what they run (two heartbeats), then queues what was lost.
        now = utcnow()
        assert requeue_lost_gathering(now)["requeued_fan_ins"] == 0
        assert requeue_lost_gathering(now + timedelta(seconds=15))["requeued_fan_ins"] == 1
    run_queued_jobs(gather_app)
    assert case_status(gather_app, case.id) is CaseStatus.REVIEW


def test_post_mortem_cases_are_not_searched_by_the_heirs_address(gather_app):
    """A deceased person's case is searched on the deceased's identifiers that staff
    confirmed (tests/test_postmortem_flow.py); before they are, nothing starts, and the
    requester's own address is never searched."""
    case = verified_case(gather_app, kind=CaseKind.POSTMORTEM_EXECUTION)
    agent = gather_app.test_client()
    login(agent, make_staff(gather_app, "agent", email="agent-pm@staff.example"))
    assert post_action(agent, case.reference, "start", {}).status_code == 400
    run_queued_jobs(gather_app)
    assert rows_by_source(gather_app, case.id) == {}
    assert case_status(gather_app, case.id) is CaseStatus.VERIFIED


def test_in_review_start_is_not_offered_and_searching_again_needs_a_confirmation(gather_app):
    """Only the actions that fit the state: a case in review is not "started" again; a
    separate "search again" is offered, and runs only once confirmed."""
    case = verified_case(gather_app)
    start(gather_app, case.id)
    run_queued_jobs(gather_app)
    assert case_status(gather_app, case.id) is CaseStatus.REVIEW
    searched = sum(r.attempts for r in rows_by_source(gather_app, case.id).values())
    agent = gather_app.test_client()
    login(agent, make_staff(gather_app, "agent", email="agent-again@staff.example"))
    page = agent.get(f"/staff/cases/{case.reference}").get_data(as_text=True)
    assert 'id="start"' not in page and 'id="search_again"' in page
    assert post_action(agent, case.reference, "start", {}).status_code == 400
    assert post_action(agent, case.reference, "search_again", {}).status_code == 400
    assert case_status(gather_app, case.id) is CaseStatus.REVIEW
    assert post_action(agent, case.reference, "search_again",
                       {"confirm": "yes"}).status_code == 302
    run_queued_jobs(gather_app)
    assert case_status(gather_app, case.id) is CaseStatus.REVIEW
    # Every source was searched once more.
    assert sum(r.attempts for r in rows_by_source(gather_app, case.id).values()) \
        == 2 * searched
