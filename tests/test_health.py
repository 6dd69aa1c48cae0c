"""``/healthz`` and ``/readyz`` as a load balancer or a monitor reads them: real workers, a real
Redis stopped under the app, a database that does not answer. Neither says anything about a
person, nor a password."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from dsar import create_app
from dsar.ops import health
from dsar.ops.checks import PROBE_TIMEOUT
from dsar.pipeline import QUEUES
from tests.support.app import app_config, dispose
from tests.support.black_hole import black_hole
from tests.support.fault_harness import Processes, wait_for
from tests.support.forms import access_form, post_form
from tests.support.ops_env import dsar_env
from tests.support.ports import free_port
from tests.support.redis_auth import redis_with_password

#: What a worker's fault reads like on /readyz (the details are dsar doctor's).
NO_WORKER = "fault: no worker seen within a minute"


def readiness(client) -> tuple[int, dict]:
    """The status code and body of ``/readyz``."""
    response = client.get("/readyz")
    assert response.mimetype == "application/json"
    return response.status_code, response.get_json()


def timed_readiness(client) -> tuple[float, int, dict]:
    """How many seconds ``/readyz`` took to answer, its status code and body."""
    started = time.monotonic()
    status, body = readiness(client)
    return time.monotonic() - started, status, body


def assert_plain(body: dict) -> None:
    """The body is the documented shape: a status and a word per check, nothing else."""
    assert set(body) == {"status", "checks"}
    assert body["status"] in ("ready", "not ready")
    for name, outcome in body["checks"].items():
        assert outcome == "ok" or outcome.startswith("fault: "), (name, outcome)


def test_healthz_answers_without_the_database(redis_url, key_file, smtp_server, tmp_path):
    """The process is up: /healthz says so even while the database is unreachable (a
    database outage must not get every web server restarted); /readyz says what is wrong."""
    nowhere = f"postgresql+psycopg://dsar:dsar@127.0.0.1:{free_port()}/nothing"
    app = create_app(app_config(nowhere, redis_url, key_file, tmp_path / "storage",
                                smtp_server.port))
    try:
        client = app.test_client()
        response = client.get("/healthz")
        assert (response.status_code, response.get_data(as_text=True)) == (200, "ok\n")
        status, body = readiness(client)
        assert status == 503 and body["status"] == "not ready"
        assert body["checks"]["database"] == "fault: the database does not answer"
        assert body["checks"]["redis"] == "ok"
        assert_plain(body)
    finally:
        dispose(app)


def test_readyz_waits_for_a_worker_on_every_queue(app, client, tmp_path):
    """Without workers /readyz is 503 and names each queue left without one; once real
    workers serve every queue it is 200; when they stop, 503 again. A request filed meanwhile
    never shows in either body."""
    post_form(client, "/request/access", access_form())  # personal data in the database
    status, body = readiness(client)
    assert status == 503 and body["status"] == "not ready"
    for name in ("database", "redis", "storage"):
        assert body["checks"][name] == "ok", body
    for queue in ("mail", "gather", "build", "maintenance"):
        assert body["checks"][f"worker:{queue}"] == NO_WORKER, body
    # Nothing new is queued on "default": it needs no worker while it is empty.
    assert body["checks"]["worker:default"] == "ok"

    (tmp_path / "logs").mkdir()
    processes = Processes(dsar_env(app.config, str(tmp_path / "instance")), tmp_path / "logs")
    try:
        # Two workers sharing the queues, as a deployment groups them (docs/queue.md).
        processes.start("worker", "--queues", "mail,maintenance,default")
        processes.start("worker", "--queues", "gather,build")
        ready = wait_for(lambda: (r := readiness(client))[0] == 200 and r, 60,
                         "/readyz to answer 200", interval=0.25,
                         details=processes.log_tail)
        status, body = ready
        assert body == {"status": "ready",
                        "checks": {"database": "ok", "redis": "ok", "storage": "ok",
                                   **{f"worker:{q}": "ok" for q in QUEUES}}}
        text = client.get("/readyz").get_data(as_text=True) + client.get("/healthz").get_data(
            as_text=True)
        for value in access_form().values():
            if len(value) > 1:
                assert value not in text
    finally:
        processes.close()
    # A worker stopping cleanly removes itself at once (one killed, after the close's 5 s
    # grace, would drop out a minute after its last beat: hence the long deadline).
    status, body = wait_for(lambda: (r := readiness(client))[0] == 503 and r, 75,
                            "/readyz to answer 503 again", interval=0.25)
    assert body["checks"]["worker:mail"] == NO_WORKER
    assert body["checks"]["worker:gather"] == NO_WORKER


def test_readyz_says_redis_is_down_without_saying_its_password(app, database_url, key_file,
                                                               smtp_server, tmp_path):
    """A Redis with a password, stopped under a running app: /readyz turns 503 naming Redis,
    and neither the password nor where Redis runs is in the body."""
    with redis_with_password(tmp_path / "redis") as redis:
        locked = create_app(app_config(database_url, redis.url, key_file,
                                       tmp_path / "storage", smtp_server.port))
        try:
            client = locked.test_client()
            status, body = readiness(client)
            assert body["checks"]["redis"] == "ok"
            assert body["checks"]["worker:mail"] == NO_WORKER  # Redis read: no worker there
            redis.stop()
            status, body = wait_for(
                lambda: (r := readiness(client))[1]["checks"]["redis"] != "ok" and r, 10,
                "/readyz to see Redis down", interval=0.25)
            assert status == 503 and body["status"] == "not ready"
            assert body["checks"]["redis"] == "fault: Redis does not answer"
            assert body["checks"]["worker:mail"] == "fault: unknown: Redis does not answer"
            assert body["checks"]["database"] == "ok"
            assert_plain(body)
            raw = json.dumps(body)
            assert redis.password not in raw and str(redis.port) not in raw
            assert client.get("/healthz").status_code == 200
        finally:
            dispose(locked)


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_endpoints_are_not_cached_by_proxies(client, path):
    """A proxy or browser cache must never answer for the process: each poll reaches it."""
    assert client.get(path).headers["Cache-Control"] == "no-store"


def test_the_storage_is_probed_for_real(app, client, tmp_path):
    """A storage folder that cannot be written turns /readyz 503 naming the storage."""
    Path(app.config["STORAGE_DIR"]).parent.mkdir(parents=True, exist_ok=True)
    # A file where the folder should be: no blob can be written under it, even as root.
    Path(app.config["STORAGE_DIR"]).write_text("not a folder")
    status, body = readiness(client)
    assert status == 503
    assert body["checks"]["storage"] == "fault: the storage cannot keep a blob"


def test_readyz_answers_within_seconds_when_postgresql_never_answers(redis_url, key_file,
                                                                      smtp_server, tmp_path):
    """PostgreSQL's host accepts connections but never answers (hung, or a firewall swallowing
    its replies): /readyz says so within seconds, rather than holding a web worker for the
    minutes of a TCP timeout."""
    with black_hole() as port:
        app = create_app(app_config(f"postgresql+psycopg://dsar:dsar@127.0.0.1:{port}/dsar",
                                    redis_url, key_file, tmp_path / "storage",
                                    smtp_server.port))
        try:
            seconds, status, body = timed_readiness(app.test_client())
        finally:
            dispose(app)
    assert seconds < PROBE_TIMEOUT + 1.5, seconds
    assert status == 503 and body["checks"]["database"] == "fault: the database does not answer"
    assert body["checks"]["redis"] == "ok"
    assert_plain(body)


def test_readyz_answers_within_seconds_when_redis_never_answers(database_url, key_file,
                                                                 smtp_server, tmp_path, app):
    """The same for Redis: its probe neither waits for the app's long timeouts nor retries."""
    with black_hole() as port:
        hung = create_app(app_config(database_url, f"redis://127.0.0.1:{port}/0", key_file,
                                     tmp_path / "storage", smtp_server.port))
        try:
            seconds, status, body = timed_readiness(hung.test_client())
        finally:
            dispose(hung)
    assert seconds < PROBE_TIMEOUT + 1.5, seconds
    assert status == 503 and body["checks"]["redis"] == "fault: Redis does not answer"
    assert body["checks"]["database"] == "ok"
    assert_plain(body)


def test_requests_do_not_queue_behind_a_probe_that_hangs(redis_url, key_file, smtp_server,
                                                         tmp_path, monkeypatch):
    """While one request probes a database that never answers, the others are not held
    behind it: they answer within a second and a half, ``checking`` before any probe
    finished, then the last result."""
    with black_hole() as port:
        app = create_app(app_config(f"postgresql+psycopg://dsar:dsar@127.0.0.1:{port}/dsar",
                                    redis_url, key_file, tmp_path / "storage",
                                    smtp_server.port))
        probing = app.extensions["dsar_readiness"]._lock
        answers: list = []
        try:
            first = threading.Thread(target=lambda: answers.append(
                readiness(app.test_client())))
            first.start()
            wait_for(probing.locked, 5, "the first probe to start", interval=0.01)
            seconds, status, body = timed_readiness(app.test_client())
            assert seconds < 1.5, seconds
            assert (status, body) == (503, {"status": "checking", "checks": {}})
            first.join(15)
            assert answers and answers[0][0] == 503
            # Every request probes again now (no cache): one arriving meanwhile gets the last
            # result at once.
            monkeypatch.setattr(health, "CACHE_SECONDS", 0.0)
            second = threading.Thread(target=lambda: readiness(app.test_client()))
            second.start()
            wait_for(probing.locked, 5, "the second probe to start", interval=0.01)
            seconds, status, body = timed_readiness(app.test_client())
            second.join(15)
        finally:
            dispose(app)
    assert seconds < 1.5, seconds
    assert status == 503 and body == answers[0][1]
    assert body["checks"]["database"] == "fault: the database does not answer"
