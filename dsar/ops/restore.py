"""``dsar restore``: an archive of ``dsar backup`` brought back into a fresh instance
(docs/backup.md). Everything is checked before anything is touched: the manifest's HMAC under
the master key (the archive was made by an instance with this key and not altered since),
every member's SHA-256, the database and storage kinds, the migration revision (not newer than
this code), no table of another application in the database, no worker or scheduler running,
and, unless ``force``, an instance holding nothing beyond what ``dsar init`` writes."""

from __future__ import annotations

import hmac
import os
import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import func, inspect, select, text
from sqlalchemy.engine import make_url

from dsar.core.keys import MissingKeyError
from dsar.extensions import db
from dsar.models import blob_chunks  # noqa: F401 -- all tables in db.metadata
from dsar.ops import archive
from dsar.ops.archive import ArchiveError, ForgedManifest
from dsar.ops.backup import (
    BLOB_FILE,
    BackupError,
    database_kind,
    key_check,
    libpq_env,
    manifest_key,
    pg_tool,
    run_tool,
    storage_view,
)
from dsar.paths import MIGRATIONS_DIR


class RestoreRefused(Exception):
    """The archive cannot, or may not, be restored here; nothing was changed."""


@dataclass
class RestoreReport:
    """What :func:`restore` did."""

    database: str
    revision: str
    upgraded_to: str | None = None
    blobs: int = 0
    config_written: list[str] = field(default_factory=list)
    config_kept: list[str] = field(default_factory=list)
    #: Members not restored: config/config.py (code the app runs) unless asked for.
    config_skipped: list[str] = field(default_factory=list)
    key_installed: bool = False


@dataclass(frozen=True)
class _Plan:
    manifest: dict
    head: str
    install_key: bool
    key: bytes


def _head_and_check(revision: str | None) -> str:
    """This code's head revision; refuses an archive whose revision it does not know."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    script = ScriptDirectory.from_config(config)
    if not revision:
        raise RestoreRefused("the archive's database has no schema version")
    try:
        known = script.get_revision(revision)
    except CommandError:
        known = None
    if known is None:
        raise RestoreRefused(f"the archive's database is at migration {revision}, which this "
                             "version of dsar does not know: restore it with the version that "
                             "made it (or a newer one)")
    return script.get_current_head()


#: The tables a restore may drop and replace: dsar's own. Any other table in the database
#: belongs to someone else, and the restore refuses rather than drop or keep it unseen.
OWN_TABLES = frozenset(db.metadata.tables) | {"alembic_version"}
CONFIG_PY = "config/config.py"


def _table_names() -> set[str]:
    db.session.remove()
    return set(inspect(db.engine).get_table_names())


def _rows_held(tables: set[str]) -> list[str]:
    """dsar's tables holding rows beyond what ``dsar init`` writes (the schema version and the
    signed head of an empty audit chain), as ``"name (count)"``."""
    held = []
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            if table.name not in tables:
                continue
            query = select(func.count()).select_from(table)
            if table.name == "audit_head":
                query = query.where(table.c.last_event_id != 0)
            count = conn.execute(query).scalar()
            if count:
                held.append(f"{table.name} ({count})")
    return held


def _stored_files(root: Path | None) -> list[Path]:
    if root is None or not root.is_dir():
        return []
    return [p for p in root.rglob("*") if p.is_file()]


def _running_services() -> list[str]:
    """The workers (liveness keys) and the scheduler seen alive in this instance's Redis: a
    restore under their feet would mix their writes with the restored data. Nothing when
    Redis does not answer (no job can run then)."""
    from redis.exceptions import RedisError

    from dsar.ops.checks import OK, check_scheduler
    from dsar.pipeline.liveness import live_workers
    from dsar.pipeline.queues import redis_connection

    try:
        connection = redis_connection()
        running = [f"worker {name}" for name in live_workers(connection)]
    except RedisError:
        return []
    if check_scheduler(connection).status == OK:
        running.append("the scheduler")
    return running


def _archive_key(app: Flask, path: Path, work: Path) -> tuple[bytes, Path, bool]:
    """The key to check the archive's HMAC with, the key file it comes from, and whether that
    is the key the archive carries (the instance having none: it is then installed)."""
    key_file = Path(app.config["MASTER_KEY_FILE"])
    carried = not key_file.exists()
    if carried:
        data = archive.unverified_member(path, "key/dsar.key")
        if data is None:
            raise RestoreRefused(f"this instance has no master key and the archive holds "
                                 f"none: copy the key the archive was made with to {key_file} "
                                 "(mode 0600) first")
        key_file = work / "dsar.key"
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
    try:
        return manifest_key(key_file), key_file, carried
    except (MissingKeyError, ValueError) as exc:
        raise RestoreRefused(f"the master key file cannot be used ({exc})") from None


def check(app: Flask, path: Path, work: Path) -> tuple[dict, bytes, bool]:
    """The archive authenticated (manifest HMAC) then checked whole; returns its manifest, the
    manifest key and whether the key used is the one the archive carries."""
    key, key_file, carried = _archive_key(app, path, work)
    try:
        return archive.verify(path, key), key, carried
    except ForgedManifest as exc:
        # Only to say which fault is likelier; either way nothing is restored.
        claimed = str(exc.claimed.get("key_check", ""))
        if not carried and not hmac.compare_digest(claimed, key_check(key_file)):
            raise RestoreRefused(f"the master key {key_file} is not the key this archive was "
                                 "made with (or the archive was forged): nothing it holds "
                                 "could be read. Put the right key there (or remove that file "
                                 "if it protects nothing yet)") from None
        raise


def plan(app: Flask, path: Path, *, force: bool, work: Path) -> _Plan:
    """Every check, nothing changed: the archive authentic, whole and unaltered, made for this
    kind of database and storage, at a migration this code knows; no table of another
    application, no worker running; the instance fresh (unless ``force``)."""
    manifest, key, carried = check(app, path, work)
    target_kind = database_kind(app.config["DATABASE_URL"])
    if manifest.get("database") != target_kind:
        raise RestoreRefused(f"the archive holds a {manifest.get('database')} database; this "
                             f"instance uses {target_kind}")
    store = storage_view(app)
    if manifest.get("storage") != store.kind:
        raise RestoreRefused(f"the archive's blobs were kept in {manifest.get('storage')} "
                             f"storage; this instance uses {store.kind} (set STORAGE_URL as "
                             "the backed-up instance had it)")
    head = _head_and_check(manifest.get("alembic_revision"))
    tables = _table_names()
    foreign = sorted(tables - OWN_TABLES)
    if foreign:  # even with --force: they are not dsar's to drop
        raise RestoreRefused(f"the database holds tables that are not dsar's: "
                             f"{', '.join(foreign)}. Restore into a database of dsar's own")
    running = _running_services()
    if running:
        raise RestoreRefused(f"{', '.join(running)} seen running in Redis: stop the workers "
                             "and the scheduler (and the web server) before a restore; if "
                             "they serve another instance, give this one a Redis of its own")
    if not force:
        held = _rows_held(tables)
        if held:
            raise RestoreRefused(f"this instance's database already holds data: "
                                 f"{', '.join(held)}. Restore into a fresh instance, or give "
                                 "--force to replace it")
        if _stored_files(store.root):
            raise RestoreRefused(f"the storage folder {store.root} is not empty: restore into "
                                 "a fresh instance, or give --force to replace its content")
    return _Plan(manifest, head, carried, key)


def _empty_postgresql() -> None:
    """Drop dsar's tables and the schema version (a ``dsar init`` schema, or what --force
    replaces), in one transaction; :func:`plan` made sure there is no other table. dsar's
    enums are CHECK constraints, not types."""
    db.session.remove()
    with db.engine.begin() as conn:
        db.metadata.drop_all(conn, checkfirst=True)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    db.engine.dispose()


def _restore_postgresql(app: Flask, path: Path, work: Path, key: bytes) -> None:
    url = app.config["DATABASE_URL"]
    dump = work / "dsar.pgdump"
    for entry, handle in archive.members(path, "database/", key):
        archive.copy_out(entry, handle, dump)
    env = libpq_env(url)
    try:  # the dump's table of contents, read before anything is dropped
        run_tool([pg_tool("pg_restore"), "--list", str(dump)], env, "pg_restore --list")
    except BackupError as exc:
        raise RestoreRefused(f"the archive's database dump cannot be read ({exc})") from None
    _empty_postgresql()
    # One transaction: a failure leaves the database empty of dsar's tables.
    run_tool([pg_tool("pg_restore"), "--no-owner", "--no-acl", "--single-transaction",
              "--exit-on-error", f"--dbname={make_url(url).database}", str(dump)],
             env, "pg_restore")
    dump.unlink()


def _readable_sqlite(path: Path) -> None:
    try:
        conn = sqlite3.connect(path)
        try:
            conn.execute("SELECT version_num FROM alembic_version").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise RestoreRefused(f"the archive's database cannot be read ({exc})") from None


def _restore_sqlite(app: Flask, path: Path, key: bytes) -> None:
    """The archive's file checked next to the database first; only then the old file's WAL
    and journal go (they belong to it, and would be replayed into the new one) and the new
    file takes its name."""
    target = Path(make_url(app.config["DATABASE_URL"]).database)
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = target.with_name(f".{target.name}.incoming")
    try:
        for entry, handle in archive.members(path, "database/", key):
            archive.copy_out(entry, handle, staged)
        _readable_sqlite(staged)
        db.session.remove()
        db.engine.dispose()  # no pooled connection may keep the old file open
        for suffix in ("-wal", "-shm", "-journal"):
            target.with_name(target.name + suffix).unlink(missing_ok=True)
        os.replace(staged, target)
    finally:
        for leftover in (staged, staged.with_name(staged.name + "-wal"),
                         staged.with_name(staged.name + "-shm")):
            leftover.unlink(missing_ok=True)


def _restore_storage(root: Path, path: Path, key: bytes, force: bool) -> int:
    if force:  # blobs of a previous life would be personal data no row names: gone
        for old in _stored_files(root):
            if BLOB_FILE.match(old.relative_to(root).as_posix()):
                old.unlink()
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    count = 0
    for entry, handle in archive.members(path, "storage/", key):
        target = root / entry.path.removeprefix("storage/")
        target.parent.mkdir(exist_ok=True, mode=0o700)
        archive.copy_out(entry, handle, target)
        count += 1
    return count


def config_target(app: Flask, name: str) -> Path:
    """Where a configuration file of the archive goes in this instance."""
    instance = Path(app.instance_path)
    setting = {"sources.toml": "SOURCES_FILE", "register.toml": "REGISTER_FILE"}.get(name)
    configured = app.config.get(setting) if setting else None
    return Path(configured) if configured else instance / name


def _restore_config(app: Flask, path: Path, key: bytes, force: bool, with_config: bool,
                    report: RestoreReport) -> None:
    for entry, handle in archive.members(path, "config/", key):
        if entry.path == CONFIG_PY and not with_config:  # code the app runs: only on request
            report.config_skipped.append(entry.path)
            continue
        name = archive.member_name(entry.path)
        target = config_target(app, name)
        if target.exists() and not force:
            report.config_kept.append(str(target))
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        archive.copy_out(entry, handle, target)
        report.config_written.append(str(target))


def _install_key(app: Flask, work: Path) -> None:
    key_file = Path(app.config["MASTER_KEY_FILE"])
    key_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write((work / "dsar.key").read_bytes())
        out.flush()
        os.fsync(out.fileno())


def _work_folder(app: Flask) -> tempfile.TemporaryDirectory:
    parent = Path(app.instance_path)
    parent.mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryDirectory(prefix=".dsar-restore-", dir=parent)


def check_only(app: Flask, path: Path) -> tuple[dict, bool]:
    """``dsar restore --check``: the archive authenticated and checked whole, nothing
    changed; returns its manifest and whether only the key it carries vouches for it."""
    with _work_folder(app) as tmp:
        manifest, _, carried = check(app, path, Path(tmp))
    return manifest, carried


def restore(app: Flask, path: Path, *, force: bool = False, with_config: bool = False,
            say: Callable[[str], object] = print) -> RestoreReport:
    """Restore the archive at ``path`` into ``app``'s instance (its context pushed); raises
    :class:`RestoreRefused` or :class:`ArchiveError` before any change if it may not.
    ``config.py`` is restored only ``with_config``."""
    store = storage_view(app)
    with _work_folder(app) as tmp:
        work = Path(tmp)
        checked = plan(app, path, force=force, work=work)
        manifest = checked.manifest
        say(f"Archive checked: {len(manifest['files'])} files, made "
            f"{manifest['created_at']} by dsar {manifest['dsar_version']}.")
        report = RestoreReport(manifest["database"], manifest["alembic_revision"])
        if report.database == "postgresql":
            _restore_postgresql(app, path, work, checked.key)
        else:
            _restore_sqlite(app, path, checked.key)
        say(f"Database restored ({report.database}, migration {report.revision}).")
        if store.kind == "local":
            report.blobs = _restore_storage(store.root, path, checked.key, force)
            say(f"Storage restored: {report.blobs} blob files into {store.root}.")
        else:
            say("Blobs restored with the database (STORAGE_URL database:).")
        _restore_config(app, path, checked.key, force, with_config, report)
        if checked.install_key:
            _install_key(app, work)
            report.key_installed = True
    if report.revision != checked.head:
        db.session.remove()
        db.engine.dispose()
        upgrade()
        report.upgraded_to = checked.head
    return report


__all__ = ["ArchiveError", "BackupError", "RestoreRefused", "RestoreReport", "check_only",
           "restore"]
