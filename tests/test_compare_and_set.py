"""Every state change a job makes is a compare-and-set, so of two jobs doing the same work at
once exactly one changes anything, on SQLite (which ignores SELECT … FOR UPDATE) as on
PostgreSQL. Two threads, each its own database connection, released together."""

from __future__ import annotations

import threading

import pytest
from rq.job import JobStatus
from sqlalchemy import func, select

from dsar.cases.workflow import InvalidTransition, StaleTransition, transition
from dsar.core import storage
from dsar.exports.build import build_package
from dsar.extensions import db
from dsar.models import (
    ActorType,
    AuditEvent,
    Case,
    CaseStatus,
    ExportPackage,
    GatherStatus,
    PackageStatus,
    SourceResult,
)
from dsar.pipeline import fetch_job, get_queue
from dsar.pipeline.sweep import requeue_lost_gathering
from dsar.pipeline.worker import make_worker
from dsar.search import gathering
from dsar.sources.base import Discovery, Identity
from tests.support.gathering import start, verified_case
from tests.support.staff import make_case


def race(app, work, *, ready=lambda: None) -> list:
    """Run ``work()`` in two threads, each in its own app context, both released at once after
    ``ready()``; returns what each returned (or raised)."""
    barrier = threading.Barrier(2)
    results: list = [None, None]

    def run(i):
        with app.app_context():
            try:
                ready()
                barrier.wait(10)
                results[i] = work()
            except Exception as exc:  # noqa: BLE001 (what the thread raised is the result)
                db.session.rollback()
                results[i] = exc
    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def events(app, case_id, action, **payload):
    with app.app_context():
        found = db.session.scalars(select(AuditEvent).where(
            AuditEvent.case_id == case_id, AuditEvent.action == action)).all()
        return [e for e in found if all(e.payload.get(k) == v for k, v in payload.items())]


def test_two_moves_of_one_case_move_it_once(app):
    case_id = make_case(app, status=CaseStatus.IN_PROGRESS).id

    def move():
        case = db.session.get(Case, case_id)
        transition(case, CaseStatus.REVIEW, actor_type=ActorType.WORKER, actor_id="job")
        db.session.commit()
        return "moved"

    results = race(app, move)
    # The loser read the case before the winner's commit (StaleTransition) or after it
    # (review to review is no move): either way it changed nothing.
    assert results.count("moved") == 1
    assert [type(r) for r in results if r != "moved"][0] in (StaleTransition, InvalidTransition)
    assert len(events(app, case_id, "case.status_changed", to="review")) == 1


def test_a_stale_case_is_not_moved(app):
    """Read in_progress, moved meanwhile by someone else: the move is refused, not applied."""
    case_id = make_case(app, status=CaseStatus.IN_PROGRESS).id
    with app.app_context():
        stale = db.session.get(Case, case_id)
        with app.app_context():  # another request moves it first
            transition(db.session.get(Case, case_id), CaseStatus.WITHDRAWN,
                       actor_type=ActorType.REQUESTER)
            db.session.commit()
        with pytest.raises(StaleTransition):
            transition(stale, CaseStatus.REVIEW, actor_type=ActorType.WORKER)
        db.session.rollback()
        assert db.session.get(Case, case_id).status is CaseStatus.WITHDRAWN


def test_two_fan_ins_of_one_round_move_the_case_once(gather_app):
    app = gather_app
    case = verified_case(app)
    start(app, case.id)
    with app.app_context():
        assert gathering.gather(case.id, "shop") == "done"
        assert gathering.collect(case.id)[0] == "next-round"
        assert gathering.gather(case.id, "billing") == "done"

    outcomes = race(app, lambda: gathering.collect(case.id)[0])
    # The second gives up on its claim, or (had the first committed before it read) finds
    # the case in review already: either way it changes nothing.
    assert outcomes.count("review") == 1
    assert set(outcomes) - {"review"} <= {"superseded", "unchanged"}
    assert len(events(app, case.id, "case.status_changed", to="review")) == 1


def test_two_fan_ins_planning_a_round_plan_it_once(gather_app):
    app = gather_app
    case = verified_case(app)
    start(app, case.id)
    with app.app_context():
        assert gathering.gather(case.id, "shop") == "done"
    outcomes = race(app, lambda: gathering.collect(case.id)[0])
    assert outcomes.count("next-round") == 1
    assert set(outcomes) - {"next-round"} <= {"superseded", "waiting"}
    with app.app_context():
        billing = db.session.scalar(select(SourceResult).where(
            SourceResult.case_id == case.id, SourceResult.source == "billing"))
        assert (billing.round, billing.status) == (2, GatherStatus.PENDING)


def test_a_search_handed_to_another_job_records_only_the_latest_claim(gather_app):
    """A worker taken for dead (its search handed back by the sweep) that still finishes:
    its result is dropped, the new job's stands, one ``gather.source_done``."""
    app = gather_app
    case = verified_case(app)
    start(app, case.id)
    with app.app_context():
        row = db.session.scalar(select(SourceResult).where(
            SourceResult.case_id == case.id, SourceResult.source == "shop"))
        # The first job claimed the search (attempt 1), then its worker stopped beating.
        row.status, row.attempts = GatherStatus.RUNNING, 1
        db.session.commit()
    with app.app_context():
        job = fetch_job(f"case-{case.id}-gather-shop")
        job.set_status(JobStatus.STARTED)
        job.worker_name = "gone"  # a worker whose heartbeat key expired
        job.save()
        assert requeue_lost_gathering()["requeued_searches"] == 1  # handed back, queued
        assert gathering.gather(case.id, "shop") == "done"  # the new job: attempt 2
        found = Discovery(records=[], identifiers=Identity())
        blobs_before = set(storage_files(app))
        # The first job's search ends now: its claim (attempt 1) no longer holds.
        assert gathering._record_success(case.id, "shop", 1, found, "old-job") == "superseded"
        assert set(storage_files(app)) == blobs_before  # what it wrote is deleted
        row = db.session.scalar(select(SourceResult).where(
            SourceResult.case_id == case.id, SourceResult.source == "shop"))
        assert (row.status, row.attempts, row.record_count) == (GatherStatus.DONE, 2, 1)
    assert len(events(app, case.id, "gather.source_done", source="shop")) == 1


def storage_files(app):
    from pathlib import Path

    return [p.name for p in Path(app.config["STORAGE_DIR"]).rglob("*") if p.is_file()]


def test_two_builds_of_one_package_land_once(demo):
    from dsar.demo.org import SHOWCASE

    case = verified_case(demo, SHOWCASE["B"]["email"])
    start(demo, case.id)
    with demo.app_context():
        # The searches and the fan-in only: the build is what races.
        make_worker(["gather"], fork=False).work(burst=True)
        get_queue("build").empty()
        assert db.session.get(Case, case.id).status is CaseStatus.REVIEW

    outcomes = race(demo, lambda: build_package(case.id))
    assert sorted(outcomes) in (["already-built", "built"], ["built", "superseded"])
    with demo.app_context():
        ready = db.session.scalar(select(func.count()).select_from(ExportPackage).where(
            ExportPackage.case_id == case.id, ExportPackage.status == PackageStatus.READY))
        assert ready == 1
        stored = {p.blob_id for p in db.session.scalars(select(ExportPackage))}
        assert all(storage.exists(b) for b in stored if b)
    assert len(events(demo, case.id, "package.built")) == 1
