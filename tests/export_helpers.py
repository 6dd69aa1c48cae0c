"""The demo organisation, served for real (its CRM and newsletter APIs over HTTP on 127.0.0.1),
and a demo person's case gathered through the real pipeline, for the export tests."""

from __future__ import annotations

import io
import json
import zipfile
from contextlib import contextmanager
from pathlib import Path

from jsonschema import Draft202012Validator
from sqlalchemy import select

from dsar import create_app
from dsar.core import storage
from dsar.demo.org import generate, write_config
from dsar.demo.services import crm_app, newsletter_app, serve
from dsar.exports import load_schema
from dsar.exports.content import CollectionContent, FieldInfo, build_content
from dsar.exports.information import Coded
from dsar.exports.package import write_package
from dsar.extensions import db
from dsar.models import Case, CaseKind, CaseStatus, ExportPackage, PackageStatus
from tests.conftest import _config, run_queued_jobs
from tests.gather_helpers import dispose, verified_case
from tests.test_gathering import case_status, start

CRM_TOKEN, NEWSLETTER_KEY = "crm-secret", "newsletter-secret"


@contextmanager
def demo_app(demo_data: Path, tmp_path: Path, monkeypatch, database_url, redis_url, key_file,
             smtp_server):
    """An app configured with the demo organisation's six sources (``demo_data`` is a folder
    written by ``generate``); the two APIs run until the block ends."""
    (tmp_path / "demo-org").symlink_to(demo_data)
    monkeypatch.setenv("HORIZON_CRM_TOKEN", CRM_TOKEN)
    monkeypatch.setenv("HORIZON_NEWSLETTER_API_KEY", NEWSLETTER_KEY)
    monkeypatch.setenv("DSAR_INSTANCE_PATH", str(tmp_path))
    servers = [serve(crm_app(demo_data / "crm.sqlite", CRM_TOKEN)),
               serve(newsletter_app(demo_data / "newsletter.sqlite", NEWSLETTER_KEY))]
    write_config(tmp_path, crm_url=f"http://127.0.0.1:{servers[0][2]}",
                 newsletter_url=f"http://127.0.0.1:{servers[1][2]}")
    config = _config(database_url, redis_url, key_file, tmp_path / "storage", smtp_server.port)
    config.update(SOURCES_FILE=str(tmp_path / "sources.toml"),
                  REGISTER_FILE=str(tmp_path / "register.toml"), GATHER_RETRY_INTERVALS=[])
    app = create_app(config)
    try:
        yield app
    finally:
        dispose(app)
        for server, thread, _ in servers:
            server.shutdown()
            server.server_close()
            thread.join(10)


def make_demo_data(tmp_path_factory) -> Path:
    """The demo organisation's data for 120 people."""
    target = tmp_path_factory.mktemp("org") / "demo-org"
    generate(target, 120)
    return target


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
