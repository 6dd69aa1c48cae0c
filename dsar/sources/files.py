"""The ``files`` connector: CSV, JSON lines and web-server access logs, searched by an index.

``[sources.NAME]`` key:

- ``index_dir`` (optional): where the index lives, default ``{instance}/source-index``; the index
  of source NAME is ``<index_dir>/NAME.sqlite`` (mode 0600; hashes of identifiers, no value).

``[sources.NAME.collections.X]`` keys:

- ``paths`` (required): a list of glob patterns (``["{instance}/logs/access.log*"]``; ``**``
  allowed; relative ones are taken from the instance folder). Compressed files (``.gz``…) are
  skipped with a warning: they cannot be read at an offset.
- ``format`` (required): ``csv`` (fields: the header's columns), ``jsonl`` (one JSON object a
  line; fields: its top-level keys, nested values kept as JSON) or ``access_log``.
- ``delimiter`` (csv, default ``,``); ``encoding`` (default ``utf-8``, an ASCII-compatible
  encoding; undecodable bytes are replaced).
- ``log_format`` (access_log, default ``combined``): ``combined`` (Apache/nginx; fields ip,
  ident, user, time, request, status, size, referrer, user_agent) or ``combined_visitor`` (the
  same followed by `` vid=<visitor id or ->``: field visitor_id). Or ``pattern``: a regular
  expression matched at the start of each line, whose named groups are the fields.
  In a log, ``-`` means no value.

A line is the person's when one of its ``match`` fields equals one of the person's identifiers
of that type; nothing else is searched (an IP address matches nothing unless a collection says
so). Record keys are ``<file name>:<byte offset of the line>``. Each search first brings the
index up to date (only the bytes appended since), then reads only the lines the index points at.
An erasure rewrites the person's lines with their values masked (:mod:`.files_changes`).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import functools
import glob
import hashlib
import io
import json
import logging
import os
import re
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from dsar.sources.base import (
    CollectionConfig,
    Connector,
    Discovery,
    Identity,
    Operation,
    OperationResult,
    Record,
    SourceConfig,
    SourceError,
    record_matches,
)
from dsar.sources.file_index import FileChangedError, FileIndex, IndexSpec, IndexStats

logger = logging.getLogger(__name__)

FORMATS = ("csv", "jsonl", "access_log")
#: Rounds of the search within the source (identifiers found lead to more lines).
MAX_ROUNDS = 10
#: Bump to re-index everything when the way entries are computed changes.
INDEX_VERSION = 1
#: A double-quoted log field, backslash escapes allowed (unrolled: no per-character alternation).
_Q = r'[^"\\]*(?:\\.[^"\\]*)*'
_COMBINED = (r'(?P<ip>\S+) (?P<ident>\S+) (?P<user>\S+) \[(?P<time>[^\]]*)\] '
             rf'"(?P<request>{_Q})" (?P<status>\S+) (?P<size>\S+) '
             rf'"(?P<referrer>{_Q})" "(?P<user_agent>{_Q})"')
LOG_FORMATS = {
    "combined": _COMBINED,
    "combined_visitor": _COMBINED + r" vid=(?P<visitor_id>\S+)$",
}
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz", ".zst", ".zip")
_FORMAT_KEYS = {"delimiter": "csv", "log_format": "access_log", "pattern": "access_log"}


#: Compressed files already warned about (once per process, not at every search).
_warned: set[str] = set()


def expand(patterns: Iterable[str], base: Path) -> tuple[list[tuple[str, str]], int]:
    """The files the glob ``patterns`` match, as sorted (absolute path, display name) pairs,
    and the number of compressed files skipped (with a warning: they cannot be seeked into).

    The display name is the path relative to the pattern's fixed directory (``access.log.1``
    for ``…/logs/access.log*``), stable while the file keeps its name."""
    found: dict[str, str] = {}
    skipped = set()
    for pattern in patterns:
        full = pattern if os.path.isabs(pattern) else str(base / pattern)
        fixed = _fixed_dir(full)
        for path in sorted(glob.glob(full, recursive=True)):
            path = os.path.abspath(path)
            if path in found or not os.path.isfile(path):
                continue
            if path.endswith(COMPRESSED_SUFFIXES):
                skipped.add(path)
                if path not in _warned:
                    _warned.add(path)
                    logger.warning("compressed file skipped (not indexed): %s", path)
                continue
            found[path] = os.path.relpath(path, fixed)
    return sorted(found.items()), len(skipped)


def _fixed_dir(pattern: str) -> str:
    """The directory part of ``pattern`` before its first wildcard."""
    parts = Path(pattern).parts
    first = next((i for i, p in enumerate(parts) if glob.has_magic(p)), len(parts) - 1)
    return str(Path(*parts[:first]))


def _no_constant(_: str) -> None:
    """JSON's NaN and Infinity are not JSON values: read as null."""
    return None


class LineParser:
    """Turns one line's bytes into its fields, for one collection."""

    def __init__(self, options: Mapping[str, Any]):
        self.format = options["format"]
        self.encoding = options.get("encoding", "utf-8")
        self.delimiter = options.get("delimiter", ",")
        pattern = options.get("pattern")
        self.builtin = pattern is None
        self.regex = re.compile(pattern or LOG_FORMATS[options.get("log_format", "combined")]
                                ) if self.format == "access_log" else None

    def _text(self, raw: bytes) -> str:
        return raw.decode(self.encoding, "replace").lstrip("\ufeff").rstrip("\r\n")

    def _row(self, text: str) -> list[str] | None:
        try:
            return next(csv.reader(io.StringIO(text, newline=""), delimiter=self.delimiter),
                        None)
        except csv.Error:
            return None

    def header(self, raw: bytes) -> tuple[str, ...]:
        """A CSV file's column names."""
        return tuple(name.strip() for name in self._row(self._text(raw)) or ())

    def parse(self, raw: bytes, header: tuple[str, ...] | None,
              only: tuple[str, ...] | None = None) -> dict[str, Any] | None:
        """The line's fields, or None when it is not a record of this format. With ``only``,
        a log line's fields are limited to those (what the index needs, faster)."""
        text = self._text(raw)
        if self.format == "jsonl":
            try:
                value = json.loads(text, parse_constant=_no_constant)
            except ValueError:
                return None
            return value if isinstance(value, dict) else None
        if self.format == "csv":
            row = self._row(text) if header else None
            if not row:
                return None
            fields: dict[str, Any] = {name: None for name in header}
            fields.update(zip(header, row, strict=False))
            if len(row) > len(header):
                fields["_extra"] = row[len(header):]
            return fields
        found = self.regex.match(text) if self.regex else None
        if found is None:
            return None
        fields = found.groupdict() if only is None else {n: found.group(n) for n in only}
        return {k: None if v in (None, "-") else v for k, v in fields.items()}

    def present(self, fields: dict[str, Any]) -> dict[str, Any]:
        """The fields as handed over: a built-in log format's status and size as numbers,
        its time in ISO 8601."""
        if self.format != "access_log" or not self.builtin:
            return fields
        shown = dict(fields)
        for name in ("status", "size"):
            if isinstance(shown.get(name), str) and shown[name].isdigit():
                shown[name] = int(shown[name])
        if shown.get("time"):
            with contextlib.suppress(ValueError):  # else kept as the log wrote it
                shown["time"] = datetime.strptime(shown["time"], "%d/%b/%Y:%H:%M:%S %z"
                                                  ).isoformat()
        return shown


_matches = record_matches


class FilesConnector(Connector):
    """Searches CSV, JSON-lines and access-log files through the source's index."""

    kind = "files"
    SOURCE_KEYS = frozenset({"index_dir"})
    COLLECTION_KEYS = frozenset({"paths", "format", "delimiter", "encoding", "log_format",
                                 "pattern"})

    def __init__(self, source: SourceConfig, *, instance_path: str | os.PathLike,
                 environ: Mapping[str, str] | None = None):
        super().__init__(source, instance_path=instance_path, environ=environ)
        self.parsers = {name: LineParser(c.options) for name, c in source.collections.items()}

    @classmethod
    def check_config(cls, source: SourceConfig) -> None:
        """Check ``index_dir`` and each collection's keys (see the module's docstring)."""
        index_dir = source.options.get("index_dir")
        if index_dir is not None and not (isinstance(index_dir, str) and index_dir.strip()):
            raise source.error("index_dir", "must be non-empty text (a folder)")
        for collection in source.collections.values():
            _check_collection(source, collection)

    @classmethod
    def supports(cls, source: SourceConfig, collection: CollectionConfig, action: str) -> bool:
        """Only ``redact``: a line is masked in place, never updated or flagged."""
        return action == "redact"

    @property
    def index_path(self) -> Path:
        """The source's index database."""
        folder = Path(self.source.options.get("index_dir") or "source-index")
        return self.instance_path / folder / f"{self.source.name}.sqlite"

    def specs(self) -> list[IndexSpec]:
        """What the index needs of each collection."""
        specs = []
        for name, collection in sorted(self.source.collections.items()):
            options, parser = collection.options, self.parsers[name]
            shape = {k: options.get(k) for k in ("format", "delimiter", "encoding",
                                                 "log_format", "pattern")}
            shape.update(match=dict(collection.match), version=INDEX_VERSION)
            fingerprint = hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()
            files, skipped = expand(options["paths"], self.instance_path)
            # Never the index itself (a pattern like "{instance}/**").
            files = [f for f in files if Path(f[0]).parent != self.index_path.parent]
            specs.append(IndexSpec(
                collection=name, files=tuple(files), skipped=skipped, match=collection.match,
                fingerprint=fingerprint,
                parse=functools.partial(parser.parse, only=tuple(collection.match.values())),
                parse_header=parser.header if parser.format == "csv" else None))
        return specs

    def update_index(self, *, rebuild: bool = False) -> IndexStats:
        """Bring the index up to date (``rebuild``: index every file again from the start)."""
        with FileIndex(self.index_path) as index:
            return index.update(self.specs(), rebuild=rebuild)

    def discover(self, identity: Identity) -> Discovery:
        """Every matching line, after bringing the index up to date."""
        try:
            return self._discover_once(identity)
        except FileChangedError:
            # A rotation between the update and the reads: once more (a second failure is a
            # SourceError, so the job is retried later).
            logger.info("source %s: a file changed during the search, again", self.source.name)
            return self._discover_once(identity)

    def _discover_once(self, identity: Identity) -> Discovery:
        try:
            with FileIndex(self.index_path) as index:
                stats = index.update(self.specs())
                logger.info("source %s: index updated: %s", self.source.name, asdict(stats))
                return self._search(index, identity)
        except (sqlite3.Error, OSError) as exc:
            # Worth retrying (a busy index, a file being rotated). SQLite's messages and file
            # paths name nobody: the SQL only ever carries hashes.
            raise SourceError(f"files of source {self.source.name}: {type(exc).__name__}: "
                              f"{exc}") from None

    def carry_out(self, operations: list[Operation], *, hash_key: bytes
                  ) -> list[OperationResult]:
        """Redact the person's lines (:mod:`.files_changes`); nothing is hashed here."""
        from dsar.sources.files_changes import carry_out  # it builds on this module

        return carry_out(self, operations)

    def _search(self, index: FileIndex, identity: Identity) -> Discovery:
        """The fixpoint: search, add the identifiers the lines found yield, search again."""
        match_types = self.source.match_types
        query = identity.restricted(match_types)
        searched: dict[str, set[str]] = {kind: set() for kind in match_types}
        records: dict[tuple[str, str], Record] = {}
        yielded = Identity()
        for _ in range(MAX_ROUNDS):
            todo = {kind: query.get(kind) - searched[kind] for kind in match_types}
            if not any(todo.values()):
                break
            pairs: list[tuple[str, Any]] = []
            for name, collection in sorted(self.source.collections.items()):
                parser = self.parsers[name]
                for kind in collection.match:
                    if not todo[kind]:
                        continue
                    for frame in index.lookup(name, kind, todo[kind]):
                        key = f"{frame.name}:{frame.offset}"
                        if (name, key) in records:
                            continue
                        fields = parser.parse(frame.raw, frame.header)
                        # The index only says where to look: the line itself must match.
                        if fields is None or not _matches(collection, fields, query):
                            continue
                        records[(name, key)] = Record(
                            name, key, collection.visible(parser.present(fields)))
                        pairs.extend(collection.yielded(fields))
            for kind, values in todo.items():
                searched[kind] |= values
            found = Identity.from_pairs(pairs)
            yielded = yielded.union(found)
            query = query.union(found.restricted(match_types))
        else:
            logger.warning("source %s: new identifiers still appearing after %d rounds",
                           self.source.name, MAX_ROUNDS)
        return Discovery(records=list(records.values()), identifiers=yielded).sorted()


def update_index(source: SourceConfig, instance_path: str | os.PathLike, *,
                 rebuild: bool = False) -> dict[str, int]:
    """Bring the index of ``files`` source ``source`` up to date now, and say what was done.

    For a command line (``dsar sources index NAME``) or a periodic job, so that the first search
    after a large import does not pay for the indexing. ``rebuild=True`` drops the source's
    entries and reads every file again (after a file was edited in place, which the
    incremental update does not see). Returns counts: files, files_reset, files_dropped,
    files_skipped (compressed), bytes_read, lines, entries, unparsed."""
    with FilesConnector(source, instance_path=instance_path) as connector:
        return asdict(connector.update_index(rebuild=rebuild))


def _check_collection(source: SourceConfig, collection: CollectionConfig) -> None:
    where = f"collections.{collection.name}"
    options = collection.options
    paths = options.get("paths")
    if not (isinstance(paths, list) and paths
            and all(isinstance(p, str) and p.strip() for p in paths)):
        raise source.error(f"{where}.paths", 'must be a list of glob patterns, for example '
                                             '["{instance}/logs/access.log*"]')
    fmt = options.get("format")
    if fmt not in FORMATS:
        raise source.error(f"{where}.format",
                           f"must be one of {', '.join(FORMATS)} (got {fmt!r})")
    if not collection.match:
        raise source.error(f"{where}.match", "missing: a files collection is searched by "
                                             "the fields named here")
    for key, only in _FORMAT_KEYS.items():
        if key in options and fmt != only:
            raise source.error(f"{where}.{key}", f"only for format = {only!r}")
    delimiter = options.get("delimiter", ",")
    if not (isinstance(delimiter, str) and len(delimiter) == 1 and delimiter not in '"\r\n'):
        raise source.error(f"{where}.delimiter", "must be one character")
    encoding = options.get("encoding", "utf-8")
    try:  # lines are cut at b"\n" and CSV quotes counted as b'"': ASCII bytes must be ASCII
        ascii_compatible = b'\n",;-'.decode(codecs.lookup(encoding).name) == '\n",;-'
    except (LookupError, TypeError, UnicodeDecodeError):
        ascii_compatible = False
    if not ascii_compatible:
        raise source.error(f"{where}.encoding", f"must be an ASCII-compatible encoding such as "
                                                f"utf-8 or cp1252 (got {encoding!r})")
    if fmt == "access_log":
        _check_log_pattern(source, collection, where)


def _check_log_pattern(source: SourceConfig, collection: CollectionConfig, where: str) -> None:
    options = collection.options
    if "pattern" in options:
        if "log_format" in options:
            raise source.error(f"{where}.pattern", "give either log_format or pattern")
        key, pattern = "pattern", options["pattern"]
        try:
            groups = set(re.compile(pattern).groupindex) if isinstance(pattern, str) else None
        except re.error as exc:
            raise source.error(f"{where}.pattern", f"not a regular expression: {exc}") from None
        if not groups:
            raise source.error(f"{where}.pattern", "must be a regular expression with named "
                                                   "groups, (?P<field>…)")
    else:
        key, log_format = "log_format", options.get("log_format", "combined")
        if log_format not in LOG_FORMATS:
            raise source.error(f"{where}.log_format", f"must be one of "
                               f"{', '.join(LOG_FORMATS)} (got {log_format!r})")
        groups = set(re.compile(LOG_FORMATS[log_format]).groupindex)
    for role, mapping in (("match", collection.match), ("yields", collection.yields)):
        for kind, field_name in mapping.items():
            if field_name not in groups:
                raise source.error(f"{where}.{key}",
                                   f"has no field {field_name!r} for {role}.{kind} "
                                   f"(fields: {', '.join(sorted(groups))})")
