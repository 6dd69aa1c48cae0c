"""A running instance with cases at every stage, backed up with ``dsar backup`` and restored
with ``dsar restore`` into a new instance folder (the key copied there apart, as
docs/backup.md recommends), on SQLite or on a second PostgreSQL database."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from dsar import create_app
from dsar.cli import main
from dsar.extensions import db
from dsar.models import Case
from dsar.ops.archive import sign
from dsar.ops.backup import manifest_key
from dsar.paths import MIGRATIONS_DIR
from tests.support.app import app_config, dispose
from tests.support.casework import PDF, add_proof
from tests.support.delivery import ask_code, emailed_code, enter_code, latest_package, release
from tests.support.forms import access_form, path_of, post_form
from tests.support.gathering import EMAIL, start, verified_case
from tests.support.staff import make_case
from tests.support.workers import run_queued_jobs

#: The requester who filed but has not confirmed yet, and the one in review.
WAITING = "attente.confirmation@example.fr"
IN_REVIEW = "paul.durand@example.fr"
#: The identity proof uploaded, not decided yet: a document only this test has.
PROOF = PDF + b"%% backup-test proof\n"


def instance_app(monkeypatch, folder: Path, database_url: str, redis_url: str, key_file,
                 smtp_port: int, **overrides):
    """An app whose instance folder is ``folder`` (its TOML files, storage folder there)."""
    monkeypatch.setenv("DSAR_INSTANCE_PATH", str(folder))
    config = app_config(database_url, redis_url, str(key_file), folder / "storage", smtp_port)
    config.update(GATHER_RETRY_INTERVALS=[], **overrides)
    try:
        return create_app(config)
    finally:
        monkeypatch.delenv("DSAR_INSTANCE_PATH")


@dataclass
class World:
    """What the instance held when it was backed up, to find again after the restore."""

    waiting_confirm_path: str
    proof_case_id: int
    proof_blob_id: str
    review_case_id: int
    released_reference: str
    released_status_path: str
    package_sha256: str
    audit_line: str = ""


def populate(app, smtp_server) -> World:
    """Cases at every stage, through the real pages and workers: filed and awaiting its
    confirmation; confirmed with an identity proof not yet decided; searched and in review;
    released, its package downloaded with a code."""
    post_form(app.test_client(), "/request/access", access_form(email=WAITING))
    assert run_queued_jobs(app) == 0
    confirm = next(u for u in smtp_server.links(smtp_server.last_to(WAITING)) if "/confirm/" in u)

    proof_case = make_case(app, email="preuve.en.attente@example.fr")
    _, proof_blob = add_proof(app, proof_case.id, PROOF)

    released = verified_case(app, EMAIL)
    start(app, released.id)
    assert run_queued_jobs(app) == 0
    assert release(app, released).status_code == 302
    assert run_queued_jobs(app) == 0
    ready = smtp_server.last_to(EMAIL)
    status_path = path_of(next(u for u in smtp_server.links(ready) if "/status/" in u))
    browser = app.test_client()
    assert browser.get(status_path).status_code == 302
    assert ask_code(browser, released.reference).status_code == 302
    download = enter_code(browser, released.reference, emailed_code(app, smtp_server))
    assert download.status_code == 200 and download.mimetype == "application/zip"

    in_review = verified_case(app, IN_REVIEW)
    start(app, in_review.id)
    assert run_queued_jobs(app) == 0
    return World(path_of(confirm), proof_case.id, proof_blob, in_review.id, released.reference,
                 status_path, latest_package(app, released.id).sha256)


def cli(app, *args: str):
    """``dsar ARGS`` run by click against ``app`` (``.stdout`` and ``.stderr`` apart)."""
    return app.test_cli_runner().invoke(main, list(args))


def back_up(app, out: Path, *extra: str) -> Path:
    """``dsar backup --output OUT``; returns the archive it wrote."""
    out.mkdir(exist_ok=True)
    result = cli(app, "backup", "--output", str(out), *extra)
    assert result.exit_code == 0, result.output
    [archive] = out.glob("dsar-backup-*.tar")
    return archive


def new_instance(folder: Path, key_file) -> Path:
    """A new instance folder holding only the master key, copied apart from the archive."""
    folder.mkdir()
    shutil.copyfile(key_file, folder / "dsar.key")
    os.chmod(folder / "dsar.key", 0o600)
    return folder


def count_cases(app) -> int:
    """How many cases the app's database holds (0 if it has no schema)."""
    with app.app_context():
        from sqlalchemy import inspect

        if not inspect(db.engine).has_table("cases"):
            return 0
        return db.session.scalar(select(func.count()).select_from(Case))


def flip_byte(archive: Path, member: str, at: int = 100) -> None:
    """Change one byte of ``member``'s data inside the archive (its sum no longer matches)."""
    with tarfile.open(archive) as tar:
        offset = tar.getmember(member).offset_data + at
    with open(archive, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0x01]))


@contextmanager
def restore_database(database_url: str, folder: Path):
    """The restore target's database URL: a SQLite file in ``folder``, or (PostgreSQL) a
    second database ``<name>_restore`` made empty through the admin database with the same
    credentials, dropped afterwards."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        yield f"sqlite:///{folder / 'dsar.sqlite3'}"
        return
    name = f"{url.database}_restore"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield url.set(database=name).render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def manifest_of(archive: Path) -> dict:
    """The manifest of an archive."""
    with tarfile.open(archive) as tar:
        return json.loads(tar.extractfile("manifest.json").read())


def forge(archive: Path, target: Path, *, replace: dict[str, bytes] | None = None,
          sign_with=None, **changes) -> None:
    """A copy of ``archive`` with members replaced (``replace``: name → new content) and the
    manifest saying ``changes``, its sums recomputed to match, as a forger would. Signed
    under the master key file ``sign_with``, or else keeping the original manifest.hmac."""
    replace = replace or {}
    with tarfile.open(archive) as src, tarfile.open(target, "w") as out:
        for member in src:
            data = replace.get(member.name, src.extractfile(member).read())
            if member.name == "manifest.json":
                manifest = dict(json.loads(data), **changes)
                for entry in manifest["files"]:
                    if entry["path"] in replace:
                        entry["size"] = len(replace[entry["path"]])
                        entry["sha256"] = hashlib.sha256(replace[entry["path"]]).hexdigest()
                data = json.dumps(manifest).encode()
                signature = sign(data, manifest_key(sign_with)).encode() if sign_with else None
            elif member.name == "manifest.hmac" and signature is not None:
                data = signature
            member.size = len(data)
            out.addfile(member, io.BytesIO(data))


def last_two_migrations() -> tuple[str, str]:
    """This code's head migration and the one before it."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    script = ScriptDirectory.from_config(config)
    head = script.get_current_head()
    return head, script.get_revision(head).down_revision


def running_source(org, app, database_url, redis_url, key_file, smtp_server, monkeypatch):
    """The running instance: its folder is ``org`` (sources.toml, register.toml, storage/)."""
    running = instance_app(monkeypatch, org, database_url, redis_url, key_file, smtp_server.port)
    yield running
    dispose(running)


class Target:
    """A new instance folder (the key copied in) and its own, empty database."""

    def __init__(self, folder, url, monkeypatch, redis_url, smtp_port):
        self.folder, self.url = folder, url
        self._env = (monkeypatch, redis_url, smtp_port)
        self.apps = []
        self.overrides: dict = {}  # settings of the new instance beyond the test defaults

    def app(self, key_name: str = "dsar.key"):
        """An app of the new instance, as the operator starts it (again after the restore)."""
        monkeypatch, redis_url, smtp_port = self._env
        made = instance_app(monkeypatch, self.folder, self.url, redis_url,
                            self.folder / key_name, smtp_port, **self.overrides)
        self.apps.append(made)
        return made


def restore_target(tmp_path, database_url, key_file, redis_url, smtp_server, monkeypatch):
    """Where the archive is restored: another folder, another database."""
    folder = new_instance(tmp_path / "restored", key_file)
    with restore_database(database_url, folder) as url:
        made = Target(folder, url, monkeypatch, redis_url, smtp_server.port)
        yield made
        for each in made.apps:
            dispose(each)


def a_case_with_a_proof(app) -> str:
    """A case with an identity proof stored; returns the proof's blob id."""
    case = make_case(app, email="preuve@example.fr")
    return add_proof(app, case.id, PROOF)[1]
