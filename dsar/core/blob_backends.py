"""Where the encrypted blobs of :mod:`dsar.core.storage` are kept: bytes already sealed, under a
name (``<blob id>`` or ``<blob id>.stream``). Encryption, formats and ids stay in ``storage``;
a backend only keeps, hands back and removes sealed bytes, with one promise: a blob being
written is invisible (to every process) until its commit, and a discarded one leaves nothing.

``STORAGE_URL`` chooses:

- unset, or ``file:///srv/dsar/storage``: a local folder (:class:`LocalBackend`), the default
  and the demo's. Each blob is a file, written to a temporary name, fsynced, then renamed.
- ``database:``: the application's own PostgreSQL database (:class:`DatabaseBackend`), for a
  deployment on several machines without a shared disk: every web server and worker already
  reaches it. Blobs are cut into rows of ``blob_chunks`` of at most :data:`CHUNK_BYTES`, written
  in one transaction of a connection of their own (so a blob commits on its own, exactly like a
  file's rename, whatever the request's transaction does) and read back one row at a time, so
  memory stays flat whatever the size. That transaction stays open while the blob is written:
  seconds for the largest answer package, never longer than a job's time limit.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from flask import Flask, current_app
from sqlalchemy import delete, insert, make_url, select
from sqlalchemy.engine import Connection

#: Plaintext-free bytes per row of ``blob_chunks``: large enough that a 100 MB package is a
#: hundred rows, small enough that a reader holds one row at a time.
CHUNK_BYTES = 1024 * 1024


class StorageConfigError(ValueError):
    """``STORAGE_URL`` names no backend this deployment can use."""


class BlobSink:
    """A blob being written: :meth:`write`, then :meth:`commit` (now visible) or
    :meth:`discard` (nothing left)."""

    def write(self, data: bytes) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def commit(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def discard(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError


# --- A local folder ------------------------------------------------------------------------


class _FileSink(BlobSink):
    """A file written under a temporary name, renamed into place by :meth:`commit`."""

    def __init__(self, target: Path):
        self._target = target
        self._tmp = target.with_name(target.name + ".tmp")
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._file = os.fdopen(fd, "wb")

    def write(self, data: bytes) -> None:
        """Append ``data``."""
        self._file.write(data)

    def commit(self) -> None:
        """Flush to disk, rename into place, and flush the folder (the rename survives a
        power cut)."""
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            os.replace(self._tmp, self._target)
            dir_fd = os.open(self._target.parent, os.O_RDONLY)
            try:  # make the rename itself durable
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except BaseException:
            self._target.unlink(missing_ok=True)
            self.discard()
            raise

    def discard(self) -> None:
        """Close and remove the temporary file."""
        self._file.close()
        self._tmp.unlink(missing_ok=True)


class LocalBackend:
    """Blobs as files under ``root/<name[:2]>/<name>`` (0600, folders 0700)."""

    kind = "local"

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def describe(self) -> str:
        """Where the blobs are, in words."""
        return f"local folder {self.root}"

    def path_of(self, name: str) -> Path:
        """The file that holds blob ``name``."""
        return self.root / name[:2] / name

    def create(self, name: str) -> BlobSink:
        """A new blob called ``name`` (which must not exist yet)."""
        return _FileSink(self.path_of(name))

    def read_all(self, name: str) -> bytes:
        """The whole blob; FileNotFoundError if there is none."""
        return self.path_of(name).read_bytes()

    def open(self, name: str) -> io.BufferedReader:
        """The blob as a buffered binary file (``read``, ``peek``); FileNotFoundError if none."""
        return open(self.path_of(name), "rb")  # noqa: SIM115 -- the caller closes it

    def remove(self, name: str) -> bool:
        """Delete the blob; True if it existed."""
        try:
            self.path_of(name).unlink()
        except FileNotFoundError:
            return False
        return True

    def has(self, name: str) -> bool:
        """Whether the blob exists (committed)."""
        return self.path_of(name).exists()


# --- The application's database ------------------------------------------------------------


def _table():
    from dsar.models.blobs import blob_chunks

    return blob_chunks


class _RowSink(BlobSink):
    """Rows inserted in a transaction of a connection of the sink's own, committed at the end:
    until then no other connection sees any of them."""

    def __init__(self, connection: Connection, name: str):
        self._conn, self._name = connection, name
        self._transaction = connection.begin()
        self._pending, self._seq = bytearray(), 0

    def write(self, data: bytes) -> None:
        """Append ``data``; every full chunk is inserted at once (invisible until commit)."""
        self._pending += data
        while len(self._pending) >= CHUNK_BYTES:
            self._flush(CHUNK_BYTES)

    def _flush(self, size: int) -> None:
        self._conn.execute(insert(_table()).values(
            name=self._name, seq=self._seq, data=bytes(self._pending[:size])))
        del self._pending[:size]
        self._seq += 1

    def commit(self) -> None:
        """Insert the last chunk and commit: every row appears at once."""
        try:
            if self._pending or self._seq == 0:  # an empty blob is one empty row
                self._flush(len(self._pending))
            self._transaction.commit()
        except BaseException:
            self.discard()
            raise
        self._conn.close()

    def discard(self) -> None:
        """Roll back (no row was ever visible) and hand the connection back."""
        if self._transaction.is_active:
            self._transaction.rollback()
        self._conn.close()


class _RowStream(io.RawIOBase):
    """The rows of one blob, fetched one at a time as the reader goes."""

    def __init__(self, backend: DatabaseBackend, name: str, count: int):
        super().__init__()
        self._backend, self._name, self._count = backend, name, count
        self._seq, self._chunk, self._pos = 0, b"", 0

    def readable(self) -> bool:
        """Always True."""
        return True

    def readinto(self, buffer) -> int:
        """Fill ``buffer`` from the current row, fetching the next when it is used up."""
        while self._pos >= len(self._chunk):
            if self._seq >= self._count:
                return 0
            self._chunk, self._pos = self._backend.chunk(self._name, self._seq), 0
            self._seq += 1
        size = min(len(buffer), len(self._chunk) - self._pos)
        buffer[:size] = self._chunk[self._pos:self._pos + size]
        self._pos += size
        return size


class DatabaseBackend:
    """Blobs as rows of ``blob_chunks`` in the application's database (PostgreSQL)."""

    kind = "database"

    def __init__(self, engine):
        self._engine = engine

    def describe(self) -> str:
        """Where the blobs are, in words."""
        return f"the application's database ({self._engine.url.get_backend_name()})"

    def create(self, name: str) -> BlobSink:
        """A new blob called ``name``, written in a transaction of its own."""
        connection = self._engine.connect()
        try:
            return _RowSink(connection, name)
        except BaseException:
            connection.close()
            raise

    def chunk(self, name: str, seq: int) -> bytes:
        """Row ``seq`` of the blob (FileNotFoundError if it went away while being read)."""
        table = _table()
        with self._engine.connect() as conn:
            data = conn.scalar(select(table.c.data).where(table.c.name == name,
                                                          table.c.seq == seq))
        if data is None:
            raise FileNotFoundError(name)
        return bytes(data)

    def _count(self, name: str) -> int:
        table = _table()
        with self._engine.connect() as conn:
            # The highest row number, not count(*): one index probe however large the blob.
            last = conn.scalar(select(table.c.seq).where(table.c.name == name)
                               .order_by(table.c.seq.desc()).limit(1))
        if last is None:
            raise FileNotFoundError(name)
        return last + 1

    def read_all(self, name: str) -> bytes:
        """The whole blob; FileNotFoundError if there is none."""
        table = _table()
        with self._engine.connect() as conn:
            rows = conn.scalars(select(table.c.data).where(table.c.name == name)
                                .order_by(table.c.seq)).all()
        if not rows:
            raise FileNotFoundError(name)
        return b"".join(bytes(row) for row in rows)

    def open(self, name: str) -> io.BufferedReader:
        """The blob as a buffered binary file, one row in memory at a time."""
        return io.BufferedReader(_RowStream(self, name, self._count(name)),
                                 buffer_size=CHUNK_BYTES)

    def remove(self, name: str) -> bool:
        """Delete the blob; True if it existed."""
        table = _table()
        with self._engine.begin() as conn:
            return conn.execute(delete(table).where(table.c.name == name)).rowcount > 0

    def has(self, name: str) -> bool:
        """Whether the blob exists (committed)."""
        table = _table()
        with self._engine.connect() as conn:
            return conn.scalar(select(table.c.seq).where(table.c.name == name,
                                                         table.c.seq == 0)) is not None


# --- Choosing --------------------------------------------------------------------------------


def storage_dir_of(url: str | None) -> str | None:
    """The folder a ``file:`` ``STORAGE_URL`` names (None for any other URL); a
    StorageConfigError for a URL this version cannot use."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise StorageConfigError(
                f"STORAGE_URL {url!r}: a local folder is written file:///absolute/path")
        return unquote(parts.path)
    if parts.scheme == "database" and not parts.netloc and not parts.path:
        return None
    raise StorageConfigError(
        f"STORAGE_URL {url!r}: use file:///absolute/path (a local folder) or database: "
        "(the application's PostgreSQL database)")


def current_backend():
    """The current app's blob backend (made once per app from ``STORAGE_URL``): ``.kind`` is
    ``"local"`` (with ``.root``, the folder) or ``"database"``; ``.describe()`` says where."""
    app = current_app._get_current_object()
    found = app.extensions.get("dsar_blob_backend")
    if found is None:
        found = app.extensions["dsar_blob_backend"] = make_backend(app)
    return found


def check_storage_url(url: str | None, database_url: str) -> None:
    """Refuse, at start-up, a ``STORAGE_URL`` this deployment cannot use: malformed, or
    ``database:`` over a database other than PostgreSQL (SQLite has a single writer, which a
    blob's own transaction would wait on while the request holds it)."""
    storage_dir_of(url)
    if url and urlsplit(url).scheme == "database":
        backend_name = make_url(database_url).get_backend_name()
        if backend_name != "postgresql":
            raise StorageConfigError(
                f"STORAGE_URL database: needs PostgreSQL (DATABASE_URL is {backend_name}); "
                "keep the default local folder with SQLite")


def make_backend(app: Flask):
    """The backend ``app``'s ``STORAGE_URL`` chooses (``STORAGE_DIR`` is the folder of a
    ``file:`` URL, set by the configuration). Called within ``app``'s context."""
    url = app.config.get("STORAGE_URL")
    if url and urlsplit(url).scheme == "database":
        from dsar.extensions import db

        # Checked at start-up too; again here for a setting changed since (tests do).
        check_storage_url(url, app.config["DATABASE_URL"])
        return DatabaseBackend(db.engine)
    return LocalBackend(app.config["STORAGE_DIR"])
