"""The on-disk index of the ``files`` connector: where each identifier's lines are.

One SQLite database per source remembers, per file, how far it was read (``indexed_size``, just
after a newline) and, per line, a salted SHA-256 of each ``match`` value with the line's offset
and length: never an identifier in clear. A lookup hashes the values searched and reads only
the lines found.

An update reads only the complete lines appended since the last one. A file whose inode changed,
that shrank, or whose first or last indexed 4 KB changed is indexed again from the start; a file
renamed by log rotation keeps its entries (found by inode); vanished files are dropped. Files
are read line by line, entries written in bounded batches: memory stays flat. Each batch is a
``BEGIN IMMEDIATE`` transaction that re-reads the file's state first, so processes can update
one index at once without indexing a line twice (WAL mode, busy timeout).

Files are assumed append-only or replaced whole: a same-size edit inside a file goes unseen
until a ``rebuild``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import secrets
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dsar.sources.base import SourceError, normalize_identifier

logger = logging.getLogger(__name__)

#: Lines written per transaction: short enough for another process to get the lock in between.
BATCH_LINES = 20_000
#: A line (or CSV record) longer than this is skipped: it cannot be a record worth reading.
MAX_FRAME = 1 << 20
#: Bytes hashed at the start and just before the indexed end, to tell an append from a rewrite.
CHECK_BYTES = 4096
#: SQLite page cache per connection, KiB (bounded; the OS cache does the rest).
CACHE_KIB = 32 * 1024
CHUNK_BITS = 26

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL)",
    # fingerprint: what the entries depend on (format, match fields…): a change re-indexes.
    "CREATE TABLE IF NOT EXISTS collections (name TEXT PRIMARY KEY, fingerprint TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS id_types (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)",
    """CREATE TABLE IF NOT EXISTS files (
        id INTEGER PRIMARY KEY, collection TEXT NOT NULL, path TEXT NOT NULL,
        name TEXT NOT NULL, device INTEGER NOT NULL, inode INTEGER NOT NULL,
        indexed_size INTEGER NOT NULL, head_hash BLOB NOT NULL, edge_hash BLOB NOT NULL,
        header TEXT, UNIQUE (collection, path))""",
    # file_id first: dropping a file's entries is a range delete. chunk (offset // 64 MiB)
    # next: a batch's random hashes land in one small subtree, not all over a large index.
    """CREATE TABLE IF NOT EXISTS entries (
        file_id INTEGER NOT NULL, chunk INTEGER NOT NULL, type_id INTEGER NOT NULL,
        value_hash BLOB NOT NULL, offset INTEGER NOT NULL, length INTEGER NOT NULL,
        PRIMARY KEY (file_id, chunk, type_id, value_hash, offset)) WITHOUT ROWID""",
)


class FileChangedError(SourceError):
    """A file was replaced between the index update and the read: search again."""


@dataclass(frozen=True)
class IndexSpec:
    """What the index needs of one collection: its ``files`` as (absolute path, name in the
    record keys), how many compressed ones were ``skipped``, ``match`` (identifier type ->
    field), a ``fingerprint`` of what the entries depend on, ``parse(line bytes, header)`` ->
    fields or None, and for CSV (its first record names the columns, and a record may span
    lines inside quotes) ``parse_header``."""

    collection: str
    files: tuple[tuple[str, str], ...]
    skipped: int
    match: Mapping[str, str]
    fingerprint: str
    parse: Callable[[bytes, tuple[str, ...] | None], dict[str, Any] | None]
    parse_header: Callable[[bytes], tuple[str, ...]] | None = None


@dataclass
class IndexStats:
    """What an update did (counts only: no path, no value). ``lines`` counts the lines (CSV
    records) read, ``unparsed`` those that were not records of the format."""

    files: int = 0  # files looked at
    files_reset: int = 0  # indexed again from the start (replaced, truncated, rewritten)
    files_dropped: int = 0  # gone (or their collection's format or match changed)
    files_skipped: int = 0  # compressed
    bytes_read: int = 0
    lines: int = 0
    entries: int = 0
    unparsed: int = 0


@dataclass(frozen=True)
class Frame:
    """A line (or CSV record) read back from a file for a lookup."""

    name: str
    offset: int
    raw: bytes
    header: tuple[str, ...] | None


class FileIndex:
    """One source's index database (use it in a ``with`` block)."""

    def __init__(self, path: Path, *, busy_timeout: float = 120.0,
                 batch_lines: int = BATCH_LINES):
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.batch_lines = batch_lines
        # Opening is serialised: two processes turning a new file to WAL at once deadlock.
        with open(path.with_name(path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not path.exists():  # 0600 (the -wal/-shm get it too): hashes of identifiers
                os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
            self.db = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)
            self.db.executescript("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                                  f"PRAGMA cache_size=-{CACHE_KIB};")
            with self._write():
                for statement in SCHEMA:
                    self.db.execute(statement)
                self.db.execute("INSERT OR IGNORE INTO meta VALUES ('salt', ?)",
                                (secrets.token_bytes(16),))
        self.salt = self.db.execute("SELECT value FROM meta WHERE key = 'salt'").fetchone()[0]
        #: file id -> (start, end) of its last line still without a newline, read by lookups.
        self._tails: dict[int, tuple[int, int]] = {}

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    def __enter__(self) -> FileIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[None]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def digest(self, value: str) -> bytes:
        """The stored form of a normalised identifier value."""
        return hashlib.sha256(self.salt + value.encode()).digest()

    def _type_id(self, name: str, *, create: bool) -> int | None:
        row = self.db.execute("SELECT id FROM id_types WHERE name = ?", (name,)).fetchone()
        if row is None and create:
            return self.db.execute("INSERT INTO id_types (name) VALUES (?)", (name,)).lastrowid
        return row[0] if row else None

    def update(self, specs: Iterable[IndexSpec], *, rebuild: bool = False) -> IndexStats:
        """Bring the index up to date with the ``specs``' files."""
        specs = list(specs)
        stats = IndexStats()
        self._tails.clear()
        with self._write():
            self._sync_collections(specs, rebuild, stats)
        for spec in specs:
            with self._write():
                types = {t: self._type_id(t, create=True) for t in spec.match}
                self._reconcile(spec.collection, dict(spec.files), stats)
            stats.files_skipped += spec.skipped
            for path, name in spec.files:
                self._index_file(spec, types, path, name, stats)
        return stats

    def _sync_collections(self, specs: list[IndexSpec], rebuild: bool, stats: IndexStats
                          ) -> None:
        wanted = {s.collection: s.fingerprint for s in specs}
        for name, fingerprint in self.db.execute("SELECT name, fingerprint FROM collections"
                                                 ).fetchall():
            if rebuild or wanted.get(name) != fingerprint:
                for (file_id,) in self.db.execute("SELECT id FROM files WHERE collection = ?",
                                                  (name,)).fetchall():
                    self._drop_file(file_id)
                    stats.files_dropped += 1
                self.db.execute("DELETE FROM collections WHERE name = ?", (name,))
        for name, fingerprint in wanted.items():
            self.db.execute("INSERT OR IGNORE INTO collections VALUES (?, ?)", (name, fingerprint))

    def _drop_file(self, file_id: int) -> None:
        self.db.execute("DELETE FROM entries WHERE file_id = ?", (file_id,))
        self.db.execute("DELETE FROM files WHERE id = ?", (file_id,))

    def _reconcile(self, collection: str, current: dict[str, str], stats: IndexStats) -> None:
        """Follow files renamed by log rotation (same inode); drop vanished and replaced ones."""
        inode_of = {}
        for path in current:
            with contextlib.suppress(OSError):
                st = os.stat(path)
                inode_of[path] = (st.st_dev, st.st_ino)
        rows = self.db.execute("SELECT id, path, device, inode FROM files WHERE collection = ?",
                               (collection,)).fetchall()
        stale = [row for row in rows if inode_of.get(row[1]) != row[2:]]
        kept = {row[1] for row in rows} - {row[1] for row in stale}
        # Park stale rows on a placeholder path first: a rotation moves a.log to a.log.1 and
        # a.log.1 to a.log.2 at once, and paths are unique.
        for file_id, *_ in stale:
            self.db.execute("UPDATE files SET path = ? WHERE id = ?", (f"\0{file_id}", file_id))
        for file_id, path, device, inode in stale:
            target = next((p for p, i in inode_of.items() if i == (device, inode)
                           and p not in kept), None)
            if target is None:
                self._drop_file(file_id)  # vanished, or replaced by a new file (a reset)
                if path in current:
                    stats.files_reset += 1
                else:
                    stats.files_dropped += 1
            else:
                kept.add(target)
                self.db.execute("UPDATE files SET path = ?, name = ? WHERE id = ?",
                                (target, current[target], file_id))

    def _index_file(self, spec: IndexSpec, types: Mapping[str, int], path: str, name: str,
                    stats: IndexStats) -> None:
        target = None
        stats.files += 1
        while True:
            try:
                handle = open(path, "rb")  # noqa: SIM115 (closed just below)
            except FileNotFoundError:
                return  # gone since the glob: the next update drops it
            with handle, self._write():
                st = os.fstat(handle.fileno())
                target = st.st_size if target is None else target
                row = self.db.execute(
                    "SELECT id, device, inode, indexed_size, head_hash, edge_hash, header "
                    "FROM files WHERE collection = ? AND path = ?",
                    (spec.collection, path)).fetchone()
                if row is not None and _changed(row, st, handle):
                    self._drop_file(row[0])
                    stats.files_reset += 1
                    row = None
                if row is None:
                    head, edge = _check_hashes(handle, 0)
                    file_id = self.db.execute(
                        "INSERT INTO files (collection, path, name, device, inode, indexed_size,"
                        " head_hash, edge_hash) VALUES (?, ?, ?, ?, ?, 0, ?, ?)",
                        (spec.collection, path, name, st.st_dev, st.st_ino, head, edge)
                    ).lastrowid
                    row = (file_id, st.st_dev, st.st_ino, 0, head, edge, None)
                stop = min(target, st.st_size)
                if not self._index_batch(spec, types, handle, row, stop, stats):
                    self._tails[row[0]] = (row[3], stop)
                    return

    def _index_batch(self, spec: IndexSpec, types: Mapping[str, int], handle: Any,
                     row: tuple, stop: int, stats: IndexStats) -> bool:
        """Index up to ``batch_lines`` lines after the indexed end; False when none was left."""
        file_id, start, header = row[0], row[3], row[6]
        header = tuple(json.loads(header)) if header else None
        entries, end, count = [], start, 0
        for offset, raw, after in read_frames(handle, start, stop, spec.parse_header is not None):
            end = after
            if raw is None:
                stats.unparsed += 1
            elif offset == 0 and spec.parse_header is not None:
                header = spec.parse_header(raw)
            elif (fields := spec.parse(raw, header)) is None:
                stats.unparsed += 1
            else:
                for kind, field_name in spec.match.items():
                    value = normalize_identifier(kind, fields.get(field_name))
                    if value is not None:
                        entries.append((file_id, offset >> CHUNK_BITS, types[kind],
                                        self.digest(value), offset, after - offset))
            count += 1
            if count >= self.batch_lines:
                break
        if end == start:
            return False
        entries.sort()  # inserting in key order keeps the B-tree writes local
        self.db.executemany("INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?)", entries)
        head, edge = _check_hashes(handle, end)
        self.db.execute(
            "UPDATE files SET indexed_size = ?, head_hash = ?, edge_hash = ?, header = ? "
            "WHERE id = ?", (end, head, edge, json.dumps(header) if header else None, file_id))
        stats.bytes_read += end - start
        stats.lines += count
        stats.entries += len(entries)
        return True

    def lookup(self, collection: str, kind: str, values: Iterable[str]) -> list[Frame]:
        """The indexed lines of ``collection`` whose ``kind`` field hashes like one of the
        normalised ``values``, plus each file's unindexed last line, read from the files.

        Only those bytes are read. Raises :class:`FileChangedError` when a file was replaced
        since the update (its offsets no longer hold)."""
        type_id = self._type_id(kind, create=False)
        hashes = sorted({self.digest(v) for v in values})
        self.db.execute("BEGIN")  # one snapshot for the entries and the files they point to
        try:
            files = {r[0]: r[1:] for r in self.db.execute(
                "SELECT id, path, name, device, inode, indexed_size, header FROM files "
                "WHERE collection = ? ORDER BY id", (collection,))}
            hits: dict[int, set[tuple[int, int]]] = {}
            last = max((f[4] for f in files.values()), default=0) >> CHUNK_BITS
            chunks = json.dumps(list(range(last + 1)))
            for digest in hashes if type_id is not None else ():
                for file_id, offset, length in self.db.execute(
                        "SELECT file_id, offset, length FROM entries WHERE file_id IN "
                        "(SELECT id FROM files WHERE collection = ?) AND chunk IN "
                        "(SELECT value FROM json_each(?)) AND type_id = ? AND value_hash = ?",
                        (collection, chunks, type_id, digest)):
                    hits.setdefault(file_id, set()).add((offset, length))
        finally:
            self.db.execute("COMMIT")
        frames = []
        for file_id, (path, name, device, inode, size, header) in files.items():
            spans = sorted(hits.get(file_id, ()))
            start, end = self._tails.get(file_id, (0, 0))
            if 0 < end - start <= MAX_FRAME:
                spans.append((start, end - start))
            if spans:
                header = tuple(json.loads(header)) if header else None
                frames.extend(_read_spans(path, name, (device, inode), size, spans, header))
        return frames


def _read_spans(path: str, name: str, identity: tuple[int, int], size: int,
                spans: list[tuple[int, int]], header: tuple[str, ...] | None) -> list[Frame]:
    try:
        with open(path, "rb") as handle:
            st = os.fstat(handle.fileno())
            if (st.st_dev, st.st_ino) != identity or st.st_size < size:
                raise FileChangedError("an indexed file was replaced during the search")
            return [Frame(name, offset, os.pread(handle.fileno(), length, offset), header)
                    for offset, length in spans]
    except FileNotFoundError:
        raise FileChangedError("an indexed file vanished during the search") from None


def _changed(row: tuple, st: os.stat_result, handle: Any) -> bool:
    """Whether the file is no longer the one indexed, plus appended lines."""
    _, device, inode, size, head, edge, _ = row
    return ((device, inode) != (st.st_dev, st.st_ino) or st.st_size < size
            or _check_hashes(handle, size) != (head, edge))


def _check_hashes(handle: Any, size: int) -> tuple[bytes, bytes]:
    """SHA-256 of the first and of the last indexed CHECK_BYTES (or fewer) bytes."""
    width, fd = min(CHECK_BYTES, size), handle.fileno()
    return (hashlib.sha256(os.pread(fd, width, 0)).digest(),
            hashlib.sha256(os.pread(fd, width, size - width)).digest())


def read_frames(handle: Any, start: int, stop: int, quoted: bool
                ) -> Iterator[tuple[int, bytes | None, int]]:
    """(offset, bytes, offset after) of each complete line between ``start`` and ``stop``.

    Only lines ending in a newline before ``stop`` are complete. With ``quoted`` (CSV), a line
    with an open double quote goes on over the next ones. An over-long line, or a quote still
    open after MAX_FRAME bytes, gives ``None`` bytes: skipped up to its first newline, and
    counted as read."""
    handle.seek(start)
    pos = start
    while pos < stop:
        room = min(MAX_FRAME + 1, stop - pos)
        line = handle.readline(room)
        while quoted and line.count(b'"') % 2 and line.endswith(b"\n") and len(line) < room:
            more = handle.readline(room - len(line))
            if not more:
                break  # the file shrank under us: the next update starts again
            line += more
        if not line:
            return
        if line.endswith(b"\n") and len(line) <= MAX_FRAME and not (
                quoted and line.count(b'"') % 2):
            yield pos, line, pos + len(line)
            pos += len(line)
            continue
        if len(line) <= MAX_FRAME and pos + len(line) >= stop:
            return  # the last line is not complete yet: left for the next update
        # Over-long line, or a quote left open: skip to the end of its first line, in pieces.
        handle.seek(pos)
        skipped = 0
        while not (piece := handle.readline(min(1 << 16, stop - pos - skipped))).endswith(b"\n"):
            if not piece:
                return  # no end before ``stop``: left for the next update
            skipped += len(piece)
        skipped += len(piece)
        yield pos, None, pos + skipped
        pos += skipped
