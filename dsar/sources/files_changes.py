"""Carrying out an approved plan on a ``files`` source (``FilesConnector.carry_out``): the
person's lines rewritten with their values masked. The plan sends ``redact`` (a log line is
masked in place, never removed alone); ``delete`` and ``anonymize`` are unsupported here.

**Which lines.** The source is searched again first, through its index, for the identifiers
the plan was made with (the search the verification runs). Every line of the person in the
plan's collections is masked: those at the keys, and those that moved since the search (a
rotation renamed ``access.log`` to ``access.log.1``, another erasure rewrote the file) or were
appended since. A key counts ``changed`` when the line at its position was masked by this run,
``absent`` otherwise (already masked by an earlier run, rotated away, gone): a second run
reports every key absent. The lines masked elsewhere are counted in ``details``. No other line
is touched: a colleague's line from the same IP address, someone else's ticket naming her.
What is masked in a line: :mod:`.files_masking` (``[effacé]`` in place of each of her values;
JSON lines stay JSON objects, CSV records keep their columns, log lines their pattern).

**How.** Per file: the lines are read back at their offsets and checked to be hers, the file is
copied to a temporary file in the same folder (``.dsar-redact-<source>-….tmp``: hidden, so no
``paths`` glob matches it) with those lines masked, the bytes appended meanwhile copied too,
synced, given the original's mode (and owner, when allowed) and ``os.replace``d over it; the
folder is synced. A failure before the replace leaves the original as it was (the temporary
file is removed then, or by the next run). Collections searched by an identifier another one
yields are rewritten first, so an interrupted run keeps the lines that lead to the rest and a
retry finds them. One run at a time per source (a lock next to its index): two erasures
rewriting one log at once would each undo the other's.

**Files being written.** A process writing into a file (a web server's current log) would go on
writing into the replaced file, and those lines would be lost. On Linux a read lease tells
whether anyone has the file open for writing (on files the worker owns, or as root; elsewhere
it cannot tell, and the file is rewritten): if so nothing is changed and the run fails with a
:class:`SourceError`, to be retried once the log has rotated.

**Compressed rotated files** (``.gz``…) are not read by the connector (not searched, so no key
points into them): they are left as they are, and ``details`` says how many are kept until the
rotation deletes them.

**The index.** A rewritten file is a new inode: the index drops its entries and reads it again
from the start. That update runs at the end of the run (if it fails, it is logged and the next
search does it), so no entry ever points at an offset of the old file.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import signal
import sqlite3
import stat
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from dsar.sources.base import (
    CollectionConfig,
    Connector,
    Identity,
    Operation,
    OperationResult,
    OperationUnsupported,
    SourceError,
    record_matches,
)
from dsar.sources.file_index import MAX_FRAME, FileChangedError, read_frames
from dsar.sources.files_masking import CannotMask, Masker, mask_line

#: The ``FilesConnector`` this works for (not imported: ``files`` imports this module).
FilesConnector = Connector

logger = logging.getLogger(__name__)

COPY_CHUNK = 1 << 20
TEMP_PREFIX = ".dsar-redact-"


def carry_out(connector: FilesConnector, operations: list[Operation]) -> list[OperationResult]:
    """Redact the person's lines in the operations' collections; one result per operation,
    in their order. Raises :class:`OperationUnsupported` (nothing done) for an action other
    than ``redact`` or an unknown collection, :class:`SourceError` (naming nobody) on a
    failure worth retrying: what was rewritten stays, a retry completes the rest."""
    source = connector.source
    for operation in operations:
        if operation.collection not in source.collections:
            raise OperationUnsupported(f"source {source.name!r} has no collection "
                                       f"{operation.collection!r}")
        if operation.action != "redact":
            raise OperationUnsupported(
                f"the files connector cannot {operation.action!r} (collection "
                f"{operation.collection!r} of source {source.name!r}): its lines are redacted")
        if operation.keys and not operation.identity:
            # Nothing to find her lines by: counting them all absent would let the
            # verification (searched with the same nothing) pass them as erased.
            raise OperationUnsupported(f"redact on collection {operation.collection!r} of "
                                       f"source {source.name!r} names no identifier")
    if not operations:
        return []
    identity = Identity()
    for operation in operations:
        identity = identity.union(operation.identity)
    with _source_lock(connector):
        try:
            try:
                masked, compressed = _redact(connector, operations, identity)
            except FileChangedError:
                logger.info("source %s: a file changed during the redaction, again",
                            source.name)
                masked, compressed = _redact(connector, operations, identity)
        except FileChangedError as exc:
            raise SourceError(f"files of source {source.name}: {exc}") from None
        except CannotMask as exc:
            raise SourceError(f"files of source {source.name}: a line could not be masked "
                              f"({exc})") from None
        except (sqlite3.Error, OSError) as exc:
            raise SourceError(f"files of source {source.name}: {type(exc).__name__}: "
                              f"{exc}") from None
        if any(masked.values()):
            _refresh_index(connector)
    return [_result(operation, masked.get(operation.collection, set()),
                    compressed.get(operation.collection, 0)) for operation in operations]


def _redact(connector: FilesConnector, operations: list[Operation], identity: Identity
            ) -> tuple[dict[str, set[str]], dict[str, int]]:
    """Mask every line of the person in the operations' collections. Returns the keys masked
    per collection, and the compressed files per collection."""
    source = connector.source
    found = connector.discover(identity)
    her = identity.union(found.identifiers)
    wanted = {operation.collection for operation in operations}
    masker = Masker(her, found.records, source.collections)
    specs = {spec.collection: spec for spec in connector.specs()}
    lines: dict[str, dict[str, set[int]]] = {name: {} for name in wanted}
    for record in found.records:
        if record.collection in wanted:
            name, _, offset = record.key.rpartition(":")
            lines[record.collection].setdefault(name, set()).add(int(offset))
    todo = []  # (collection, display name, [paths], offsets), children first
    for collection in sorted(wanted, key=_depths(source.collections).__getitem__,
                             reverse=True):
        paths: dict[str, list[str]] = {}
        for path, name in specs[collection].files:
            paths.setdefault(name, []).append(path)
        for name, offsets in sorted(lines[collection].items()):
            todo.append((collection, name, paths.get(name, []), offsets))
    busy = sorted({p for _c, _n, paths, _o in todo for p in paths if _open_for_writing(p)})
    if busy:
        raise SourceError(f"files of source {source.name}: {len(busy)} file(s) open for "
                          f"writing by another process (a live log?); nothing was changed: "
                          f"try again once rotated")
    for directory in {os.path.dirname(p) for _c, _n, paths, _o in todo for p in paths}:
        _remove_leftovers(directory, source.name)
    masked: dict[str, set[str]] = {name: set() for name in wanted}
    for collection, name, paths, offsets in todo:
        config = source.collections[collection]
        done: set[int] = set()
        for path in paths:  # one, unless two patterns give files the same name
            done |= _rewrite(path, offsets - done, config, connector.parsers[collection],
                             her, masker, source.name)
        if offsets - done:
            raise FileChangedError("a line found is no longer where the search found it")
        masked[collection] |= {f"{name}:{offset}" for offset in done}
    return masked, {name: specs[name].skipped for name in wanted}


def _result(operation: Operation, masked: set[str], compressed: int) -> OperationResult:
    result = OperationResult(operation.collection, operation.action)
    counted: set[str] = set()
    for key in operation.keys:
        if key in masked and key not in counted:
            result.changed += 1
            counted.add(key)
        else:
            result.absent += 1
    details = []
    if extra := len(masked - set(operation.keys)):
        details.append(f"{extra} more line(s) of the person, found since the search at other "
                       f"positions (appended, rotated, or moved by another rewrite), masked too")
    if compressed:
        details.append(f"{compressed} compressed file(s) not searched, kept as they are until "
                       f"the rotation deletes them")
    result.details = "; ".join(details)
    return result


def _depths(collections: Mapping[str, CollectionConfig]) -> dict[str, int]:
    """How far down each collection is: 0 when searched only by identifiers no other
    collection yields, else one more than the deepest collection yielding one of them."""
    depths: dict[str, int] = {}

    def depth(name: str, seen: frozenset[str]) -> int:
        if name not in depths:
            parents = {other for other, config in collections.items()
                       if other not in seen and other != name
                       and set(config.yields) & set(collections[name].match)}
            depths[name] = 1 + max((depth(p, seen | {name}) for p in parents), default=-1)
        return depths[name]

    for name in collections:
        depth(name, frozenset())
    return depths


def _rewrite(path: str, offsets: set[int], collection: CollectionConfig, parser: Any,
             her: Identity, masker: Masker, source: str) -> set[int]:
    """Rewrite ``path`` with the person's lines at ``offsets`` masked; the offsets masked
    (those whose line is not theirs are left, and the file too when none is)."""
    with open(path, "rb") as src:
        st = os.fstat(src.fileno())
        size, quoted = st.st_size, parser.format == "csv"
        header = None
        if quoted and (first := _frame_at(src, 0, size, quoted)) is not None:
            header = parser.header(first)
        edits, end = [], 0
        for offset in sorted(offsets):
            raw = _frame_at(src, offset, size, quoted) if offset >= end else None
            fields = None if raw is None or (quoted and offset == 0) else parser.parse(
                raw, header)
            if fields is None or not record_matches(collection, fields, her):
                continue
            new = mask_line(parser, collection, masker, raw, header)
            if new == raw:
                raise CannotMask("nothing to mask in a line found")
            edits.append((offset, offset + len(raw), new))
            end = offset + len(raw)
        if not edits:
            return set()
        if st.st_nlink > 1:
            logger.warning("source %s: a redacted file has other hard links, which keep the "
                           "lines as they were: %s", source, path)
        _replace(path, src, st, edits, source)
    return {offset for offset, _end, _new in edits}


def _replace(path: str, src: Any, st: os.stat_result, edits: list[tuple[int, int, bytes]],
             source: str) -> None:
    """Write the file with ``edits`` to a temporary file beside it, then put it in place."""
    directory = os.path.dirname(path)
    fd, temp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{source}-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            position, size = 0, st.st_size
            for start, end, new in edits:
                _copy(src, out, position, start)
                out.write(new)
                position = end
            _copy(src, out, position, size)
            # Lines appended while copying (a log being written) are not lost.
            while (grown := os.fstat(src.fileno()).st_size) > size:
                _copy(src, out, size, grown)
                size = grown
            now = os.stat(path)
            if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
                raise FileChangedError("a file was replaced during the redaction")
            out.flush()
            os.fchmod(out.fileno(), stat.S_IMODE(st.st_mode))
            if (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
                try:
                    os.fchown(out.fileno(), st.st_uid, st.st_gid)
                except PermissionError:
                    logger.warning("source %s: a redacted file now belongs to this worker's "
                                   "user: %s", source, path)
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    _fsync_dir(directory)


def _copy(src: Any, out: Any, start: int, end: int) -> None:
    position = start
    while position < end:
        chunk = os.pread(src.fileno(), min(COPY_CHUNK, end - position), position)
        if not chunk:
            raise FileChangedError("a file shrank during the redaction")
        out.write(chunk)
        position += len(chunk)


def _frame_at(src: Any, offset: int, size: int, quoted: bool) -> bytes | None:
    """The line (CSV record) starting at ``offset``, or None when no line starts there."""
    if offset >= size or (offset and os.pread(src.fileno(), 1, offset - 1) != b"\n"):
        return None
    for _start, raw, _after in read_frames(src, offset, size, quoted):
        return raw
    tail = os.pread(src.fileno(), MAX_FRAME + 1, offset)  # a last line with no newline yet
    return tail if len(tail) <= MAX_FRAME else None


def _open_for_writing(path: str) -> bool:
    """Whether some process has ``path`` open for writing (a Linux read lease cannot be taken
    then). False when it cannot tell (not Linux, not the file's owner, no lease support)."""
    if not hasattr(fcntl, "F_SETLEASE"):
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        # A writer opening the file while the lease is held breaks it with a signal: SIGURG,
        # ignored by default, rather than SIGIO, which would end this process.
        fcntl.fcntl(fd, fcntl.F_SETSIG, signal.SIGURG)
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_RDLCK)
    except OSError as exc:
        return exc.errno == errno.EAGAIN
    else:
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
        return False
    finally:
        os.close(fd)


def _remove_leftovers(directory: str, source: str) -> None:
    """Temporary files of a run that died (this source's runs are serialised by the lock)."""
    for leftover in Path(directory).glob(f"{TEMP_PREFIX}{source}-*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()
            logger.info("source %s: removed a redaction's leftover %s", source, leftover)


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _source_lock(connector: FilesConnector) -> Iterator[None]:
    path = connector.index_path.with_name(f"{connector.source.name}.changes.lock")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _refresh_index(connector: FilesConnector) -> None:
    """Index the rewritten files again now, so the next search (the verification) does not
    pay for it; a failure only delays that to the next search."""
    try:
        stats = connector.update_index()
    except (sqlite3.Error, OSError) as exc:
        logger.warning("source %s: index not updated after the redaction (%s): the next "
                       "search will", connector.source.name, type(exc).__name__)
    else:
        logger.info("source %s: index updated after the redaction: %d file(s) read again",
                    connector.source.name, stats.files_reset)
