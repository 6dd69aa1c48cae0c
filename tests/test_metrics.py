"""``/metrics`` as a Prometheus server reads it: behind its bearer token, in the text format,
each value what the database and Redis hold at the scrape — cases open, overdue and due soon,
jobs queued, scheduled and failed per queue, workers and the scheduler alive, search and build
durations, e-mails failed — and never a reference, an address or a name."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from dsar import create_app
from dsar.cases.staff_actions import ask_info
from dsar.extensions import db, limiter
from dsar.mail.outbox import commit_and_send, queue_email
from dsar.models import (
    Case,
    CaseKind,
    CaseStatus,
    ExportPackage,
    GatherStatus,
    MailTemplate,
    PackageStatus,
    SourceResult,
    StaffUser,
)
from dsar.models.types import utcnow
from dsar.ops.metrics_collect import OPEN_STATUSES
from dsar.pipeline import QUEUES, get_queue
from dsar.pipeline.queues import redis_connection
from tests.support.app import app_config, dispose
from tests.support.casework import set_today
from tests.support.fault_harness import Processes, wait_for
from tests.support.ops_env import dsar_env
from tests.support.ports import free_port
from tests.support.staff import make_case, make_staff

TOKEN = "metrics-token-of-the-tests-0123456789"
Samples = dict[tuple[str, tuple], float]


def scrape(client, token: str = TOKEN) -> Samples:
    """Every sample of a scrape, ``{(name, sorted labels): value}``, as Prometheus parses it."""
    response = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == "text/plain"
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.get_data(as_text=True))
            for sample in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float | None:
    """The sample ``name{labels}``, None if the scrape has no such series."""
    return samples.get((name, tuple(sorted(labels.items()))))


def series(samples: Samples, name: str) -> dict[tuple, float]:
    """Every series of ``name``: ``{sorted labels: value}``."""
    return {labels: v for (n, labels), v in samples.items() if n == name}


@pytest.fixture
def with_token(app):
    app.config["METRICS_TOKEN"] = TOKEN
    return app


def test_without_the_setting_there_is_no_metrics_page(client):
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
                      ).status_code == 404


def test_a_missing_or_wrong_token_is_refused(with_token, client):
    for headers in ({}, {"Authorization": "Bearer wrong"},
                    {"Authorization": f"Bearer {TOKEN[:-1]}"},
                    {"Authorization": f"Bearer {TOKEN}x"},
                    {"Authorization": f"Basic {TOKEN}"}):
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="dsar-metrics"'
        assert "dsar_" not in response.get_data(as_text=True)
    assert client.get("/metrics", headers={"Authorization": f"bearer {TOKEN}"}
                      ).status_code == 200


def person_case(app, name: str, status: CaseStatus, kind: CaseKind, received_on: date):
    """A case of ``kind`` received on ``received_on``, now at ``status``, from
    ``<name>.person@example.fr``."""
    return make_case(app, status=status, kind=kind, received_on=received_on,
                     email=f"{name}.person@example.fr")


def test_cases_jobs_searches_and_emails_are_counted_without_personal_data(
        with_token, client, run_jobs, smtp_server):
    app = with_token
    set_today(app, "2025-04-08")
    # Due 2025-04-07: overdue. Due 2025-04-14: within 7 days. The others later, or closed.
    # "paused": due 2025-04-03, its clock paused since for a doubt about identity: overdue
    # on the dashboard all the same (the pause shows on its row), but not late.
    cases = {name: person_case(app, name, status, kind, received_on)
             for name, status, kind, received_on in (
                 ("overdue", CaseStatus.CONFIRMED, CaseKind.ACCESS, date(2025, 3, 5)),
                 ("soon", CaseStatus.VERIFIED, CaseKind.ERASURE, date(2025, 3, 12)),
                 ("searched", CaseStatus.IN_PROGRESS, CaseKind.PORTABILITY, date(2025, 4, 1)),
                 ("new", CaseStatus.SUBMITTED, CaseKind.ACCESS, date(2025, 4, 7)),
                 ("closed", CaseStatus.WITHDRAWN, CaseKind.ACCESS, date(2025, 3, 1)),
                 ("paused", CaseStatus.CONFIRMED, CaseKind.ACCESS, date(2025, 3, 3)))}
    paused, searched, soon = cases["paused"], cases["searched"], cases["soon"]
    agent = make_staff(app, "agent")
    with app.app_context():
        ask_info(db.session.get(Case, paused.id), db.session.get(StaffUser, agent.id),
                 "Your customer number, please.", doubt="The name does not match.")
    # A request received by post without an address: its e-mail cannot be sent.
    postal = make_case(app, status=CaseStatus.SUBMITTED, kind=CaseKind.RECTIFICATION,
                       received_on=date(2025, 4, 7), email="")
    now = utcnow()
    with app.app_context():
        # What three searches took (one failed), and one finished too long ago to count.
        for source, status, seconds, ago in (("crm", GatherStatus.DONE, 0.3, 1),
                                             ("billing", GatherStatus.DONE, 7, 2),
                                             ("files", GatherStatus.FAILED, 42, 3),
                                             ("newsletter", GatherStatus.DONE, 1, 49)):
            finished = now - timedelta(hours=ago)
            db.session.add(SourceResult(case_id=searched.id, source=source, status=status,
                                        started_at=finished - timedelta(seconds=seconds),
                                        finished_at=finished))
        commit_and_send(queue_email(db.session.get(Case, postal.id),
                                    MailTemplate.ACKNOWLEDGEMENT))
    assert run_jobs() == 0
    # A job refused by the worker (it names no job function) lands in "build"'s failed jobs.
    with app.app_context():
        get_queue("build").enqueue("os.getcwd", job_id="not-a-job")
    assert run_jobs() == 1
    # The SMTP server does not answer: the e-mail waits for its retry.
    port, app.config["SMTP_PORT"] = app.config["SMTP_PORT"], free_port()
    with app.app_context():
        commit_and_send(queue_email(db.session.get(Case, soon.id), MailTemplate.ACKNOWLEDGEMENT))
    assert run_jobs() == 1  # the refused job, still there
    app.config["SMTP_PORT"] = port

    samples = scrape(client)

    expected_open = {(status.value, kind.value): 0 for status in OPEN_STATUSES
                     for kind in CaseKind}
    expected_open.update({("confirmed", "access"): 1, ("needs_info", "access"): 1,
                          ("verified", "erasure"): 1,
                          ("in_progress", "portability"): 1, ("submitted", "access"): 1,
                          ("submitted", "rectification"): 1})
    assert {(dict(labels)["status"], dict(labels)["kind"]): v
            for labels, v in series(samples, "dsar_cases_open").items()} == expected_open
    assert value(samples, "dsar_cases_overdue") == 2  # as the dashboard counts them
    assert value(samples, "dsar_cases_overdue_paused") == 1
    # The alert of docs/metrics.md: the late cases, the paused one left out.
    assert value(samples, "dsar_cases_overdue") - value(samples, "dsar_cases_overdue_paused") \
        == 1
    assert value(samples, "dsar_cases_due_soon") == 1

    for queue in QUEUES:
        assert value(samples, "dsar_jobs_queued", queue=queue) == 0
        assert value(samples, "dsar_jobs_running", queue=queue) == 0
        assert value(samples, "dsar_jobs_failed", queue=queue) == (queue == "build")
        assert value(samples, "dsar_jobs_scheduled", queue=queue) == (queue == "mail")
        assert value(samples, "dsar_workers", queue=queue) == 0  # the test's worker stopped
    assert value(samples, "dsar_scheduler_up") == 0

    def bucket(source, le):
        return value(samples, "dsar_search_duration_seconds_bucket", source=source, le=le)

    assert (bucket("crm", "0.25"), bucket("crm", "0.5"), bucket("crm", "+Inf")) == (0, 1, 1)
    assert (bucket("billing", "5.0"), bucket("billing", "10.0")) == (0, 1)
    assert (bucket("files", "30.0"), bucket("files", "60.0")) == (0, 1)
    assert bucket("newsletter", "+Inf") is None  # finished 49 hours ago
    assert value(samples, "dsar_search_duration_seconds_gsum", source="billing") == \
        pytest.approx(7, abs=0.01)
    assert value(samples, "dsar_search_duration_seconds_gcount", source="crm") == 1
    assert series(samples, "dsar_searches_failed") == {
        (("source", "billing"),): 0, (("source", "crm"),): 0, (("source", "files"),): 1}

    assert value(samples, "dsar_emails_failed", reason="no_address") == 1
    assert value(samples, "dsar_emails_failed", reason="error") == 0
    assert value(samples, "dsar_emails_pending") == 1
    assert value(samples, "dsar_emails_failing") == 1
    assert value(samples, "dsar_database_up") == value(samples, "dsar_redis_up") == 1

    # Nothing about a person: no reference, no address, no name.
    text = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
                      ).get_data(as_text=True)
    for case in (*cases.values(), postal):
        assert case.reference not in text
        if case.requester_email:
            assert case.requester_email not in text
    assert "@" not in text and "Camille" not in text and "Martin" not in text


def test_package_builds_of_the_last_day_are_counted(with_token, client):
    case = make_case(with_token, status=CaseStatus.REVIEW)
    with with_token.app_context():
        for hours_ago, seconds in ((1, 3.0), (2, 40.0), (30, 1.0)):
            db.session.add(ExportPackage(
                case_id=case.id, status=PackageStatus.EXPIRED, sha256="0" * 64,
                results_digest="0" * 64, scope="access", build_seconds=seconds,
                created_at=utcnow() - timedelta(hours=hours_ago)))
        db.session.commit()
    samples = scrape(client)
    assert value(samples, "dsar_packages_built", scope="access") == 2
    bucket = "dsar_build_duration_seconds_bucket"
    assert [value(samples, bucket, scope="access", le=le)
            for le in ("2.5", "5.0", "30.0", "60.0", "+Inf")] == [0, 1, 1, 2, 2]
    assert value(samples, "dsar_build_duration_seconds_gsum", scope="access") == \
        pytest.approx(43)


def test_workers_and_the_scheduler_are_seen_alive_then_gone(with_token, client, tmp_path):
    """The "no worker" alert's metric: a real ``dsar worker`` on two queues and a real
    ``dsar scheduler`` show up within seconds, and are gone once stopped."""
    (tmp_path / "logs").mkdir()
    processes = Processes(dsar_env(with_token.config, str(tmp_path / "instance")),
                          tmp_path / "logs")

    def alive():
        samples = scrape(client)
        return ({q: value(samples, "dsar_workers", queue=q) for q in QUEUES},
                value(samples, "dsar_scheduler_up"))

    serving = {q: float(q in ("mail", "maintenance")) for q in QUEUES}
    try:
        processes.start("worker", "--queues", "mail,maintenance")
        processes.start("scheduler")
        wait_for(lambda: alive() == (serving, 1), 60, "the worker and the scheduler",
                 interval=0.25, details=processes.log_tail)
    finally:
        processes.close()
    assert alive() == ({q: 0 for q in QUEUES}, 0)


def test_a_redis_outage_leaves_the_database_metrics(database_url, key_file, smtp_server,
                                                    tmp_path, app):
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    config = app_config(database_url, nowhere, key_file, tmp_path / "storage",
                        smtp_server.port)
    outage = create_app({**config, "METRICS_TOKEN": TOKEN})
    try:
        samples = scrape(outage.test_client())
    finally:
        dispose(outage)
    assert value(samples, "dsar_redis_up") == 0
    assert value(samples, "dsar_database_up") == 1
    assert value(samples, "dsar_cases_overdue") == 0
    assert not series(samples, "dsar_jobs_queued")


def test_scrapes_are_never_rate_limited(database_url, redis_url, key_file, smtp_server,
                                        tmp_path, app):
    """Even under a default limit every other page gets (Prometheus polls from one
    address every few seconds)."""
    config = app_config(database_url, redis_url, key_file, tmp_path / "storage",
                        smtp_server.port)
    limited = create_app({**config, "METRICS_TOKEN": TOKEN, "RATELIMIT_DEFAULT": "2 per hour"})
    try:
        client = limited.test_client()
        assert [client.get("/request/access").status_code for _ in range(3)][-1] == 429
        for _ in range(5):
            assert value(scrape(client), "dsar_database_up") == 1
    finally:
        # The limiter is one object for every app of the process: its default limit would
        # stay on every later test's app.
        limiter.limit_manager.set_default_limits([])
        dispose(limited)


def test_a_value_that_cannot_be_read_leaves_the_rest_of_the_scrape(with_token, client):
    """A worker registered with a heartbeat in a format this version cannot read (another
    RQ's, a hand-made key): the Redis part says it failed (``dsar_redis_up`` 0), the scrape
    still answers 200 with the database's metrics."""
    with with_token.app_context():
        connection = redis_connection()
    connection.hset("rq:worker:odd", "last_heartbeat", "last Tuesday")
    connection.sadd("rq:workers:mail", "rq:worker:odd")
    try:
        samples = scrape(client)
    finally:
        connection.srem("rq:workers:mail", "rq:worker:odd")
        connection.delete("rq:worker:odd")
    assert value(samples, "dsar_redis_up") == 0
    assert not series(samples, "dsar_workers")
    assert value(samples, "dsar_database_up") == 1
    assert value(samples, "dsar_cases_overdue") == 0
