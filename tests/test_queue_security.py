"""Redis is not a way into the workers: jobs are JSON (never unpickled) and can only name a job
function of ``workers.jobs``; Redis may require a password and TLS; the demo's Redis has a
random password kept out of every command line and log. All against real redis-servers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis import Redis
from redis.exceptions import AuthenticationError, ResponseError
from rq import Queue
from rq.registry import FailedJobRegistry
from rq.serializers import DefaultSerializer, JSONSerializer
from sqlalchemy import select

from dsar import create_app, pipeline
from dsar.extensions import db
from dsar.models import MailStatus, OutboundEmail
from dsar.pipeline.worker import cron_scheduler, make_worker
from tests.support.app import app_config
from tests.support.forms import access_form, post_form
from tests.support.pki import make_pki
from tests.support.ports import free_port
from tests.support.redis_server import redis_server
from tests.support.tls_servers import tls_redis_server
from tests.support.workers import run_queued_jobs

PASSWORD = "correct-horse-battery-staple"


class MakeDirectory:
    """What an attacker pickles: unpickling it calls ``os.mkdir(path)``."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def failed_ids(app, queue: str) -> list[str]:
    with app.app_context():
        return FailedJobRegistry(queue=pipeline.get_queue(queue)).get_job_ids()


def app_on(redis_url: str, database_url, key_file, smtp_server, tmp_path, limiter_url, **more):
    """An app whose jobs go to ``redis_url`` and whose rate limits go to ``limiter_url``."""
    config = app_config(database_url, redis_url, key_file, tmp_path / "storage", smtp_server.port)
    return create_app({**config, "RATELIMIT_STORAGE_URI": limiter_url, **more})


def pending_mail(app) -> OutboundEmail:
    """The one outbox e-mail, detached from its session."""
    with app.app_context():
        outbound = db.session.scalars(select(OutboundEmail)).one()
        db.session.expunge(outbound)
        return outbound


# --------------------------------------------------------------------------- what a job may be


def test_a_pickled_job_written_into_redis_is_not_run(app, client, run_jobs, redis_url,
                                                     smtp_server, tmp_path):
    marker = tmp_path / "pickle-ran"
    attacker = Redis.from_url(redis_url)
    # What anyone who can write to Redis can do: a job in RQ's default (pickle) format, on a
    # queue the workers read, whose arguments run code when they are loaded.
    evil = Queue("mail", connection=attacker, serializer=DefaultSerializer).enqueue(
        "workers.jobs.send_email", MakeDirectory(marker), job_id="evil-pickle")
    run_jobs()
    assert not marker.exists()
    assert evil.id in failed_ids(app, "mail")
    # The worker went on: real work still runs.
    post_form(client, "/request/access", access_form())
    run_jobs()
    assert [m["To"] for m in smtp_server.messages()] == [access_form()["email"]]


@pytest.mark.parametrize("func", ["os.mkdir", "workers.app.job",
                                  "workers.jobs.job", "workers.jobs.final_attempt"])
def test_a_json_job_naming_anything_but_a_job_function_is_not_run(app, run_jobs, redis_url,
                                                                  tmp_path, func):
    marker = tmp_path / "json-ran"
    attacker = Redis.from_url(redis_url)
    job = Queue("gather", connection=attacker, serializer=JSONSerializer).enqueue(
        func, str(marker), job_id="evil-json")
    run_jobs()
    assert not marker.exists()
    assert job.id in failed_ids(app, "gather")


CALLBACK_MARKERS: list[str] = []


def record_callback(job, *args) -> None:
    """A "callback" an attacker names in a job's hash: any callable RQ would import."""
    CALLBACK_MARKERS.append(job.id)


@pytest.mark.parametrize(("func", "callback"), [
    ("workers.jobs.send_email", "success_callback_name"),  # a real job that succeeds
    ("os.getcwd", "failure_callback_name"),  # refused, so it fails: the failure callback
])
def test_a_callback_named_in_redis_is_never_called(app, run_jobs, redis_url, callback, func):
    """RQ imports and calls a job's callbacks by the dotted names stored with the job, beside
    its function: they must be held to the same rule (dsar's jobs use none). The stopped
    callback is refused by the same code."""
    CALLBACK_MARKERS.clear()
    attacker = Redis.from_url(redis_url)
    Queue("mail", connection=attacker, serializer=JSONSerializer).enqueue(
        func, 0, job_id="evil-callback")
    attacker.hset("rq:job:evil-callback", callback,
                  f"{__name__}.record_callback")
    run_jobs()
    assert CALLBACK_MARKERS == []


def test_jobs_and_their_results_are_stored_as_json(app, client, run_jobs, redis_url):
    post_form(client, "/request/access", access_form())
    with app.app_context():
        outbound_id = db.session.scalars(select(OutboundEmail.id)).one()
    raw = Redis.from_url(redis_url).hget(f"rq:job:{pipeline.mail_job_id(outbound_id)}", "data")
    assert json.loads(zlib.decompress(raw)) == ["workers.jobs.send_email", None,
                                                [outbound_id], {}]
    assert run_jobs() == 0
    with app.app_context():
        job = pipeline.fetch_job(pipeline.mail_job_id(outbound_id))
        assert job is not None and job.return_value() is True
        assert pipeline.job_status(pipeline.mail_job_id(outbound_id)) == "finished"


def test_the_periodic_jobs_are_queued_as_json_and_run(app, run_jobs, redis_url):
    from rq.utils import import_attribute

    from dsar.pipeline.periodic import PERIODIC_JOBS

    with app.app_context():
        cron = cron_scheduler("test")
        for periodic in PERIODIC_JOBS:
            cron.register(import_attribute(periodic.func), queue_name=periodic.queue,
                          interval=periodic.interval_seconds(app.config), name=periodic.name)
        assert len(cron.enqueue_jobs()) == len(PERIODIC_JOBS)
        ids = pipeline.get_queue("maintenance").job_ids
    redis = Redis.from_url(redis_url)
    names = {json.loads(zlib.decompress(redis.hget(f"rq:job:{i}", "data")))[0] for i in ids}
    assert names == {p.func for p in PERIODIC_JOBS}
    assert run_jobs() == 0


def test_a_failed_mail_is_retried_through_rqs_scheduler(app, client, run_jobs, smtp_server):
    """RQ's retry path (the job goes to the scheduled registry, the worker's scheduler puts it
    back on its queue) reads and writes JSON too."""
    port, app.config["SMTP_PORT"] = app.config["SMTP_PORT"], 1  # nothing listens on 1
    post_form(client, "/request/access", access_form())
    run_jobs()
    app.config["SMTP_PORT"] = port
    with app.app_context():
        registry = pipeline.get_queue("mail").scheduled_job_registry
        (job_id,) = registry.get_job_ids()
        registry.schedule(pipeline.fetch_job(job_id), datetime.now(UTC) - timedelta(seconds=1))
        make_worker(pipeline.QUEUES, fork=False).work(burst=True, with_scheduler=True)
    outbound = pending_mail(app)
    assert outbound.status is MailStatus.SENT and outbound.attempts == 2
    assert [m["To"] for m in smtp_server.messages()] == [access_form()["email"]]


# --------------------------------------------------------------------------- Redis access


@pytest.fixture(scope="module")
def locked_redis(tmp_path_factory):
    """A redis-server that requires ``PASSWORD``; yields its port."""
    port = free_port()
    with redis_server(tmp_path_factory.mktemp("locked-redis"),
                      f"port {port}\nbind 127.0.0.1\nrequirepass \"{PASSWORD}\"\n",
                      Redis(port=port, password=PASSWORD)):
        yield port


def test_a_redis_password_in_the_url_is_used(app, locked_redis, database_url, key_file,
                                             smtp_server, tmp_path, redis_url):
    locked = app_on(f"redis://:{PASSWORD}@127.0.0.1:{locked_redis}/0", database_url,
                    key_file, smtp_server, tmp_path, redis_url)
    try:
        post_form(locked.test_client(), "/request/access", access_form())
        assert run_queued_jobs(locked) == 0
        assert pending_mail(locked).status is MailStatus.SENT
        assert [m["To"] for m in smtp_server.messages()] == [access_form()["email"]]
    finally:
        Redis(port=locked_redis, password=PASSWORD).flushdb()
        with locked.app_context():
            db.engine.dispose()


@pytest.mark.parametrize("credentials", ["", ":wrong-password@"])
def test_without_the_redis_password_work_waits_for_the_sweep(
        app, locked_redis, database_url, key_file, smtp_server, tmp_path, caplog, credentials):
    url = f"redis://{credentials}127.0.0.1:{locked_redis}/0"
    # The rate limits use the same URL, as they do by default.
    refused = app_on(url, database_url, key_file, smtp_server, tmp_path, url)
    try:
        response = post_form(refused.test_client(), "/request/access", access_form())
        assert response.status_code in (200, 302)  # the request is taken, no error page
        outbound = pending_mail(refused)
        assert outbound.status is MailStatus.PENDING
        with refused.app_context():
            assert pipeline.enqueue_email(outbound.id) is False
        assert Redis(port=locked_redis, password=PASSWORD).dbsize() == 0
        assert "could not enqueue" in caplog.text and "wrong-password" not in caplog.text
    finally:
        with refused.app_context():
            db.engine.dispose()


def test_the_worker_never_logs_the_redis_password(app, locked_redis, database_url, key_file,
                                                  smtp_server, tmp_path, redis_url):
    locked = app_on(f"redis://:{PASSWORD}@127.0.0.1:{locked_redis}/0", database_url,
                    key_file, smtp_server, tmp_path, redis_url)
    post_form(locked.test_client(), "/request/access", access_form())
    with locked.app_context():
        db.engine.dispose()
    env = {**os.environ, "DSAR_DATABASE_URL": database_url, "DSAR_MASTER_KEY_FILE": key_file,
           "DSAR_REDIS_URL": f"redis://:{PASSWORD}@127.0.0.1:{locked_redis}/0",
           "DSAR_SMTP_PORT": str(smtp_server.port), "DSAR_LOG_LEVEL": "DEBUG",
           "DSAR_STORAGE_DIR": str(tmp_path / "storage"),
           "DSAR_SOURCES_FILE": str(tmp_path / "sources.toml"),
           "DSAR_REGISTER_FILE": str(tmp_path / "register.toml")}
    result = subprocess.run([sys.executable, "-m", "dsar", "worker", "--burst"], env=env,
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [m["To"] for m in smtp_server.messages()] == [access_form()["email"]]
    assert "Listening on" in result.stdout + result.stderr  # the worker did log
    assert PASSWORD not in result.stdout + result.stderr


def test_redis_over_tls_with_a_private_ca(app, database_url, key_file, smtp_server, tmp_path,
                                          redis_url):
    pki = make_pki(tmp_path / "pki")
    with tls_redis_server(pki, tmp_path / "tls-redis", PASSWORD) as port:
        url = f"rediss://:{PASSWORD}@localhost:{port}/0"
        trusting = app_on(url, database_url, key_file, smtp_server, tmp_path, redis_url,
                          REDIS_CA_FILE=str(pki.ca_file))
        post_form(trusting.test_client(), "/request/access", access_form())
        assert run_queued_jobs(trusting) == 0
        assert pending_mail(trusting).status is MailStatus.SENT
        # Without the CA, the server's certificate is refused: nothing is queued.
        untrusting = app_on(url, database_url, key_file, smtp_server, tmp_path, redis_url)
        with untrusting.app_context():
            assert pipeline.enqueue_email(pending_mail(trusting).id) is False
        for each in (trusting, untrusting):
            with each.app_context():
                db.engine.dispose()


# --------------------------------------------------------------------------- the demo's Redis


def test_the_demo_redis_has_a_random_password_kept_off_the_command_line(tmp_path):
    from dsar.demo.runner import start_redis

    process, url = start_redis(tmp_path / "redis", free_port())
    try:
        password = Redis.from_url(url).connection_pool.connection_kwargs["password"]
        assert len(password) >= 32
        conf = next((tmp_path / "redis").glob("*.conf"))
        assert conf.stat().st_mode & 0o777 == 0o600
        cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes().decode()
        assert password not in cmdline
        assert Redis.from_url(url).ping()
        port = Redis.from_url(url).connection_pool.connection_kwargs["port"]
        with pytest.raises((AuthenticationError, ResponseError)):
            Redis(port=port).set("x", 1)
        other, other_url = start_redis(tmp_path / "redis2", free_port())
        other.terminate()
        other.wait(timeout=10)
        assert other_url != url  # a new password at every start
    finally:
        process.terminate()
        process.wait(timeout=10)
