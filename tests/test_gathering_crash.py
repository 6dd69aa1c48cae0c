"""A worker killed with SIGKILL in the middle of a search does not lose the case: once it has
missed three heartbeats (not the search's whole lease) the sweep hands the search to another
worker, which finishes the case with the same result. Real worker processes (``dsar worker``),
a real Redis, a real HTTP source."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import select

from dsar import pipeline
from dsar.extensions import db
from dsar.models import Case, CaseStatus, GatherStatus, SourceResult
from dsar.models.types import utcnow
from dsar.pipeline.liveness import running_jobs
from dsar.pipeline.sweep import requeue_lost_gathering
from dsar.search import gathering
from dsar.sources.base import Identity
from dsar.sources.catalog import get_catalog
from tests.support.app import dispose
from tests.support.blocking_crm import BlockingCrm
from tests.support.gathering import (
    CRM_SOURCE,
    EMAIL,
    SHOP_SOURCE,
    app_with_sources,
    build_databases,
    case_status,
    rows_by_source,
    start,
    verified_case,
    write_config,
)


@pytest.fixture
def crash_app(tmp_path, app, database_url, redis_url, key_file, smtp_server):
    crm = BlockingCrm()
    build_databases(tmp_path)
    write_config(tmp_path, {"shop": SHOP_SOURCE, "crm": CRM_SOURCE}, crm_url=crm.url)
    gapp = app_with_sources(database_url, redis_url, key_file, smtp_server, tmp_path)
    env = {**os.environ, "DSAR_DATABASE_URL": database_url, "DSAR_REDIS_URL": redis_url,
           "DSAR_MASTER_KEY_FILE": key_file, "DSAR_STORAGE_DIR": gapp.config["STORAGE_DIR"],
           "DSAR_SOURCES_FILE": gapp.config["SOURCES_FILE"],
           "DSAR_REGISTER_FILE": gapp.config["REGISTER_FILE"],
           "DSAR_GATHER_RETRY_INTERVALS": "[]", "DSAR_LOG_LEVEL": "WARNING",
           "DSAR_WORKER_HEARTBEAT_SECONDS": "2"}
    yield gapp, crm, env
    crm.close()
    dispose(gapp)


def worker(env, *extra) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dsar", "worker", "--queues", "gather,build",
                             *extra], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def reference_sha(app) -> str:
    """What the CRM search gives when nothing goes wrong."""
    import hashlib

    with app.app_context(), get_catalog().connector("crm") as connector:
        found = connector.discover(Identity.of(email=[EMAIL])).sorted()
    return hashlib.sha256(gathering.result_document(found)).hexdigest()


def test_a_worker_killed_mid_search_loses_nothing(crash_app):
    app, crm, env = crash_app
    case = verified_case(app)
    first = worker(env)
    try:
        start(app, case.id)
        assert crm.arrived.wait(60), "the worker never reached the CRM"
        with app.app_context():
            row = db.session.scalar(select(SourceResult).where(
                SourceResult.case_id == case.id, SourceResult.source == "crm"))
            assert row.status is GatherStatus.RUNNING
            lease_until = row.lease_until
        os.killpg(first.pid, signal.SIGKILL)
        assert first.wait(30) == -signal.SIGKILL
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(30)
    assert case_status(app, case.id) is CaseStatus.IN_PROGRESS

    with app.app_context():
        # While the dead worker's heartbeat key lives (three 2-second beats), nobody else
        # takes the search…
        assert requeue_lost_gathering()["requeued_searches"] == 0
        redis = pipeline.redis_connection()
        deadline = time.monotonic() + 30
        while running_jobs(redis) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not running_jobs(redis), "the killed worker's key never expired"
        # …then the sweep hands it to another worker at once, long before the lease's end.
        assert utcnow() < lease_until
        assert requeue_lost_gathering()["requeued_searches"] == 1
    crm.release.set()
    second = worker(env, "--burst")
    assert second.wait(120) == 0

    assert case_status(app, case.id) is CaseStatus.REVIEW
    rows = rows_by_source(app, case.id)
    assert rows["crm"].status is GatherStatus.DONE
    assert rows["crm"].attempts == 2
    assert rows["crm"].result_sha256 == reference_sha(app)
    with app.app_context():
        records = gathering.result_of(db.session.scalar(select(SourceResult).where(
            SourceResult.case_id == case.id, SourceResult.source == "crm")))["records"]
        assert [r["key"] for r in records] == ["7"]  # not the namesake
        assert db.session.get(Case, case.id).status is CaseStatus.REVIEW
