"""Exactly once when Redis itself fails (issue 12), with real ``dsar`` processes and a real
redis-server: two processes enqueueing the same job at once, ``FLUSHALL`` while searches wait
and one runs, and Redis restarted under a running worker and scheduler."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
from redis import Redis
from sqlalchemy import select

from dsar.extensions import db
from dsar.models import GatherStatus, SourceResult
from dsar.pipeline.sweep import sweep
from tests.support.app import app_config
from tests.support.fault_harness import (
    case_facts,
    fault_setup,
    liveness_keys,
    not_answered_once,
    queues_idle,
    race_enqueue_once,
    registered_workers,
    starter,
    wait_for,
)
from tests.support.gathering import verified_case
from tests.support.ports import free_port
from tests.support.redis_server import redis_server

ROUNDS = 20


def test_enqueue_once_raced_from_two_processes_queues_the_job_once(
        app, database_url, redis_url, key_file, smtp_server, tmp_path):
    """20 rounds: two processes, released together by a barrier, enqueue the same job id
    with ``enqueue_once``. Each round the queue holds the id once (RQ alone would hold it
    twice and run it twice), and both calls report the job queued."""
    from dsar.pipeline import collect_job_id, get_queue

    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(3), context.Queue()
    config = app_config(database_url, redis_url, key_file, tmp_path / "storage",
                        smtp_server.port)
    racers = [context.Process(target=race_enqueue_once, args=(config, barrier, ROUNDS, results))
              for _ in range(2)]
    for racer in racers:
        racer.start()
    held = []
    try:
        with app.app_context():
            queue = get_queue("gather")
            for round_ in range(1, ROUNDS + 1):
                barrier.wait(60)  # both racers ready: go
                barrier.wait(60)  # both have enqueued
                held.append(queue.get_job_ids().count(collect_job_id(1, round_)))
        assert held == [1] * ROUNDS, f"times the queue holds each round's job: {held}"
        assert [results.get(timeout=10) for _ in range(2 * ROUNDS)] == [True] * (2 * ROUNDS)
    except threading.BrokenBarrierError:
        pytest.fail(f"a racer failed: {[results.get(timeout=10) for _ in range(results.qsize())]}")
    finally:
        barrier.abort()
        for racer in racers:
            racer.join(30)
            if racer.is_alive():
                racer.kill()
                racer.join(10)
        results.close()
        results.join_thread()


@pytest.fixture
def faults(tmp_path, app, database_url, redis_url, key_file, smtp_server):
    """``faults(sources, redis_url=…, **options)``: see ``fault_setup`` (``app`` is requested
    for its clean-up of the database and the suite's Redis)."""
    with ExitStack() as stack:
        yield lambda sources, url=redis_url, **options: stack.enter_context(fault_setup(
            tmp_path, database_url, url, key_file, smtp_server, sources, **options))


def search_row(app, case_id: int, source: str) -> SourceResult:
    with app.app_context():
        row = db.session.scalar(select(SourceResult).where(
            SourceResult.case_id == case_id, SourceResult.source == source))
        db.session.expunge(row)
        return row


def test_flushall_while_searches_wait_and_one_runs_loses_and_repeats_nothing(faults):
    """Redis emptied (``FLUSHALL``) while one worker is in the middle of case A's CRM search
    and the searches of cases B and C wait in the queue. The sweep queues B's and C's searches
    again without waiting for the grace (60 s here), but never A's search, in flight on a live
    worker. Every case then reaches review with exactly one package, and every search stored
    its result once (each case's CRM searched once)."""
    from dsar.pipeline import gather_job_id, get_queue

    f = faults(["shop", "crm"], REQUEUE_GRACE_SECONDS=60)
    start = starter(f.app)
    first, *others = cases = [verified_case(f.app).id for _ in range(3)]
    f.processes.worker()
    start(first)
    assert f.crm.arrived.wait(60), "the worker never reached the CRM:\n" + f.processes.log_tail()
    for case_id in others:
        start(case_id)
    waiting = {gather_job_id(c, s) for c in others for s in ("shop", "crm")}
    with f.app.app_context():
        assert waiting <= set(get_queue("gather").get_job_ids())
    f.redis.flushall()

    def requeued():
        with f.app.app_context():
            sweep()
            return waiting <= set(get_queue("gather").get_job_ids())

    wait_for(requeued, 20, "the lost searches queued again", interval=0.25,
             details=f.processes.log_tail)
    with f.app.app_context():
        assert gather_job_id(first, "crm") not in get_queue("gather").get_job_ids()
    row = search_row(f.app, first, "crm")
    assert (row.status, row.attempts) == (GatherStatus.RUNNING, 1)
    f.crm.release.set()

    def all_answered():
        with f.app.app_context():
            sweep()
        return all(case_facts(f.app, case_id).answered for case_id in cases)

    wait_for(all_answered, 60, "every case in review with its package", interval=0.5,
             details=f.processes.log_tail)
    wait_for(lambda: queues_idle(f.app, f.processes), 30, "the worker idle")
    assert not_answered_once(f.app, cases, {("shop", 1), ("crm", 1)}) == []
    assert f.crm.hits == 3


class RestartableRedis:
    """A private redis-server (no persistence) on ``port``, stopped and started again by the
    test; the same port each time."""

    def __init__(self, workdir: Path, port: int):
        self.workdir, self.port, self.url = workdir, port, f"redis://127.0.0.1:{port}/0"
        self._running: ExitStack | None = None

    def start(self) -> None:
        self._running = ExitStack()
        self._running.enter_context(redis_server(
            self.workdir, f"port {self.port}\nbind 127.0.0.1\n", Redis(port=self.port)))

    def stop(self) -> None:
        if self._running is not None:
            self._running.close()
            self._running = None


def sweep_queued(app) -> bool:
    """Whether a periodic sweep job waits in the ``maintenance`` queue (no worker serves it
    here: what is there was put there by ``dsar scheduler``)."""
    from dsar.pipeline import get_queue

    with app.app_context():
        return any(job.func_name == "workers.jobs.sweep_lost_work"
                   for job in get_queue("maintenance").get_jobs())


@pytest.fixture
def private_redis(tmp_path):
    """A redis-server of the test's own, which it may stop and start again (set up before
    ``faults`` and so stopped after its processes)."""
    redis = RestartableRedis(tmp_path / "private-redis", free_port())
    redis.start()
    yield redis
    redis.stop()


def test_worker_and_scheduler_ride_out_a_redis_restart(private_redis, faults):
    """A private redis-server (no persistence) is stopped and started again on the same port
    under a running ``dsar worker`` and ``dsar scheduler``. Both are still running afterwards:
    the worker beats again and runs a case started after the restart to review with its
    package; the scheduler queues its periodic sweep again. Both still stop when asked."""
    f = faults(["shop", "newsletter"], url=private_redis.url, SWEEP_INTERVAL_SECONDS=1)
    worker = f.processes.worker()
    scheduler = f.processes.start("scheduler")
    wait_for(lambda: registered_workers(f.app, f.processes) == 1, 60, "the worker listening",
             details=f.processes.log_tail)
    wait_for(lambda: sweep_queued(f.app), 30, "the scheduler's first sweep",
             details=f.processes.log_tail)

    private_redis.stop()
    outage = time.monotonic() + 3  # longer than a beat: both processes meet the outage
    while time.monotonic() < outage:
        assert worker.poll() is None and scheduler.poll() is None, f.processes.log_tail()
        time.sleep(0.1)
    private_redis.start()  # empty: nothing was saved

    wait_for(lambda: liveness_keys(f.redis), 30, "the worker beating again",
             details=f.processes.log_tail)
    wait_for(lambda: sweep_queued(f.app), 30, "the scheduler queuing its sweep again",
             details=f.processes.log_tail)
    case_id = verified_case(f.app).id
    starter(f.app)(case_id)
    wait_for(lambda: case_facts(f.app, case_id).answered, 30,
             "the case started after the restart in review with its package",
             details=f.processes.log_tail)
    wait_for(lambda: queues_idle(f.app, f.processes), 30, "the worker idle")
    assert not_answered_once(f.app, [case_id], {("shop", 1), ("newsletter", 1)}) == []
    assert worker.poll() is None and scheduler.poll() is None, f.processes.log_tail()

    for process in (worker, scheduler):
        os.killpg(process.pid, signal.SIGTERM)
    wait_for(lambda: worker.poll() is not None and scheduler.poll() is not None, 15,
             "the worker and the scheduler stopping on SIGTERM", details=f.processes.log_tail)
