"""``dsar doctor`` run as an operator runs it (the real command, in its own process, reading
``DSAR_*`` settings) on a deployment set up as docs/deploy.md says — PostgreSQL at the latest
migration, https, a Redis that demands a password, SMTP over verified TLS, the key 0600 outside
the storage, real workers on every queue and a real scheduler — and on one that gets each of
those wrong."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from redis import Redis

from dsar import create_app
from dsar.ops.checks import check_storage
from dsar.ops.doctor import check_redis_password, check_smtp
from dsar.pipeline import QUEUES
from tests.support.app import app_config, dispose
from tests.support.backup_world import restore_database
from tests.support.fault_harness import Processes, wait_for
from tests.support.gathering import SHOP_SOURCE, build_databases, write_config
from tests.support.ops_env import dsar_env
from tests.support.ports import free_port
from tests.support.redis_auth import redis_with_password
from tests.support.redis_server import redis_server
from tests.support.tls_servers import tls_smtp_server

#: Every line of the doctor, in its order.
CHECKS = ["base URL", "cookies", "database", "migrations", "redis", "redis password", "smtp",
          "master key", "storage", *(f"worker:{q}" for q in QUEUES), "scheduler", "sources"]


def run_doctor(env: dict[str, str], cwd: Path, *args: str) -> tuple[int, dict, str]:
    """``dsar doctor`` in its own process: its exit status, its lines by check name
    (status word, message), and its whole output."""
    done = subprocess.run([sys.executable, "-m", "dsar", "doctor", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)
    lines = {}
    for line in done.stdout.splitlines():
        status, _, rest = line.partition(" ")
        if status in ("OK", "WARN", "FAULT"):
            name = next(n for n in sorted(CHECKS, key=len, reverse=True)
                        if rest.strip().startswith(n + "  "))
            lines[name] = (status, rest.strip()[len(name):].strip())
    return done.returncode, lines, done.stdout + done.stderr


def instance_with_a_source(folder: Path) -> dict[str, str]:
    """A valid sources.toml and register.toml (one SQLite shop) in ``folder``."""
    build_databases(folder)
    write_config(folder, {"shop": SHOP_SOURCE})
    return {"SOURCES_FILE": str(folder / "sources.toml"),
            "REGISTER_FILE": str(folder / "register.toml")}


@pytest.mark.skipif(not os.environ.get("DSAR_TEST_DATABASE_URL", "").startswith("postgresql"),
                    reason="a good deployment runs on PostgreSQL (DSAR_TEST_DATABASE_URL)")
def test_a_good_deployment_passes_every_check(app, database_url, key_file, pki, tmp_path):
    """Every line OK, exit status 0 (``app``: the schema migrated, and the tables emptied
    afterwards of whatever the periodic jobs wrote)."""
    storage = tmp_path / "storage"
    storage.mkdir(mode=0o700)
    assert oct(Path(key_file).stat().st_mode & 0o777) == "0o600"  # as `dsar init` writes it
    with redis_with_password(tmp_path / "redis") as redis, \
            tls_smtp_server(pki, tmp_path / "mail", implicit=False) as smtp:
        config = {"DATABASE_URL": database_url, "REDIS_URL": redis.url,
                  "MASTER_KEY_FILE": key_file, "STORAGE_DIR": str(storage),
                  "BASE_URL": "https://dsar.example.org", "SMTP_HOST": "127.0.0.1",
                  "SMTP_PORT": smtp.port, **instance_with_a_source(tmp_path)}
        env = dsar_env(config, str(tmp_path / "instance"), SMTP_STARTTLS=True,
                       SMTP_CA_FILE=str(pki.ca_file))
        (tmp_path / "logs").mkdir()
        processes = Processes(env, tmp_path / "logs")
        client = redis.client()
        try:
            processes.start("worker", "--queues", "mail,maintenance,default")
            processes.start("worker", "--queues", "gather,build")
            processes.start("scheduler")
            wait_for(lambda: all(client.scard(f"rq:workers:{q}") for q in QUEUES)
                     and client.zcard("rq:cron_schedulers"), 60,
                     "the workers and the scheduler to register", details=processes.log_tail)
            status, lines, output = run_doctor(env, tmp_path)
        finally:
            processes.close()
            client.close()
    assert status == 0, output
    assert list(lines) == CHECKS, output
    assert all(word == "OK" for word, _ in lines.values()), output
    assert "All 16 checks passed." in output
    assert lines["base URL"][1] == "https://dsar.example.org is https"
    assert lines["database"][1].startswith("PostgreSQL 15")
    assert lines["smtp"][1] == f"STARTTLS to 127.0.0.1:{smtp.port}, certificate verified"
    assert lines["sources"][1] == "1 source (shop) and 1 processing entry, both files valid"
    assert redis.password not in output


def test_a_bad_deployment_is_told_each_fault(key_file, smtp_server, tmp_path):
    """http, SQLite a migration behind, the key readable by all and inside the storage, no
    worker, no scheduler: each fault on its own line, in plain words, and the exit status says
    the deployment is not ready. A Redis without a password and SMTP in clear, both on this
    machine (loopback), are warnings saying what to check."""
    from flask_migrate import upgrade

    storage = tmp_path / "storage"
    storage.mkdir(mode=0o700)
    exposed_key = storage / "dsar.key"  # world-readable, and inside the storage folder
    shutil.copy(key_file, exposed_key)
    exposed_key.chmod(0o644)
    database_url = f"sqlite:///{tmp_path / 'dsar.sqlite3'}"
    port = free_port()
    with redis_server(tmp_path / "redis", f"port {port}\nbind 127.0.0.1\n", Redis(port=port)):
        redis_url = f"redis://127.0.0.1:{port}/0"
        app = create_app(app_config(database_url, redis_url, str(exposed_key), storage,
                                    smtp_server.port))
        with app.app_context():
            upgrade(revision=older_revision())
        dispose(app)
        config = {**app.config, "BASE_URL": "http://dsar.example.org",
                  "SMTP_HOST": "127.0.0.1"}
        status, lines, output = run_doctor(dsar_env(config, str(tmp_path / "instance")),
                                           tmp_path)
    assert status == 1, output
    assert list(lines) == CHECKS, output
    expected = {
        "base URL": ("FAULT", "BASE_URL http://dsar.example.org is not https"),
        "cookies": ("FAULT", "session cookies are not Secure"),
        "database": ("FAULT", "SQLite answers, but it is the demo's database"),
        "migrations": ("FAULT", f"schema at {older_revision()}, behind this version's"),
        "redis": ("OK", f"Redis at 127.0.0.1:{port}/0 answers"),
        "redis password": ("WARN", f"Redis at 127.0.0.1:{port}/0 answers without a password; "
                                   "reached over loopback"),
        "smtp": ("WARN", f"SMTP to 127.0.0.1:{smtp_server.port} without TLS: a relay on this "
                         "machine answers"),
        "master key": ("FAULT", f"{exposed_key}: its mode is 0644, other accounts on this "
                                "machine can read it"),
        "storage": ("OK", f"writable (local folder {storage})"),
        **{f"worker:{q}": ("FAULT", "no worker seen within a minute") for q in QUEUES
           if q != "default"},
        "worker:default": ("OK", "no worker, and nothing waits there"),
        "scheduler": ("FAULT", "no scheduler seen within 90 s"),
        "sources": ("WARN", "no source declared"),
    }
    for name, (word, start) in expected.items():
        assert lines[name][0] == word and lines[name][1].startswith(start), (name, output)
    assert "inside the storage folder" in lines["master key"][1]
    assert "requirepass" in lines["redis password"][1]
    assert "smtp_tls_security_level" in lines["smtp"][1]
    assert "10 of 16 checks failed, 3 warnings: this deployment is not ready" in output


def test_the_doctor_says_its_findings_as_json(key_file, smtp_server, redis_url, tmp_path):
    """``--json``: the same checks for a monitoring script; here a database that does not
    answer, said without the password of its URL."""
    import json

    password = "Not-To-Be-Printed-42"
    config = {"DATABASE_URL": f"postgresql+psycopg://dsar:{password}@127.0.0.1:{free_port()}/x",
              "REDIS_URL": redis_url, "MASTER_KEY_FILE": key_file,
              "STORAGE_DIR": str(tmp_path / "storage"), "SMTP_PORT": smtp_server.port,
              "BASE_URL": "https://dsar.example.org", **instance_with_a_source(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "dsar", "doctor", "--json"], cwd=tmp_path,
                          env=dsar_env(config, str(tmp_path / "instance")),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert report["ok"] is False and list(checks) == CHECKS
    assert checks["database"]["status"] == "fault"
    assert checks["database"]["message"].startswith("the database does not answer")
    assert checks["migrations"]["status"] == "fault"
    assert checks["base URL"]["status"] == checks["sources"]["status"] == "ok"
    assert password not in done.stdout + done.stderr


def test_invalid_sources_stop_the_doctor_naming_the_file(key_file, redis_url, tmp_path):
    """The app refuses invalid sources before any check can run: the doctor exits non-zero
    naming the file and the fault, as every ``dsar`` command does."""
    (tmp_path / "sources.toml").write_text('[sources.shop]\nkind = "mainframe"\n')
    config = {"DATABASE_URL": f"sqlite:///{tmp_path / 'dsar.sqlite3'}", "REDIS_URL": redis_url,
              "MASTER_KEY_FILE": key_file, "SOURCES_FILE": str(tmp_path / "sources.toml"),
              "REGISTER_FILE": str(tmp_path / "register.toml")}
    status, lines, output = run_doctor(dsar_env(config, str(tmp_path / "instance")), tmp_path)
    assert status == 2 and lines == {}, output
    assert f"Error: {tmp_path / 'sources.toml'}" in output and "mainframe" in output


def test_an_smtp_certificate_not_trusted_is_a_fault(pki, tmp_path):
    """TLS is asked for, but the server's certificate comes from a CA nobody told dsar to
    trust: a fault naming the certificate, as the e-mails would fail."""
    with tls_smtp_server(pki, tmp_path / "mail", implicit=True) as smtp:
        config = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": smtp.port, "SMTP_SSL": True,
                  "SMTP_TIMEOUT": 5}
        refused = check_smtp(config)
        trusted = check_smtp({**config, "SMTP_CA_FILE": str(pki.ca_file)})
    assert refused.status == "fault"
    assert refused.message.startswith(f"the certificate of 127.0.0.1:{smtp.port} was refused")
    assert "SMTP_CA_FILE" in refused.message
    assert (trusted.status, trusted.message) == (
        "ok", f"implicit TLS to 127.0.0.1:{smtp.port}, certificate verified")


def test_smtp_in_clear_is_a_fault_unless_to_a_relay_on_this_machine(smtp_server):
    """Without TLS: a fault to another host (the e-mails would cross the network in clear);
    a warning to a relay answering on loopback; a fault if nothing answers there."""
    plain = {"SMTP_PORT": smtp_server.port, "SMTP_TIMEOUT": 5}
    remote = check_smtp({**plain, "SMTP_HOST": "smtp.example.org"})
    assert remote.status == "fault"
    assert remote.message.startswith(f"SMTP to smtp.example.org:{smtp_server.port} without TLS")
    for host in ("127.0.0.1", "localhost"):
        local = check_smtp({**plain, "SMTP_HOST": host})
        assert local.status == "warn", local
        assert "loopback traffic does not cross the network" in local.message
    nothing = check_smtp({**plain, "SMTP_HOST": "127.0.0.1", "SMTP_PORT": free_port()})
    assert nothing.status == "fault"
    assert nothing.message.startswith("cannot talk with the relay at 127.0.0.1:")


def an_address_of_this_machine() -> str | None:
    """An IPv4 address of this machine that is not loopback (None if it has none): the one
    its default route leaves from (a UDP "connection" sends nothing)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))
        address = probe.getsockname()[0]
    except OSError:
        return None
    finally:
        probe.close()
    return None if address.startswith("127.") else address


def redis_password_line(redis_url, database_url, key_file, smtp_server, tmp_path):
    """``dsar doctor``'s "redis password" line for an app whose REDIS_URL is ``redis_url``
    (the rate limits kept in memory: their library spells a unix socket ``redis+unix://``)."""
    app = create_app({**app_config(database_url, redis_url, key_file, tmp_path / "storage",
                                   smtp_server.port), "RATELIMIT_STORAGE_URI": "memory://"})
    try:
        with app.app_context():
            return check_redis_password()
    finally:
        dispose(app)


def test_redis_without_a_password_is_a_fault_unless_on_this_machine(database_url, key_file,
                                                                    smtp_server, tmp_path):
    """A Redis without a password over a unix socket: a warning (only this machine's accounts
    reach it). The same Redis reached at one of the machine's network addresses: a fault."""
    sock = tmp_path / "r" / "redis.sock"
    with redis_server(tmp_path / "r", f"port 0\nunixsocket {sock}\nunixsocketperm 700\n",
                      Redis(unix_socket_path=str(sock))):
        local = redis_password_line(f"unix://{sock}?db=0", database_url, key_file,
                                    smtp_server, tmp_path)
    assert local.status == "warn", local
    assert local.message.startswith(f"Redis at {sock} answers without a password; reached "
                                    "over a unix socket")
    address = an_address_of_this_machine()
    if address is None:
        pytest.skip("this machine has no address but loopback")
    port = free_port()
    with redis_server(tmp_path / "n", f"port {port}\nbind {address}\nprotected-mode no\n",
                      Redis(host=address, port=port)):
        remote = redis_password_line(f"redis://{address}:{port}/0", database_url, key_file,
                                     smtp_server, tmp_path)
    assert remote.status == "fault", remote
    assert remote.message.startswith(f"Redis at {address}:{port}/0 answers without a password:")


@pytest.mark.skipif(not os.environ.get("DSAR_TEST_DATABASE_URL", "").startswith("postgresql"),
                    reason="blobs in the database need PostgreSQL (DSAR_TEST_DATABASE_URL)")
def test_the_storage_fault_is_said_in_one_line(database_url, key_file, smtp_server, redis_url,
                                               tmp_path):
    """Blobs kept in a database that has no ``blob_chunks`` table (not migrated): the storage
    line says so in one line, without the SQL statement the driver's report carries."""
    with restore_database(database_url, tmp_path) as empty:
        app = create_app({**app_config(empty, redis_url, key_file, tmp_path / "storage",
                                       smtp_server.port), "STORAGE_URL": "database:"})
        try:
            with app.app_context():
                line = check_storage()
        finally:
            dispose(app)
    assert line.status == "fault"
    assert line.message.startswith("cannot keep a blob: "), line.message
    assert "blob_chunks" in line.message
    assert "\n" not in line.message and "[SQL" not in line.message, line.message


def older_revision() -> str:
    """The migration before the latest one."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from dsar.paths import MIGRATIONS_DIR

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    script = ScriptDirectory.from_config(config)
    return script.get_revision(script.get_current_head()).down_revision
