"""A demo person's case gathered through the real pipeline, and its package read back, for the
export tests."""

from __future__ import annotations

import io
import json
import zipfile

from jsonschema import Draft202012Validator
from sqlalchemy import select

from dsar.core import storage
from dsar.exports import load_schema
from dsar.exports.content import CollectionContent, FieldInfo, build_content
from dsar.exports.information import Coded
from dsar.exports.package import write_package
from dsar.extensions import db
from dsar.models import Case, CaseKind, CaseStatus, ExportPackage, PackageStatus
from tests.support.gathering import case_status, start, verified_case
from tests.support.workers import run_queued_jobs


def gathered_case(app, email: str, *, language: str = "fr", failures: int = 0,
                  kind: CaseKind = CaseKind.ACCESS) -> int:
    """The id of a case of ``email`` (an access case unless ``kind`` says otherwise), searched
    through real workers (``failures``: how many sources are expected to fail); its package is
    built by then."""
    case = verified_case(app, email, kind=kind)
    with app.app_context():
        db.session.get(Case, case.id).language = language
        db.session.commit()
    start(app, case.id)
    assert run_queued_jobs(app) == failures
    assert case_status(app, case.id) is CaseStatus.REVIEW
    return case.id


def package_of(app, case_id: int) -> tuple[bytes, object]:
    """The ZIP of the case's answer (bytes) and the manifest :func:`write_package` returned."""
    out = io.BytesIO()
    with app.app_context():
        case = db.session.scalar(select(Case).where(Case.id == case_id))
        manifest = write_package(build_content(case), out)
    return out.getvalue(), manifest


def export_document(zip_bytes: bytes) -> dict:
    """``export.json`` read back from a package."""
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
        return json.loads(archive.read("export.json"))


def validator() -> Draft202012Validator:
    """The shipped schema's validator, with format checking on."""
    return Draft202012Validator(load_schema(),
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


def collection(*fields: str) -> CollectionContent:
    """A collection "notes" of free-text ``fields`` (for the writers' own tests)."""
    return CollectionContent(
        name="notes", record_count=2, erasure="delete", withheld=(),
        fields=tuple(FieldInfo(f, Coded("free_text", "Free text")) for f in fields))


def built_package(app, case_id: int) -> tuple[bytes, ExportPackage]:
    """The ZIP of the case's current package, as the build job stored it (decrypted), and its
    row (detached)."""
    with app.app_context():
        package = db.session.scalar(select(ExportPackage).where(
            ExportPackage.case_id == case_id, ExportPackage.status == PackageStatus.READY))
        assert package is not None, "no package built"
        with storage.reader(package.blob_id) as stream:
            data = stream.read()
        db.session.expunge(package)
    return data, package


def zip_members(zip_bytes: bytes) -> dict[str, bytes]:
    """Every file of a package, decompressed."""
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


class NonSeekable(io.RawIOBase):
    """A write-only stream that cannot seek or tell, like the encrypting storage writer."""

    def __init__(self):
        self.buffer = io.BytesIO()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        return self.buffer.write(bytes(data))
