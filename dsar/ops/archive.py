"""The backup archive's format: one uncompressed tar file whose last member, ``manifest.json``,
lists every other member with its size and SHA-256 (docs/backup.md).

Members::

    database/dsar.pgdump      pg_dump --format=custom (PostgreSQL), or
    database/dsar.sqlite3     a copy made by SQLite's online backup API
    storage/<ab>/<blob id>    the encrypted blob files, as they are on disk ("local" storage)
    config/<name>.toml        sources.toml, register.toml and any other *.toml of the instance
    config/config.py          the instance's config.py, if it has one
    key/dsar.key              the master key, only when asked for (``--include-key``)

Uncompressed: blobs are ciphertext and a custom-format dump is compressed already, so gzip
would cost CPU for nothing. The manifest comes last because it holds the sums of what came
before; a reader finds it by name. :func:`verify` reads the whole archive and checks every
sum before a restore touches anything.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

FORMAT = "dsar-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_CHUNK = 1024 * 1024
#: The members a restore knows how to place; anything else makes the archive unreadable.
_MEMBER = re.compile(r"^(database/dsar\.(pgdump|sqlite3)|storage/[0-9a-f]{2}/[0-9a-f]+"
                     r"(\.stream)?|config/[A-Za-z0-9_.-]+\.toml|config/config\.py|"
                     r"key/dsar\.key)$")


class ArchiveError(Exception):
    """The archive is unreadable, incomplete or altered; the message says how, in plain words."""


@dataclass(frozen=True)
class Entry:
    """One member as the manifest lists it."""

    path: str
    size: int
    sha256: str


class _Hashing(io.RawIOBase):
    """A file read through, its SHA-256 and length counted on the way (tarfile reads it)."""

    def __init__(self, handle: BinaryIO):
        self._handle, self.sha, self.size = handle, hashlib.sha256(), 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._handle.read(len(buffer))
        buffer[:len(data)] = data
        self.sha.update(data)
        self.size += len(data)
        return len(data)


class ArchiveWriter:
    """A new archive at ``target``: written under a temporary name (mode 0600) next to it and
    renamed into place by :meth:`finish`, so a half-written archive never has the final name.
    Use as a context manager: leaving the block on an exception removes the temporary file."""

    def __init__(self, target: Path):
        self.target = target
        if target.exists():
            raise ArchiveError(f"{target} already exists")
        self._tmp = target.with_name(f".{target.name}.partial")
        fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._file = os.fdopen(fd, "wb")
        self._tar = tarfile.open(  # noqa: SIM115 -- closed by finish() or abort()
            fileobj=self._file, mode="w", format=tarfile.PAX_FORMAT)
        self.entries: list[Entry] = []

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()

    def add_file(self, name: str, handle: BinaryIO, size: int, mtime: float = 0) -> Entry:
        """Add ``size`` bytes read from ``handle`` as member ``name``; returns its entry."""
        if not _MEMBER.match(name):
            raise ArchiveError(f"no place for a member named {name!r}")
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = size, 0o600, int(mtime)
        reader = _Hashing(handle)
        self._tar.addfile(info, io.BufferedReader(reader, _CHUNK))
        if reader.size != size:  # tarfile itself raises on a short file; a longer one is cut
            raise ArchiveError(f"{name} changed size while it was being archived")
        entry = Entry(name, size, reader.sha.hexdigest())
        self.entries.append(entry)
        return entry

    def add_path(self, name: str, path: Path) -> Entry:
        """Add the file at ``path`` as member ``name`` (its size taken from the open file)."""
        with open(path, "rb") as handle:
            stat = os.fstat(handle.fileno())
            return self.add_file(name, handle, stat.st_size, stat.st_mtime)

    def finish(self, manifest: dict) -> Path:
        """Append ``manifest`` (plus the file list) as the last member, fsync and rename the
        archive into place; returns its path."""
        document = dict(manifest, format=FORMAT, format_version=FORMAT_VERSION,
                        files=[e.__dict__ for e in self.entries])
        data = json.dumps(document, indent=2, sort_keys=True).encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size, info.mode = len(data), 0o600
        self._tar.addfile(info, io.BytesIO(data))
        self._tar.close()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        if self.target.exists():  # made meanwhile: never overwrite an archive
            raise ArchiveError(f"{self.target} already exists")
        os.replace(self._tmp, self.target)
        dir_fd = os.open(self.target.parent, os.O_RDONLY)
        try:  # the rename itself survives a crash
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return self.target

    def abort(self) -> None:
        """Drop the temporary file."""
        with contextlib.suppress(Exception):  # already failing; the file goes anyway
            self._tar.close()
        self._file.close()
        self._tmp.unlink(missing_ok=True)


def _open(path: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(path, mode="r:")
    except (OSError, tarfile.TarError) as exc:
        raise ArchiveError(f"{path} is not a readable backup archive ({exc})") from None


def _read_manifest(tar: tarfile.TarFile) -> dict:
    try:
        member = tar.getmember(MANIFEST)
        manifest = json.loads(tar.extractfile(member).read())
    except KeyError:
        raise ArchiveError("the archive has no manifest.json: not a dsar backup") from None
    except (ValueError, tarfile.TarError) as exc:
        raise ArchiveError(f"the manifest cannot be read ({exc})") from None
    if manifest.get("format") != FORMAT:
        raise ArchiveError("the manifest is not a dsar backup's")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ArchiveError(f"archive format {manifest.get('format_version')} is not one this "
                           f"version of dsar reads ({FORMAT_VERSION})")
    return manifest


def _entries(manifest: dict) -> dict[str, Entry]:
    entries: dict[str, Entry] = {}
    for item in manifest.get("files", []):
        entry = Entry(str(item["path"]), int(item["size"]), str(item["sha256"]))
        if not _MEMBER.match(entry.path) or entry.path in entries:
            raise ArchiveError(f"the manifest lists an unexpected file {entry.path!r}")
        entries[entry.path] = entry
    return entries


def verify(path: Path) -> dict:
    """Read the whole archive at ``path``: the manifest must list exactly its members (regular
    files), each of the size and SHA-256 recorded. Returns the manifest; raises
    :class:`ArchiveError` on the first fault."""
    with _open(path) as tar:
        manifest = _read_manifest(tar)
        expected = _entries(manifest)
        seen: set[str] = set()
        try:
            for member in tar:
                if member.name == MANIFEST:
                    continue
                entry = expected.get(member.name)
                if entry is None or member.name in seen or not member.isreg():
                    raise ArchiveError(f"{member.name!r} is in the archive but not in its "
                                       "manifest")
                seen.add(member.name)
                _check(entry, tar.extractfile(member))
        except tarfile.TarError as exc:
            raise ArchiveError(f"the archive is damaged ({exc})") from None
        missing = sorted(set(expected) - seen)
        if missing:
            raise ArchiveError(f"{len(missing)} files of the manifest are missing from the "
                               f"archive (first: {missing[0]})")
    return manifest


def _check(entry: Entry, handle: BinaryIO) -> None:
    sha, size = hashlib.sha256(), 0
    while chunk := handle.read(_CHUNK):
        sha.update(chunk)
        size += len(chunk)
    if size != entry.size or sha.hexdigest() != entry.sha256:
        raise ArchiveError(f"{entry.path} does not match its SHA-256 in the manifest: the "
                           "archive was altered or damaged")


def members(path: Path, prefix: str) -> Iterator[tuple[Entry, BinaryIO]]:
    """The members whose name starts with ``prefix``, each with a readable stream, in archive
    order, checked against the manifest again (the file could have changed since
    :func:`verify`): use :func:`copy_out` to write one, which checks its sum."""
    with _open(path) as tar:
        expected = _entries(_read_manifest(tar))
        for member in tar:
            if member.name.startswith(prefix) and member.name != MANIFEST:
                entry = expected.get(member.name)
                if entry is None or not member.isreg():
                    raise ArchiveError(f"{member.name!r} is not in the manifest")
                yield entry, tar.extractfile(member)


def copy_out(entry: Entry, handle: BinaryIO, target: Path, mode: int = 0o600) -> None:
    """Write a member to ``target`` through a temporary name (``mode``), checking its SHA-256
    before the rename: a file whose sum does not match never takes the final name."""
    tmp = target.with_name(f".{target.name}.restoring")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        sha = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            while chunk := handle.read(_CHUNK):
                sha.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if sha.hexdigest() != entry.sha256:
            raise ArchiveError(f"{entry.path} changed since the archive was checked")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def member_name(path: str) -> str:
    """The last part of a member's name (``config/sources.toml`` → ``sources.toml``)."""
    return PurePosixPath(path).name
