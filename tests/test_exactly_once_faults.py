"""Exactly once under real faults (issue 12), with real ``dsar worker`` processes and a real
redis-server: two workers finishing a case's last searches together, a fan-in queued twice,
a worker SIGKILLed mid-search and mid-build. Whatever happens, every case moves to review once,
gets exactly one package, and no search stores its result twice."""

from __future__ import annotations

from contextlib import ExitStack

import pytest
from sqlalchemy import select

from dsar.extensions import db
from dsar.models import GatherStatus, SourceResult
from dsar.pipeline.sweep import sweep
from tests.support.fault_harness import (
    case_facts,
    fault_setup,
    liveness_keys,
    not_answered_once,
    queues_idle,
    registered_workers,
    starter,
    wait_for,
)
from tests.support.gathering import verified_case

#: The searches of the organisation of four sources: shop and newsletter by e-mail, then
#: billing and loyalty by the customer id the shop found.
FOUR_SOURCES = ["shop", "newsletter", "billing", "loyalty"]
FOUR_SEARCHES = {("shop", 1), ("newsletter", 1), ("billing", 2), ("loyalty", 2)}


@pytest.fixture
def faults(tmp_path, app, database_url, redis_url, key_file, smtp_server):
    """``faults(sources, **options)``: see ``fault_setup`` (``app`` is requested for its
    clean-up of the database and Redis)."""
    with ExitStack() as stack:
        yield lambda sources, **options: stack.enter_context(fault_setup(
            tmp_path, database_url, redis_url, key_file, smtp_server, sources, **options))


def two_workers(f) -> None:
    """Start two long-lived workers and wait until both listen on their queues."""
    f.processes.worker()
    f.processes.worker()
    wait_for(lambda: registered_workers(f.app, f.processes) == 2, 60, "two workers listening",
             details=f.processes.log_tail)


def sweep_until_answered(f, case_id: int, timeout: float) -> None:
    """Run the sweep (as ``dsar scheduler`` does, more often) until the case is in review with
    its package, then until the workers have nothing left to do."""
    def answered():
        with f.app.app_context():
            sweep()
        return case_facts(f.app, case_id).answered

    wait_for(answered, timeout, f"case {case_id} in review with its package", interval=0.5,
             details=f.processes.log_tail)
    wait_for(lambda: queues_idle(f.app, f.processes), 30, "the workers idle")


def test_two_workers_finishing_the_last_searches_together_answer_once(faults):
    """50 times, two idle workers take a case's two searches of a round at the same moment and
    finish them together: both see the round finished and queue its fan-in. Each case still
    moves to review once (one audit event), gets one package built and ready, and every search
    (source, round) stores its result once."""
    f = faults(FOUR_SOURCES)
    two_workers(f)
    start = starter(f.app)
    cases = [verified_case(f.app).id for _ in range(50)]
    for case_id in cases:
        start(case_id)
        wait_for(lambda case_id=case_id: case_facts(f.app, case_id).answered, 30,
                 f"case {case_id} in review with its package", details=f.processes.log_tail)
    wait_for(lambda: queues_idle(f.app, f.processes), 30, "the workers idle")
    assert len(f.processes.alive()) == 2
    assert not_answered_once(f.app, cases, FOUR_SEARCHES) == []


def test_a_fan_in_queued_twice_runs_once(faults):
    """RQ lets the same job id into a queue twice (enqueued without ``enqueue_once``): two
    workers then run the same fan-in at the same time. The case moves to review once and gets
    one package."""
    from dsar.pipeline import collect_job_id, get_queue
    from dsar.pipeline.job_ids import COLLECT_JOB
    from dsar.search import gathering

    f = faults(["shop", "newsletter"])
    case_id = verified_case(f.app).id
    starter(f.app)(case_id)
    with f.app.app_context():  # the searches, done here: nothing has queued the fan-in yet
        get_queue("gather").empty()
        assert [gathering.gather(case_id, s) for s in ("shop", "newsletter")] == ["done"] * 2
    two_workers(f)
    with f.app.app_context():
        queue = get_queue("gather")
        for _ in range(2):
            queue.enqueue(COLLECT_JOB, case_id, job_id=collect_job_id(case_id, 1))
    sweep_until_answered(f, case_id, 30)
    assert not_answered_once(f.app, [case_id], {("shop", 1), ("newsletter", 1)}) == []


def crm_row(app, case_id: int) -> SourceResult:
    with app.app_context():
        row = db.session.scalar(select(SourceResult).where(
            SourceResult.case_id == case_id, SourceResult.source == "crm"))
        db.session.expunge(row)
        return row


def test_a_worker_killed_mid_search_is_replaced_at_the_next_sweep(faults):
    """A worker SIGKILLed while it searches the CRM: while its liveness key lives the sweep
    leaves the search alone; once the key has expired (3 beats), the next sweep queues it for
    the second worker, long before the search's lease (GATHER_TIMEOUT + margin, 6 minutes)
    runs out. The case reaches review with one package; the CRM was searched twice and its
    result stored once."""
    from dsar.pipeline import gather_job_id

    f = faults(["shop", "crm"])
    case_id = verified_case(f.app).id
    first = f.processes.worker()
    starter(f.app)(case_id)
    assert f.crm.arrived.wait(60), "the worker never reached the CRM:\n" + f.processes.log_tail()
    job_id = gather_job_id(case_id, "crm")
    key = wait_for(lambda: next((k for k, job in liveness_keys(f.redis).items()
                                 if job == job_id), None), 10,
                   f"a liveness key naming {job_id}", details=lambda: str(liveness_keys(f.redis)))
    f.processes.kill(first)
    f.crm.release.set()
    f.processes.worker()
    with f.app.app_context():
        sweep()
    if f.redis.exists(key):  # the dead worker's key still lived during the whole sweep
        assert crm_row(f.app, case_id).status is GatherStatus.RUNNING
    sweep_until_answered(f, case_id, 30)  # the lease would hold it 6 minutes
    assert not_answered_once(f.app, [case_id], {("shop", 1), ("crm", 1)}) == []
    row = crm_row(f.app, case_id)
    assert (row.status, row.record_count, f.crm.hits) == (GatherStatus.DONE, 1, 2)


def build_running(f, case_id: int) -> str | None:
    """The id of the case's package build while a worker runs it (RQ's started registry)."""
    from rq.registry import StartedJobRegistry

    from dsar.pipeline import get_queue

    with f.app.app_context():
        started = StartedJobRegistry(queue=get_queue("build")).get_job_ids()
    return next((j for j in started if j.startswith(f"case-{case_id}-package")), None)


def test_a_worker_killed_mid_build_leaves_one_package(faults):
    """A worker SIGKILLed while it builds a package of 30,000 records: a second worker and the
    sweep build it again. The case has exactly one ready package and one ``package.built``."""
    f = faults(["shop", "orders"], orders=30_000)
    case_id = verified_case(f.app).id
    first = f.processes.worker()
    starter(f.app)(case_id)
    wait_for(lambda: build_running(f, case_id), 60, "the package build running",
             interval=0.02, details=f.processes.log_tail)
    f.processes.kill(first)
    caught = case_facts(f.app, case_id)
    assert (caught.packages_built, caught.ready_packages) == (0, 0), "the build was too quick"
    f.processes.worker()
    sweep_until_answered(f, case_id, 60)
    assert not_answered_once(f.app, [case_id], {("shop", 1), ("orders", 1)}) == []
