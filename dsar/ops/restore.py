"""``dsar restore``: an archive of ``dsar backup`` brought back into a fresh instance
(docs/backup.md). Everything is checked before anything is touched: every member's SHA-256,
the database and storage kinds, the migration revision (not newer than this code), the master
key (the one the archive was made with), and that the instance holds no case and no blob
unless ``force``."""

from __future__ import annotations

import hmac
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import MetaData, inspect, text
from sqlalchemy.engine import make_url

from dsar.core.keys import MissingKeyError
from dsar.extensions import db
from dsar.ops import archive
from dsar.ops.archive import ArchiveError
from dsar.ops.backup import (
    BLOB_FILE,
    BackupError,
    database_kind,
    key_check,
    libpq_env,
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
    key_installed: bool = False


@dataclass(frozen=True)
class _Plan:
    manifest: dict
    head: str
    install_key: bool


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


def _cases_held() -> int:
    db.session.remove()
    if not inspect(db.engine).has_table("cases"):
        return 0
    with db.engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM cases")).scalar()


def _stored_files(root: Path | None) -> list[Path]:
    if root is None or not root.is_dir():
        return []
    return [p for p in root.rglob("*") if p.is_file()]


def _check_key(app: Flask, path: Path, manifest: dict, work: Path) -> bool:
    """Refuse unless the master key this instance will have is the archive's; returns whether
    the archive's key is to be installed."""
    key_file = Path(app.config["MASTER_KEY_FILE"])
    expected = str(manifest.get("key_check", ""))
    if key_file.exists():
        try:
            found = key_check(key_file)
        except MissingKeyError as exc:
            raise RestoreRefused(f"the master key file cannot be used ({exc})") from None
        if not hmac.compare_digest(found, expected):
            raise RestoreRefused(f"the master key {key_file} is not the key this archive was "
                                 "made with: nothing it holds could be read. Put the right key "
                                 "there (or remove that file if it protects nothing yet)")
        return False
    if not manifest.get("key_included"):
        raise RestoreRefused(f"this instance has no master key and the archive holds none: copy "
                             f"the key the archive was made with to {key_file} (mode 0600) "
                             "first")
    for entry, handle in archive.members(path, "key/"):
        archive.copy_out(entry, handle, work / "dsar.key")
    if not hmac.compare_digest(key_check(work / "dsar.key"), expected):
        raise RestoreRefused("the key inside the archive does not match its manifest")
    return True


def plan(app: Flask, path: Path, *, force: bool, work: Path) -> _Plan:
    """Every check, nothing changed: the archive whole and unaltered, made for this kind of
    database and storage, at a migration this code knows, with this instance's key, and the
    instance empty (unless ``force``)."""
    manifest = archive.verify(path)
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
    if not force:
        cases = _cases_held()
        if cases:
            raise RestoreRefused(f"this instance's database already holds {cases} cases: "
                                 "restore into a fresh instance, or give --force to replace "
                                 "them")
        if _stored_files(store.root):
            raise RestoreRefused(f"the storage folder {store.root} is not empty: restore into "
                                 "a fresh instance, or give --force to replace its content")
    install_key = _check_key(app, path, manifest, work)
    return _Plan(manifest, head, install_key)


def _empty_postgresql() -> None:
    """Drop every table of the target database (a ``dsar init`` schema, or what --force
    replaces), in one transaction; dsar's enums are CHECK constraints, not types."""
    db.session.remove()
    with db.engine.begin() as conn:
        metadata = MetaData()
        metadata.reflect(conn)
        metadata.drop_all(conn)
    db.engine.dispose()


def _restore_postgresql(app: Flask, path: Path, work: Path) -> None:
    url = app.config["DATABASE_URL"]
    dump = work / "dsar.pgdump"
    for entry, handle in archive.members(path, "database/"):
        archive.copy_out(entry, handle, dump)
    _empty_postgresql()
    # One transaction: a failure leaves the database as empty as it was just made.
    run_tool([pg_tool("pg_restore"), "--no-owner", "--no-acl", "--single-transaction",
          "--exit-on-error", f"--dbname={make_url(url).database}", str(dump)],
         libpq_env(url), "pg_restore")
    dump.unlink()


def _restore_sqlite(app: Flask, path: Path) -> None:
    target = Path(make_url(app.config["DATABASE_URL"]).database)
    target.parent.mkdir(parents=True, exist_ok=True)
    db.session.remove()
    db.engine.dispose()  # no pooled connection may keep the old file open
    for suffix in ("-wal", "-shm", "-journal"):  # they belong to the file being replaced
        target.with_name(target.name + suffix).unlink(missing_ok=True)
    for entry, handle in archive.members(path, "database/"):
        archive.copy_out(entry, handle, target)


def _restore_storage(root: Path, path: Path, force: bool) -> int:
    if force:  # blobs of a previous life would be personal data no row names: gone
        for old in _stored_files(root):
            if BLOB_FILE.match(old.relative_to(root).as_posix()):
                old.unlink()
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    count = 0
    for entry, handle in archive.members(path, "storage/"):
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


def _restore_config(app: Flask, path: Path, force: bool, report: RestoreReport) -> None:
    for entry, handle in archive.members(path, "config/"):
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


def restore(app: Flask, path: Path, *, force: bool = False,
            say: Callable[[str], object] = print) -> RestoreReport:
    """Restore the archive at ``path`` into ``app``'s instance (its context pushed); raises
    :class:`RestoreRefused` or :class:`ArchiveError` before any change if it may not."""
    store = storage_view(app)
    work_parent = Path(app.instance_path)
    work_parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".dsar-restore-", dir=work_parent) as tmp:
        work = Path(tmp)
        checked = plan(app, path, force=force, work=work)
        manifest = checked.manifest
        say(f"Archive checked: {len(manifest['files'])} files, made "
            f"{manifest['created_at']} by dsar {manifest['dsar_version']}.")
        report = RestoreReport(manifest["database"], manifest["alembic_revision"])
        if report.database == "postgresql":
            _restore_postgresql(app, path, work)
        else:
            _restore_sqlite(app, path)
        say(f"Database restored ({report.database}, migration {report.revision}).")
        if store.kind == "local":
            report.blobs = _restore_storage(store.root, path, force)
            say(f"Storage restored: {report.blobs} blob files into {store.root}.")
        else:
            say("Blobs restored with the database (STORAGE_URL database:).")
        _restore_config(app, path, force, report)
        if checked.install_key:
            _install_key(app, work)
            report.key_installed = True
    if report.revision != checked.head:
        db.session.remove()
        db.engine.dispose()
        upgrade()
        report.upgraded_to = checked.head
    return report


__all__ = ["ArchiveError", "BackupError", "RestoreRefused", "RestoreReport", "restore"]
