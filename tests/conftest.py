"""Test fixtures: a real redis-server, a real SMTP server (in-process), SQLite or PostgreSQL.

Set ``DSAR_TEST_DATABASE_URL`` to run the suite on PostgreSQL, ``DSAR_TEST_REDIS_URL`` to use
a running Redis instead of starting one.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from redis import Redis
from sqlalchemy import text

from dsar import create_app
from dsar.core.keys import create_master_key
from dsar.demo.mailcatcher import read_messages, start_catcher
from dsar.extensions import db


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_redis(client: Redis, process: subprocess.Popen) -> None:
    """Wait until the redis-server just started answers ``client`` (5 s at most)."""
    for _ in range(100):
        try:
            client.ping()
            return
        except Exception:
            time.sleep(0.05)
    process.kill()
    pytest.fail("redis-server did not start")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """A real redis-server for the whole run."""
    if os.environ.get("DSAR_TEST_REDIS_URL"):
        yield os.environ["DSAR_TEST_REDIS_URL"]
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (scripts/test installs it)")
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
    )
    wait_for_redis(Redis(port=port), process)
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    return os.environ.get("DSAR_TEST_DATABASE_URL") or (
        f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
    )


class Mailbox:
    """The messages a real SMTP server (aiosmtpd, in-process) received."""

    def __init__(self, directory: Path, port: int):
        self.directory = directory
        self.port = port

    def messages(self):
        return read_messages(self.directory)

    def clear(self) -> None:
        for sub in ("new", "cur", "tmp"):
            for path in (self.directory / sub).glob("*"):
                path.unlink()

    def last_to(self, address: str):
        matching = [m for m in self.messages() if m["To"] == address]
        assert matching, f"no e-mail to {address}"
        return matching[-1]

    @staticmethod
    def links(message) -> list[str]:
        body = message.get_body(preferencelist=("plain",)).get_content()
        return re.findall(r"https?://\S+", body)


@pytest.fixture(scope="session")
def smtp_server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("mail")
    port = free_port()
    controller = start_catcher(directory, port=port)
    yield Mailbox(directory, port)
    controller.stop()


@pytest.fixture(scope="session")
def key_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("keys") / "dsar.key"
    create_master_key(path)
    return str(path)


@pytest.fixture(scope="session")
def _schema(database_url, redis_url, key_file, tmp_path_factory):
    """Create the schema once per run (from the migrations: they are what production runs)."""
    from flask_migrate import upgrade

    app = create_app(_config(database_url, redis_url, key_file, tmp_path_factory.mktemp("s"), 1))
    with app.app_context():
        db.drop_all()
        with db.engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        upgrade()
        _start_audit_chain(app)
        db.engine.dispose()  # after the head is written: no pooled connection outlives this


def _config(database_url, redis_url, key_file, storage, smtp_port) -> dict:
    return {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "RATELIMIT_STORAGE_URI": redis_url,
        "MASTER_KEY_FILE": key_file,
        "STORAGE_DIR": str(storage),
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": smtp_port,
        "BASE_URL": "http://localhost",
        "ORGANISATION_NAME": "Organisation de test",
        "DPO_EMAIL": "dpo@test.example",
        "MAIL_FROM": "dsar@test.example",
        # No sources unless a test declares some (instance/ may hold the demo's).
        "SOURCES_FILE": str(Path(storage).parent / "sources.toml"),
        "REGISTER_FILE": str(Path(storage).parent / "register.toml"),
    }


@pytest.fixture
def app(_schema, database_url, redis_url, key_file, smtp_server, tmp_path):
    app = create_app(_config(database_url, redis_url, key_file, tmp_path / "storage",
                             smtp_server.port))
    yield app
    reset_state(app, redis_url, smtp_server)


def _start_audit_chain(app) -> None:
    """The signed empty head ``dsar init`` writes on a new database: every test starts from
    a deployment's state."""
    from dsar.core.audit import start_chain

    with app.app_context():
        start_chain()
        db.session.commit()
        db.session.remove()


def reset_state(app, redis_url: str, smtp_server: Mailbox) -> None:
    """Empty every table, Redis and the mailbox after a test."""
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
        _start_audit_chain(app)
        db.engine.dispose()
    Redis.from_url(redis_url).flushdb()
    smtp_server.clear()


def run_queued_jobs(app) -> int:
    """Run every queued job with a real RQ worker on the real Redis until the queues are empty
    (``burst``); returns the number of jobs that failed."""
    from rq.registry import FailedJobRegistry

    from dsar.pipeline import QUEUES, get_queue
    from dsar.pipeline.worker import make_worker
    from workers.app import set_app

    set_app(app)
    with app.app_context():
        make_worker(QUEUES, fork=False).work(burst=True)  # the app's serializer and job class
        return sum(FailedJobRegistry(queue=get_queue(name)).count for name in QUEUES)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def run_jobs(app):
    """``run_jobs()`` runs the queued jobs of ``app`` (see ``run_queued_jobs``)."""
    return lambda: run_queued_jobs(app)


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory):
    """The demo organisation's files, generated once per test module."""
    from tests.export_helpers import make_demo_data

    return make_demo_data(tmp_path_factory)


@pytest.fixture
def demo(demo_data, tmp_path, monkeypatch, app, database_url, redis_url, key_file, smtp_server):
    """The demo organisation's app (``app`` is requested for its clean-up)."""
    from tests.export_helpers import demo_app

    with demo_app(demo_data, tmp_path, monkeypatch, database_url, redis_url, key_file,
                  smtp_server) as gapp:
        yield gapp
