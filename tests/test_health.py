"""``/healthz`` and ``/readyz`` as a load balancer or a monitor reads them: real workers, a real
Redis stopped under the app, a database that does not answer. Neither says anything about a
person, nor a password."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dsar import create_app
from dsar.pipeline import QUEUES
from tests.support.app import app_config, dispose
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
