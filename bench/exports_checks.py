"""The checks of ``bench/exports.py``: what a build stored, opened and compared with the
records seeded for the person (so a fast broken build cannot pass).
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

from bench.exports_data import Person


def _sha256(stream: io.BufferedIOBase) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    while chunk := stream.read(1 << 20):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def check_package(app, case_id: int, person: Person, workdir: Path,
                  deep: bool = True) -> dict:
    """Check what the build stored for ``case_id``: one ready package whose record count is
    the number seeded; the encrypted blob decrypts to the ZIP whose sum the row holds; the ZIP
    is sound; every manifest sum matches; ``export.json`` holds each collection's records;
    each CSV a row per record; ``report.pdf`` is a PDF naming the case's reference with
    ``export.json`` attached. Raises AssertionError on the first fault; returns sizes."""
    from sqlalchemy import select

    from dsar.core import storage
    from dsar.extensions import db
    from dsar.models import Case, ExportPackage, PackageStatus

    with app.app_context():
        reference = db.session.get(Case, case_id).reference
        rows = db.session.scalars(select(ExportPackage).where(
            ExportPackage.case_id == case_id)).all()
        assert len(rows) == 1, f"case {case_id}: {len(rows)} packages"
        row = rows[0]
        assert row.status is PackageStatus.READY, row.status
        assert row.record_count == person.total, (row.record_count, person.total)
        target = workdir / f"package-{case_id}.zip"
        with storage.reader(row.blob_id) as blob, target.open("wb") as out:
            while chunk := blob.read(1 << 20):
                out.write(chunk)
        stored = sum(p.stat().st_size for p in Path(app.config["STORAGE_DIR"]).rglob("*")
                     if row.blob_id in p.name)
        assert stored > 0, "the package's blob is not in storage"
        with target.open("rb") as handle:
            assert _sha256(handle) == (row.sha256, row.size), "the ZIP's sum or size differs"
    sizes: dict[str, int] = {"zip": target.stat().st_size, "stored": stored}
    try:
        with zipfile.ZipFile(target) as archive:
            assert archive.testzip() is None, "a ZIP member is corrupt"
            manifest = json.loads(archive.read("manifest.json"))
            listed = {f["name"]: f for f in manifest["files"]}
            names = set(archive.namelist())
            assert names == {*listed, "manifest.json"}, "the manifest does not list every file"
            for name, entry in listed.items():
                with archive.open(name) as member:
                    assert _sha256(member) == (entry["sha256"], entry["size"]), name
            sizes["export.json"] = listed["export.json"]["size"]
            sizes["csv"] = sum(e["size"] for n, e in listed.items() if n.endswith(".csv"))
            sizes["report.pdf"] = listed["report.pdf"]["size"]
            for (source, collection), count in person.counts.items():
                with archive.open(f"csv/{source}/{collection}.csv") as member:
                    lines = sum(1 for _ in io.TextIOWrapper(member, encoding="utf-8-sig",
                                                            newline=""))
                # Values hold no line break here, so one line is one row (plus the header).
                assert lines == count + 1, (source, collection, lines, count)
            if deep:
                _check_json(archive, person)
                _check_pdf(archive, reference, listed["export.json"])
    finally:
        target.unlink()
    return sizes


def _check_json(archive: zipfile.ZipFile, person: Person) -> None:
    with archive.open("export.json") as member:
        document = json.load(member)
    assert document["summary"]["records"] == person.total
    found = {(s["name"], c["name"]): len(c["records"])
             for s in document["sources"] for c in s["collections"]}
    assert found == person.counts, (found, person.counts)
    emails = {r["fields"].get("email", "").lower() for s in document["sources"]
              for c in s["collections"] for r in c["records"] if "email" in r["fields"]}
    assert emails == {person.email}, "another person's address is in the export"


def _check_pdf(archive: zipfile.ZipFile, reference: str, json_entry: dict) -> None:
    """The PDF opens, shows the reference, and carries export.json byte for byte, unless
    export.json is over the attachment limit (then it must not be attached at all)."""
    from pypdf import PdfReader

    from dsar.config import DEFAULTS

    data = archive.read("report.pdf")
    assert data.startswith(b"%PDF-"), "report.pdf is not a PDF"
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) > 0
    text = reader.pages[0].extract_text() + (reader.pages[1].extract_text()
                                             if len(reader.pages) > 1 else "")
    assert reference in text, "the case's reference is not on the report's first pages"
    attached = reader.attachments.get("export.json")
    if json_entry["size"] > DEFAULTS["PDF_ATTACHMENT_MAX_BYTES"]:
        assert not attached, "an export.json over the limit is attached to the PDF"
        return
    assert attached, "export.json is not attached to the PDF"
    assert hashlib.sha256(attached[0]).hexdigest() == json_entry["sha256"], (
        "the PDF's export.json differs from the package's")
