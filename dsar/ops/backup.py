"""``dsar backup``: one consistent archive of an instance (docs/backup.md).

Order, and why: the database is dumped first (one snapshot), the storage folder copied after.
A blob is written (and fsynced) before the row naming it commits, and deleted before the row
that stops naming it commits. So every blob the snapshot names existed before the snapshot;
copied afterwards, it is still there unless a deletion that was already under way (or came
later) removed it, which leaves the restored instance exactly where a crash between that
deletion and its commit would have: a row naming a blob that is gone, the state the
application is built to tolerate ("an absence, never a leftover copy"). Copying the storage
first would instead miss blobs written after the copy and committed before the snapshot:
documents the live instance still has. Blobs written after the snapshot come along unnamed;
they are ciphertext, as after a crash between a blob's write and its row's commit.

With ``STORAGE_URL = "database:"`` the blobs are rows of the database: the dump holds them,
in the same snapshot as everything else.
"""

from __future__ import annotations

import hmac
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from flask import Flask
from sqlalchemy import text
from sqlalchemy.engine import make_url

from dsar.core.keys import MissingKeyError, derived_key
from dsar.extensions import db
from dsar.ops.archive import ArchiveError, ArchiveWriter

#: A committed blob file in the storage folder (``.tmp`` files are writes under way).
BLOB_FILE = re.compile(r"^[0-9a-f]{2}/[0-9a-f]+(\.stream)?$")
_KEY_CHECK_LABEL = b"dsar backup key check v1"
#: The HKDF purpose of the key the manifest's HMAC is made with.
MANIFEST_PURPOSE = "backup-manifest"
#: pg_dump/pg_restore messages quote rows ("DETAIL:  Key (email)=(…) already exists"):
#: nothing from there on reaches an error message or a log.
_ROW_DATA = re.compile(r"(DETAIL:|Key \().*", re.DOTALL)
#: libpq's connection settings a database URL's query may carry, as environment variables.
_LIBPQ_ENV = {"sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT",
              "sslkey": "PGSSLKEY", "connect_timeout": "PGCONNECT_TIMEOUT",
              "host": "PGHOST", "port": "PGPORT", "options": "PGOPTIONS"}


class BackupError(Exception):
    """The backup could not be made; the message says why in plain words."""


@dataclass
class BackupResult:
    """What :func:`make_backup` wrote."""

    path: Path
    manifest: dict
    blobs: int = 0
    config_files: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        """The archive's size in bytes."""
        return self.path.stat().st_size


@dataclass(frozen=True)
class StorageView:
    """What a backup needs of the app's blob store: its kind and, for a folder, its root."""

    kind: str
    root: Path | None


def storage_view(app: Flask) -> StorageView:
    """The app's blob backend (``storage.backend()``): its kind and, for a folder, its root."""
    from dsar.core import storage

    backend = storage.backend()
    root = getattr(backend, "root", None)
    return StorageView(backend.kind, Path(root) if root is not None else None)


def key_check(key_file: str | os.PathLike) -> str:
    """A value that tells whether a master key is the one an archive was made with, without
    revealing anything of it: an HMAC of a fixed label under the derived storage key."""
    return hmac.new(derived_key("storage", str(key_file)), _KEY_CHECK_LABEL, "sha256").hexdigest()


def manifest_key(key_file: str | os.PathLike) -> bytes:
    """The key of the manifest's HMAC, derived from the master key in ``key_file``."""
    return derived_key(MANIFEST_PURPOSE, str(key_file))


def database_kind(url: str) -> str:
    """``postgresql`` or ``sqlite`` (anything else cannot be backed up)."""
    backend = make_url(url).get_backend_name()
    if backend not in ("postgresql", "sqlite"):
        raise BackupError(f"a {backend} database cannot be backed up by dsar")
    return backend


def libpq_env(url: str) -> dict[str, str]:
    """The environment for pg_dump/pg_restore reaching the database of ``url``: the password
    in PGPASSWORD (never on a command line another user could read in ``ps``)."""
    parsed = make_url(url)
    # PG* variables already set stay (libpq reads them for the application too); what the
    # URL says wins, as it does for the application's own connections.
    env = dict(os.environ)
    for name, value in (("PGHOST", parsed.host), ("PGPORT", parsed.port),
                        ("PGUSER", parsed.username), ("PGPASSWORD", parsed.password),
                        ("PGDATABASE", parsed.database)):
        if value is not None:
            env[name] = str(value)
    for name, value in parsed.query.items():
        if name in _LIBPQ_ENV:
            env[_LIBPQ_ENV[name]] = value if isinstance(value, str) else value[0]
    return env


def pg_tool(name: str) -> str:
    """The path of ``pg_dump`` or ``pg_restore`` (PATH first, then /usr/bin)."""
    found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists()
                                   else None)
    if not found:
        raise BackupError(f"{name} is not installed (Debian: apt install postgresql-client-15)")
    return found


def run_tool(command: list[str], env: dict[str, str], what: str) -> str:
    """Run a PostgreSQL client tool; returns its output. A failure becomes a
    :class:`BackupError` with the exit status and the first line of the tool's error output,
    cut before anything quoting data (the rest can hold personal data: see ``_ROW_DATA``)."""
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        first = _ROW_DATA.sub("", lines[0]).strip(" :") if lines else ""
        raise BackupError(f"{what} failed (exit status {done.returncode})"
                          + (f": {first}" if first else ""))
    return done.stdout


def _revision(conn) -> str | None:
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def dump_postgresql(url: str, target: Path) -> str:
    """``pg_dump --format=custom`` of the database into ``target``; returns the migration
    revision it holds. pg_dump reads one snapshot (its own repeatable-read transaction);
    the revision is read before and after, and a migration in between fails the backup."""
    with db.engine.connect() as conn:
        before = _revision(conn)
    # Ownership and grants are left to pg_restore (--no-owner --no-acl): the restored
    # objects belong to whoever restores them.
    run_tool([pg_tool("pg_dump"), "--format=custom", f"--file={target}"], libpq_env(url),
         "pg_dump")
    with db.engine.connect() as conn:
        if _revision(conn) != before:
            raise BackupError("the database was migrated during the backup: run it again")
    return before


def dump_sqlite(url: str, target: Path) -> str | None:
    """A copy of the SQLite database into ``target`` by SQLite's online backup API (consistent
    while the application writes); returns the migration revision it holds."""
    source = make_url(url).database
    if not source or source == ":memory:" or not Path(source).exists():
        raise BackupError(f"the SQLite database {source!r} does not exist")
    src = sqlite3.connect(f"{Path(source).resolve().as_uri()}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
        row = dst.execute("SELECT version_num FROM alembic_version").fetchone()
    finally:
        dst.close()
        src.close()
    os.chmod(target, 0o600)
    return row[0] if row else None


def config_files(app: Flask) -> dict[str, Path]:
    """The instance's configuration to keep, by member name: ``sources.toml`` and
    ``register.toml`` (wherever SOURCES_FILE and REGISTER_FILE put them), every other
    ``*.toml`` of the instance folder, and ``config.py`` if there is one."""
    instance = Path(app.instance_path)
    found: dict[str, Path] = {}
    for name, setting in (("sources.toml", "SOURCES_FILE"), ("register.toml", "REGISTER_FILE")):
        path = Path(app.config.get(setting) or instance / name)
        if path.is_file():
            found[f"config/{name}"] = path
    for path in sorted(instance.glob("*.toml")):
        found.setdefault(f"config/{path.name}", path)
    if (instance / "config.py").is_file():
        found["config/config.py"] = instance / "config.py"
    return found


def _add_storage(archive: ArchiveWriter, root: Path) -> int:
    """Every committed blob file under ``root``; one deleted since the listing is skipped (its
    deletion was decided: see the module's docstring)."""
    added = 0
    if not root.is_dir():
        return 0
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if not BLOB_FILE.match(relative):
            continue
        try:
            archive.add_path(f"storage/{relative}", path)
        except FileNotFoundError:
            continue
        added += 1
    return added


def archive_name(now: datetime) -> str:
    """``dsar-backup-YYYYMMDDTHHMMSSZ.tar`` for the time ``now`` (UTC)."""
    return f"dsar-backup-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}.tar"


def make_backup(app: Flask, output: Path, *, include_key: bool = False) -> BackupResult:
    """Write a backup archive of ``app`` (its context pushed): into the existing folder
    ``output`` under :func:`archive_name`, or at ``output`` itself if its name ends in
    ``.tar`` (its folder existing). Anything else is refused: a mistyped or missing folder
    must not become a file of that name."""
    now = datetime.now(UTC)
    if output.is_dir():
        target = output / archive_name(now)
    elif output.suffix == ".tar":
        target = output
        if not target.parent.is_dir():
            raise BackupError(f"the folder {target.parent} does not exist")
    else:
        raise BackupError(f"{output} is not an existing folder (create it first, owned by the "
                          "user running the backup), nor an archive path ending in .tar")
    url = app.config["DATABASE_URL"]
    kind = database_kind(url)
    store = storage_view(app)
    key_file = Path(app.config["MASTER_KEY_FILE"])
    try:
        check, signing_key = key_check(key_file), manifest_key(key_file)
    except MissingKeyError as exc:
        raise BackupError(f"no usable master key ({exc})") from None
    manifest = {"dsar_version": _dsar_version(), "database": kind, "storage": store.kind,
                "created_at": now.isoformat(timespec="seconds"),
                "key_included": include_key, "key_check": check}
    with tempfile.TemporaryDirectory(prefix=".dsar-backup-work-", dir=target.parent) as work, \
            ArchiveWriter(target) as archive:
        dump = Path(work) / ("dsar.pgdump" if kind == "postgresql" else "dsar.sqlite3")
        if kind == "postgresql":
            manifest["alembic_revision"] = dump_postgresql(url, dump)
        else:
            manifest["alembic_revision"] = dump_sqlite(url, dump)
        archive.add_path(f"database/{dump.name}", dump)
        dump.unlink()  # personal data: not left in the temporary folder longer than needed
        # After the dump, never before: see the module's docstring.
        blobs = _add_storage(archive, store.root) if store.kind == "local" else 0
        kept = config_files(app)
        for name, path in kept.items():
            archive.add_path(name, path)
        if include_key:
            archive.add_path("key/dsar.key", key_file)
        manifest["blob_count"] = blobs
        path = archive.finish(manifest, signing_key)
    return BackupResult(path, manifest, blobs, [n.removeprefix("config/") for n in kept])


def _dsar_version() -> str:
    try:
        return version("dsar")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "unknown"


__all__ = ["ArchiveError", "BackupError", "BackupResult", "make_backup", "key_check",
           "manifest_key"]
