"""The backup archive's format: one uncompressed tar file whose member ``manifest.json`` lists
every other member with its size and SHA-256, followed by ``manifest.hmac``, an HMAC-SHA256 of
the manifest's exact bytes under a key derived from the instance's master key
(docs/backup.md).

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
sum before a restore touches anything. The HMAC is checked first: sums alone only prove that
an archive agrees with itself, and anyone can recompute them for a forged one (another database,
a ``config.py`` the application would execute).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
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
FORMAT_VERSION = 2
MANIFEST = "manifest.json"
SIGNATURE = "manifest.hmac"
_OWN = (MANIFEST, SIGNATURE)
#: The largest manifest read (a million blobs make about 150 MB of JSON): a bound on memory.
_MANIFEST_LIMIT = 512 * 1024 * 1024
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
        self._tar.addfile(info, io.BufferedReader(reader, _CHUNK))  # raises on a short file
        entry = Entry(name, size, reader.sha.hexdigest())
        self.entries.append(entry)
        return entry

    def add_path(self, name: str, path: Path) -> Entry:
        """Add the file at ``path`` as member ``name`` (its size taken from the open file)."""
        with open(path, "rb") as handle:
            stat = os.fstat(handle.fileno())
            entry = self.add_file(name, handle, stat.st_size, stat.st_mtime)
            # Only ``size`` bytes were copied: a file that grew meanwhile would be cut short.
            if os.fstat(handle.fileno()).st_size != stat.st_size:
                raise ArchiveError(f"{name} changed size while it was being archived")
            return entry

    def finish(self, manifest: dict, key: bytes) -> Path:
        """Append ``manifest`` (plus the file list) and its HMAC under ``key`` as the last
        members, fsync and rename the archive into place; returns its path."""
        document = dict(manifest, format=FORMAT, format_version=FORMAT_VERSION,
                        files=[e.__dict__ for e in self.entries])
        data = json.dumps(document, indent=2, sort_keys=True).encode()
        for name, content in ((MANIFEST, data), (SIGNATURE, sign(data, key).encode())):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(content), 0o600
            self._tar.addfile(info, io.BytesIO(content))
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


def sign(manifest: bytes, key: bytes) -> str:
    """The HMAC-SHA256 (hex) of a manifest's bytes under ``key``."""
    return hmac.new(key, manifest, "sha256").hexdigest()


class ForgedManifest(ArchiveError):
    """The manifest's HMAC does not match under the key given: the archive was altered, or
    made under another master key. ``claimed`` is the manifest as it reads (not to be trusted
    beyond choosing what to tell the operator)."""

    def __init__(self, message: str, claimed: dict):
        super().__init__(message)
        self.claimed = claimed


def _own_member(tar: tarfile.TarFile, name: str) -> bytes:
    found = [m for m in tar.getmembers() if m.name == name]
    if not found:
        raise ArchiveError(f"the archive has no {name}: not a dsar backup of this version")
    if len(found) > 1 or not found[0].isreg() or found[0].size > _MANIFEST_LIMIT:
        raise ArchiveError(f"the archive's {name} is not a single regular file")
    return tar.extractfile(found[0]).read()


def _read_manifest(tar: tarfile.TarFile, key: bytes) -> dict:
    """The manifest, once its HMAC under ``key`` matches: checked before anything else."""
    try:
        data, signature = _own_member(tar, MANIFEST), _own_member(tar, SIGNATURE)
    except tarfile.TarError as exc:
        raise ArchiveError(f"the manifest cannot be read ({exc})") from None
    if not hmac.compare_digest(sign(data, key).encode(), signature.strip()):
        try:
            claimed = json.loads(data)
        except ValueError:
            claimed = {}
        raise ForgedManifest("the manifest's HMAC does not match under this master key: the "
                             "archive was altered, or made with another key",
                             claimed if isinstance(claimed, dict) else {})
    try:
        manifest = json.loads(data)
    except ValueError as exc:
        raise ArchiveError(f"the manifest cannot be read ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
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


def verify(path: Path, key: bytes) -> dict:
    """Read the whole archive at ``path``: first the manifest's HMAC under ``key``, then the
    manifest must list exactly the other members (regular files), each of the size and SHA-256
    recorded. Returns the manifest; raises :class:`ArchiveError` on the first fault."""
    with _open(path) as tar:
        manifest = _read_manifest(tar, key)
        expected = _entries(manifest)
        seen: set[str] = set()
        try:
            for member in tar:
                if member.name in _OWN:
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


def members(path: Path, prefix: str, key: bytes) -> Iterator[tuple[Entry, BinaryIO]]:
    """The members whose name starts with ``prefix``, each with a readable stream, in archive
    order, checked against the manifest again, HMAC first (the file could have changed since
    :func:`verify`): use :func:`copy_out` to write one, which checks its sum."""
    with _open(path) as tar:
        expected = _entries(_read_manifest(tar, key))
        for member in tar:
            if member.name.startswith(prefix) and member.name not in _OWN:
                entry = expected.get(member.name)
                if entry is None or not member.isreg():
                    raise ArchiveError(f"{member.name!r} is not in the manifest")
                yield entry, tar.extractfile(member)


def unverified_member(path: Path, name: str, limit: int = 4096) -> bytes | None:
    """The bytes of the small member ``name`` (None if absent), read *before* any check: only
    for the master key an archive carries, which the manifest's HMAC is then checked with."""
    with _open(path) as tar:
        found = [m for m in tar.getmembers() if m.name == name]
        if len(found) != 1 or not found[0].isreg() or found[0].size > limit:
            return None
        return tar.extractfile(found[0]).read()


def copy_out(entry: Entry, handle: BinaryIO, target: Path, mode: int = 0o600) -> None:
    """Write a member to ``target`` through a temporary name (``mode``), checking its SHA-256
    before the rename: a file whose sum does not match never takes the final name."""
    tmp = target.with_name(f".{target.name}.restoring")
    # A leftover of an interrupted restore goes; then the name is created anew, never
    # followed: a symbolic link planted there meanwhile makes the open fail.
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
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
