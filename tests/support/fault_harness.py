"""Real faults for the exactly-once tests (issue 12): a small organisation of cheap SQLite
sources (and a CRM over HTTP whose first search hangs until released), ``dsar worker`` and
``dsar scheduler`` processes in their own session, and what the database says about a case,
read by polling with a deadline."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from redis import Redis
from sqlalchemy import func, select

from dsar.extensions import db
from dsar.models import AuditEvent, Case, CaseStatus, ExportPackage, PackageStatus
from tests.support.app import dispose
from tests.support.blocking_crm import BlockingCrm
from tests.support.data import data_text
from tests.support.gathering import (
    CRM_SOURCE,
    EMAIL,
    SHOP_SOURCE,
    app_with_sources,
    build_databases,
    write_config,
)
from tests.support.staff import make_staff

#: Searched by e-mail beside the shop: the two searches of round 1.
NEWSLETTER_SOURCE = data_text("gathering/newsletter.toml")
#: Reached by the customer id the shop yields: the two searches of round 2.
BILLING_SOURCE = """
[sources.billing]
kind = "sql"
label = "Facturation"
url = "sqlite:///${directory}/billing.sqlite"

[sources.billing.collections.invoices]
match = { customer_id = "customer_id" }
erasure = "retain"
retain_basis = "Code de commerce L123-22"
fields = { id = "billing", customer_id = "identification", amount = "billing" }
"""
LOYALTY_SOURCE = data_text("gathering/loyalty.toml")
#: The person's order history (:func:`build_organisation`'s ``orders`` rows): a package that
#: takes seconds to build.
ORDERS_SOURCE = data_text("gathering/orders.toml")
#: Every source a test may pick (the CRM: tests.support.gathering's, at ``${crm_url}``).
SOURCES = {"shop": SHOP_SOURCE, "newsletter": NEWSLETTER_SOURCE, "billing": BILLING_SOURCE,
           "loyalty": LOYALTY_SOURCE, "orders": ORDERS_SOURCE, "crm": CRM_SOURCE}
#: The settings every fault test gives its app and its processes: a beat a second, and work
#: the database owes re-queued 2 s after its last activity.
FAST_RECOVERY = {"WORKER_HEARTBEAT_SECONDS": 1, "REQUEUE_GRACE_SECONDS": 2}


def build_organisation(instance: Path, *, orders: int = 0) -> None:
    """The shop and billing of ``tests.support.gathering``, a newsletter, loyalty points, and
    ``orders`` orders of the person."""
    build_databases(instance)
    tables = {
        "newsletter": ("CREATE TABLE subscribers (id INTEGER PRIMARY KEY, email TEXT)",
                       "INSERT INTO subscribers VALUES (?, ?)",
                       [(1, EMAIL), (2, "paul.durand@example.fr")]),
        "loyalty": ("CREATE TABLE points (id INTEGER PRIMARY KEY, customer_id INTEGER, "
                    "points INTEGER)", "INSERT INTO points VALUES (?, ?, ?)",
                    [(1, 1, 120), (2, 3, 40)]),
        "orders": ("CREATE TABLE orders (id INTEGER PRIMARY KEY, email TEXT, item TEXT, "
                   "note TEXT)", "INSERT INTO orders VALUES (?, ?, ?, ?)",
                   [(i, EMAIL, f"Article {i % 97}", f"Commande {i} " + "x" * 60)
                    for i in range(1, orders + 1)]),
    }
    for name, (create, insert, rows) in tables.items():
        with sqlite3.connect(instance / f"{name}.sqlite") as conn:
            conn.execute(create)
            conn.executemany(insert, rows)
        conn.close()


class Processes:
    """The ``dsar`` processes a test starts, each in its own session with the test's
    environment, its output in ``<logs>/<command>-<n>.log``; all stopped by :meth:`close`."""

    def __init__(self, env: dict[str, str], logs: Path):
        self.env, self.logs, self.started = env, logs, []

    def start(self, *args: str) -> subprocess.Popen:
        log = self.logs / f"{args[0]}-{len(self.started) + 1}.log"
        with open(log, "wb") as out:
            process = subprocess.Popen([sys.executable, "-m", "dsar", *args], env=self.env,
                                       start_new_session=True, stdout=out,
                                       stderr=subprocess.STDOUT)
        self.started.append(process)
        return process

    def worker(self, *extra: str) -> subprocess.Popen:
        """A long-lived ``dsar worker`` on the queues of searches and builds."""
        return self.start("worker", "--queues", "gather,build", *extra)

    def kill(self, process: subprocess.Popen) -> None:
        """SIGKILL, as the OOM killer or a lost machine would."""
        os.killpg(process.pid, signal.SIGKILL)
        assert process.wait(30) == -signal.SIGKILL

    def alive(self) -> list[subprocess.Popen]:
        return [p for p in self.started if p.poll() is None]

    def log_tail(self, lines: int = 30) -> str:
        """The end of every log, for a failure's message."""
        return "\n".join(f"--- {log.name}\n" + "\n".join(
            log.read_text(errors="replace").splitlines()[-lines:])
            for log in sorted(self.logs.glob("*.log")))

    def close(self) -> None:
        """SIGTERM to every process still running, SIGKILL to those not gone 5 s later."""
        for process in self.alive():
            os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for process in self.started:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


@dataclass
class Faults:
    """What a fault test works with: the app (its sources, its Redis), the processes it
    starts, and a Redis client on the app's Redis."""

    app: object
    processes: Processes
    redis: Redis
    crm: BlockingCrm | None


@contextmanager
def fault_setup(tmp_path: Path, database_url: str, redis_url: str, key_file: str,
                smtp_server, sources: list[str], *, orders: int = 0,
                **settings) -> Iterator[Faults]:
    """An organisation of the named :data:`SOURCES`, an app reading it (with
    :data:`FAST_RECOVERY` and ``settings``) and the environment of its ``dsar`` processes.
    Every process is stopped at the end."""
    settings = {**FAST_RECOVERY, **settings}
    crm = BlockingCrm() if "crm" in sources else None
    build_organisation(tmp_path, orders=orders)
    write_config(tmp_path, {n: SOURCES[n] for n in sources},
                 **({"crm_url": crm.url} if crm else {}))
    app = app_with_sources(database_url, redis_url, key_file, smtp_server, tmp_path, **settings)
    logs = tmp_path / "logs"
    logs.mkdir()
    env = {**os.environ, "DSAR_DATABASE_URL": database_url, "DSAR_REDIS_URL": redis_url,
           "DSAR_MASTER_KEY_FILE": key_file, "DSAR_STORAGE_DIR": app.config["STORAGE_DIR"],
           "DSAR_SOURCES_FILE": app.config["SOURCES_FILE"],
           "DSAR_REGISTER_FILE": app.config["REGISTER_FILE"],
           "DSAR_SMTP_PORT": str(smtp_server.port), "DSAR_GATHER_RETRY_INTERVALS": "[]",
           "DSAR_LOG_LEVEL": "INFO",
           **{f"DSAR_{name}": json.dumps(value) for name, value in settings.items()}}
    processes = Processes(env, logs)
    redis = Redis.from_url(redis_url)
    try:
        yield Faults(app, processes, redis, crm)
    finally:
        processes.close()
        if crm:
            crm.close()
        redis.close()
        dispose(app)


def starter(app) -> Callable[[int], None]:
    """``start(case_id)``: an agent starts processing the verified case (its searches are
    queued), as ``tests.support.gathering.start`` does, with one agent for every case."""
    from dsar.cases.staff_actions import start_processing

    agent = make_staff(app, "agent")

    def start(case_id: int) -> None:
        with app.app_context():
            start_processing(db.session.get(Case, case_id), agent)

    return start


def wait_for(condition: Callable[[], object], timeout: float, what: str,
             interval: float = 0.05, details: Callable[[], str] = lambda: ""):
    """Poll ``condition`` until it returns something true (returned), at most ``timeout``
    seconds; then fail saying ``what`` was awaited (and ``details()``)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"after {timeout:.0f} s, still waiting for {what}\n"
                                 f"{details()}")
        time.sleep(interval)


@dataclass
class CaseFacts:
    """What the database says about a case: its status, its moves to review, its packages,
    and how many times each search (source, round) stored its result."""

    status: CaseStatus
    to_review: int
    packages_built: int
    ready_packages: int
    searches_done: Counter

    @property
    def answered(self) -> bool:
        """In review with its package ready (a duplicate may still be on its way)."""
        return self.status is CaseStatus.REVIEW and self.ready_packages >= 1


def case_facts(app, case_id: int) -> CaseFacts:
    with app.app_context():
        status = db.session.scalar(select(Case.status).where(Case.id == case_id))
        events = db.session.execute(select(AuditEvent.action, AuditEvent.payload)
                                    .where(AuditEvent.case_id == case_id)).all()
        ready = db.session.scalar(select(func.count()).select_from(ExportPackage).where(
            ExportPackage.case_id == case_id, ExportPackage.status == PackageStatus.READY))
    return CaseFacts(
        status=status,
        to_review=sum(a == "case.status_changed" and p.get("to") == "review" for a, p in events),
        packages_built=sum(a == "package.built" for a, _ in events),
        ready_packages=ready,
        searches_done=Counter((p["source"], p["round"]) for a, p in events
                              if a == "gather.source_done"))


def answered_once(facts: CaseFacts, searches: set[tuple[str, int]]) -> bool:
    """The case moved to review once, one package was built and is ready, and each expected
    search (source, round) stored its result once."""
    return (facts.status is CaseStatus.REVIEW
            and (facts.to_review, facts.packages_built, facts.ready_packages) == (1, 1, 1)
            and facts.searches_done == Counter(dict.fromkeys(searches, 1)))


def not_answered_once(app, case_ids, searches: set[tuple[str, int]]) -> list:
    """The cases of ``case_ids`` not :func:`answered_once`, with their facts (empty: all
    were)."""
    facts = [(case_id, case_facts(app, case_id)) for case_id in case_ids]
    return [(case_id, f) for case_id, f in facts if not answered_once(f, searches)]


def queues_idle(app, processes: Processes) -> bool:
    """Nothing queued or scheduled on ``gather`` and ``build``, and none of the live workers
    started by the test running a job: twice, 0.3 s apart (a worker that has just taken a job
    may not say so yet)."""
    return _idle(app, processes) and (time.sleep(0.3) or _idle(app, processes))


def _idle(app, processes: Processes) -> bool:
    from rq import Worker
    from rq.registry import ScheduledJobRegistry

    from dsar.pipeline import get_queue

    with app.app_context():
        queues = [get_queue("gather"), get_queue("build")]
        if any(q.count or ScheduledJobRegistry(queue=q).count for q in queues):
            return False
        pids = {p.pid for p in processes.alive()}
        workers = Worker.all(connection=queues[0].connection)
        return not any(w.pid in pids and w.get_current_job_id() for w in workers)


def registered_workers(app, processes: Processes) -> int:
    """How many of the test's live workers RQ knows (they have started listening)."""
    from rq import Worker

    from dsar.pipeline import redis_connection

    pids = {p.pid for p in processes.alive()}
    with app.app_context():
        return sum(w.pid in pids for w in Worker.all(connection=redis_connection()))


def liveness_keys(redis: Redis) -> dict[str, str]:
    """The workers' liveness keys (``dsar:worker:<name>``) and the job each is running."""
    return {key.decode(): (redis.hget(key, "current_job") or b"").decode()
            for key in redis.scan_iter("dsar:worker:*")}


def race_enqueue_once(config: dict, barrier, rounds: int, results) -> None:
    """One of two processes racing ``dsar.pipeline.enqueue.enqueue_once`` (run in a spawned
    process): each round, both pass ``barrier`` together (with the test), enqueue the round's
    fan-in job and put what ``enqueue_once`` returned in ``results``, then pass ``barrier``
    again so the test can look at the queue. On an error, its text goes to ``results`` and
    the barrier is broken, so the test stops waiting."""
    try:
        from dsar import create_app
        from dsar.pipeline.enqueue import enqueue_once
        from dsar.pipeline.job_ids import COLLECT_JOB, collect_job_id

        app = create_app(config)
        with app.app_context():
            for round_ in range(1, rounds + 1):
                barrier.wait(60)
                results.put(enqueue_once("gather", COLLECT_JOB, 1,
                                         job_id=collect_job_id(1, round_)))
                barrier.wait(60)
    except threading.BrokenBarrierError:
        pass  # the test or the other racer stopped
    except BaseException as exc:
        results.put(f"{type(exc).__name__}: {exc}")
        barrier.abort()
        raise
