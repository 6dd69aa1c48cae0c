"""The package handed to the person: one ZIP file with ``export.json``, the JSON Schema it
conforms to, one CSV per collection, any extra member (the PDF report, to come), and
``manifest.json`` listing every other file with its size and SHA-256.

The ZIP is written to a file object the caller gives (an encrypted storage writer): it need
not be seekable. Each member is streamed through ``ZipFile.open(name, "w")`` while its sum is
computed from the very bytes written, so the manifest's sums are those of the files a person
extracts. ``manifest.json`` is written last and does not list itself.
"""

from __future__ import annotations

import hashlib
import json
import logging
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import IO, Any

from dsar.exports import SCHEMA_NAME, schema_bytes
from dsar.exports.content import ExportContent
from dsar.exports.csv_export import csv_delimiter, csv_name, write_csv
from dsar.exports.json_export import FORMAT, write_json

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
EXPORT_JSON = "export.json"
MANIFEST_FORMAT = "dsar-export-manifest"


@dataclass(frozen=True)
class PackageMember:
    """An extra file for the package: ``write`` receives a binary stream and writes the file
    (the PDF renderer, for instance)."""

    name: str
    media_type: str
    write: Callable[[IO[bytes]], Any]


@dataclass(frozen=True)
class PackagedFile:
    """A file of the package, as the manifest lists it."""

    name: str
    size: int
    sha256: str
    media_type: str


@dataclass(frozen=True)
class Manifest:
    """What :func:`write_package` wrote."""

    files: tuple[PackagedFile, ...]
    records: int

    def file(self, name: str) -> PackagedFile:
        """The entry for ``name`` (KeyError if absent)."""
        for item in self.files:
            if item.name == name:
                return item
        raise KeyError(name)


class _Hashing:
    """A write-only stream that sums and counts what goes through it to a ZIP member."""

    def __init__(self, target: IO[bytes]):
        self.target = target
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        """Write ``data`` to the member, summing it."""
        self.digest.update(data)
        self.size += len(data)
        self.target.write(data)
        return len(data)

    def flush(self) -> None:
        """Nothing buffered here (the ZIP member compresses as it goes)."""


class _Writer:
    """Adds members to the ZIP, one at a time, and remembers their sums."""

    def __init__(self, archive: zipfile.ZipFile, date_time: tuple[int, ...], zip64: bool):
        self.archive, self.date_time, self.zip64 = archive, date_time, zip64
        self.files: list[PackagedFile] = []

    def add(self, name: str, media_type: str, write: Callable[[IO[bytes]], Any]) -> Any:
        """Stream one member through ``write``; returns what ``write`` returned."""
        if name == MANIFEST or any(f.name == name for f in self.files):
            raise ValueError(f"duplicate package member {name!r}")
        info = zipfile.ZipInfo(name, date_time=self.date_time)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o600 << 16  # personal data: readable by its owner only
        with self.archive.open(info, "w", force_zip64=self.zip64) as member:
            hashing = _Hashing(member)
            result = write(hashing)
        self.files.append(PackagedFile(name, hashing.size, hashing.digest.hexdigest(),
                                       media_type))
        return result


def manifest_document(content: ExportContent, files: Iterable[PackagedFile]) -> dict[str, Any]:
    """The manifest's JSON: the case, the CSV conventions and every file's size and sum."""
    return {
        "format": MANIFEST_FORMAT,
        "version": content.version,
        "export_format": FORMAT,
        "case_reference": content.case.reference,
        "generated_at": content.generated_at.isoformat().replace("+00:00", "Z"),
        "schema": SCHEMA_NAME,
        "csv": {"encoding": "utf-8", "byte_order_mark": True,
                "delimiter": csv_delimiter(content.language), "line_terminator": "\r\n",
                "key_column": "_key"},
        "algorithm": "sha256",
        "files": [asdict(f) for f in files],
    }


def write_package(content: ExportContent, out: IO[bytes], *,
                  extra: Iterable[PackageMember] = (), zip64: bool = False) -> Manifest:
    """Write the ZIP for ``content`` to ``out`` (need not be seekable; not closed).

    ``extra`` members are added after the data files (the PDF report). ``zip64`` allows members
    over 2 GiB (a member's size is unknown before it is written, so this is decided up front)."""
    delimiter = csv_delimiter(content.language)
    date_time = content.generated_at.timetuple()[:6]
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        writer = _Writer(archive, date_time, zip64)
        records = writer.add(EXPORT_JSON, "application/json",
                             lambda stream: write_json(content, stream))
        writer.add(SCHEMA_NAME, "application/schema+json",
                   lambda stream: stream.write(schema_bytes()))
        for source in content.sources:
            for collection, rows in source.grouped():
                writer.add(csv_name(source.name, collection.name),
                           "text/csv; charset=utf-8; header=present",
                           lambda stream, c=collection, r=rows: write_csv(
                               c, r, stream, delimiter=delimiter))
        for member in extra:
            writer.add(member.name, member.media_type, member.write)
        manifest = json.dumps(manifest_document(content, writer.files), ensure_ascii=False,
                              indent=2).encode()
        info = zipfile.ZipInfo(MANIFEST, date_time=date_time)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o600 << 16
        archive.writestr(info, manifest)
    logger.info("package written: %d files, %d records", len(writer.files) + 1, records)
    return Manifest(tuple(writer.files), records)
