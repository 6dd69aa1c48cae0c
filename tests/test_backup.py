"""``dsar backup`` and ``dsar restore``: a running instance with cases at every stage is backed
up, its machine lost, and restored into a new instance folder (the master key copied there
apart): the audit trail is intact, a released package downloads with a new code, a proof
still decrypts, a link e-mailed before the backup still works. What a restore refuses is in
tests/test_backup_refusals.py.

SQLite by default; PostgreSQL (pg_dump / pg_restore into a second database) when
``DSAR_TEST_DATABASE_URL`` is set."""

from __future__ import annotations

import hashlib
import shutil
import stat
import threading
import time

import pytest
from flask_migrate import upgrade
from sqlalchemy import text

from dsar.cases.proofs import store_upload
from dsar.cases.workflow import create_case
from dsar.core import storage
from dsar.core.audit import start_chain
from dsar.extensions import db
from dsar.models import (
    Case,
    CaseKind,
    CaseStatus,
    ExportPackage,
    IdentityProof,
    PackageStatus,
    ProofKind,
)
from dsar.ops import backup as backup_module
from tests.support.app import dispose
from tests.support.backup_world import (
    PROOF,
    WAITING,
    a_case_with_a_proof,
    back_up,
    cli,
    count_cases,
    forge,
    instance_app,
    last_two_migrations,
    manifest_of,
    new_instance,
    populate,
    restore_target,
    running_source,
)
from tests.support.delivery import ask_code, emailed_code, enter_code
from tests.support.forms import csrf_from
from tests.support.gathering import case_status

_source = pytest.fixture(name="source")(running_source)
_target = pytest.fixture(name="target")(restore_target)


def test_a_backup_of_a_running_instance_restores_into_a_new_one(source, target, org,
                                                                smtp_server, tmp_path):
    world = populate(source, smtp_server)
    trail = cli(source, "audit", "verify")
    assert trail.exit_code == 0 and "intact" in trail.stdout

    archive = back_up(source, tmp_path / "backups")
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert [p.name for p in archive.parent.iterdir()] == [archive.name]  # no partial left
    manifest = manifest_of(archive)
    names = {f["path"] for f in manifest["files"]}
    assert {"config/sources.toml", "config/register.toml"} <= names
    assert not any(n.startswith("key/") for n in names) and not manifest["key_included"]
    assert manifest["storage"] == "local" and manifest["alembic_revision"]
    assert f"storage/{world.proof_blob_id[:2]}/{world.proof_blob_id}" in names

    shutil.rmtree(org / "storage")  # the old machine is gone: nothing may be read from it
    restore = cli(target.app(), "restore", str(archive))
    assert restore.exit_code == 0, restore.output
    assert "dsar audit verify" in restore.stdout and "dsar doctor" in restore.stdout
    assert (target.folder / "sources.toml").read_text() == (org / "sources.toml").read_text()

    restored = target.app()  # started again, with the restored configuration
    after = cli(restored, "audit", "verify")
    assert after.exit_code == 0 and after.stdout == trail.stdout  # same events, intact

    with restored.app_context():
        assert storage.get(world.proof_blob_id) == PROOF  # the proof still decrypts
        proof = db.session.query(IdentityProof).filter_by(case_id=world.proof_case_id).one()
        assert proof.blob_id == world.proof_blob_id and proof.deleted_at is None
        in_review = db.session.get(Case, world.review_case_id)
        assert in_review.status is CaseStatus.REVIEW
        assert db.session.query(ExportPackage).filter_by(
            case_id=in_review.id, status=PackageStatus.READY).count() == 1

    # The released answer downloads again, with a new code, from the status link e-mailed
    # before the backup.
    browser = restored.test_client()
    assert browser.get(world.released_status_path).status_code == 302
    assert ask_code(browser, world.released_reference).status_code == 302
    code = emailed_code(restored, smtp_server)
    download = enter_code(browser, world.released_reference, code)
    assert download.status_code == 200 and download.mimetype == "application/zip"
    assert hashlib.sha256(download.get_data()).hexdigest() == world.package_sha256

    # The requester who had not confirmed yet still can, with the link they were sent.
    requester = restored.test_client()
    page = requester.get(world.waiting_confirm_path)
    assert page.status_code == 200
    assert requester.post(world.waiting_confirm_path, data={
        "csrf_token": csrf_from(page.get_data(as_text=True))}).status_code == 302
    with restored.app_context():
        waiting = db.session.query(Case).filter_by(email_normalized=WAITING).one()
    assert case_status(restored, waiting.id) is CaseStatus.CONFIRMED


def test_blobs_kept_in_the_database_come_back_with_it(org, app, database_url, redis_url,
                                                      key_file, smtp_server, target, tmp_path,
                                                      monkeypatch):
    """``STORAGE_URL = "database:"``: the blobs are rows of the dump, nothing else to copy."""
    if not database_url.startswith("postgresql"):
        pytest.skip("blobs in the database need PostgreSQL: set DSAR_TEST_DATABASE_URL")
    shared = instance_app(monkeypatch, org, database_url, redis_url, key_file, smtp_server.port,
                          STORAGE_URL="database:")
    try:
        blob_id = a_case_with_a_proof(shared)
        archive = back_up(shared, tmp_path / "backups")
    finally:
        dispose(shared)
    manifest = manifest_of(archive)
    assert manifest["storage"] == "database"
    assert not any(f["path"].startswith("storage/") for f in manifest["files"])

    local = target.app()  # a folder-backed instance cannot take it: said, nothing changed
    refused = cli(local, "restore", str(archive))
    assert refused.exit_code == 1 and "STORAGE_URL" in refused.stderr, refused.output
    assert count_cases(local) == 0

    target.overrides["STORAGE_URL"] = "database:"
    result = cli(target.app(), "restore", str(archive))
    assert result.exit_code == 0, result.output
    with target.app().app_context():
        assert storage.get(blob_id) == PROOF


def test_a_backup_taken_while_requests_arrive_is_consistent(source, target, tmp_path,
                                                            monkeypatch):
    """Requests keep arriving, each with its proof, while the backup runs, and some between
    the database's snapshot and the copy of the storage folder (the window the order of the
    two is about): the restored trail is intact and every proof the restored database names
    is in the restored storage."""
    stop, written, failures = threading.Event(), [], []

    def requests_arrive() -> None:
        try:
            with source.app_context():
                while not stop.is_set():
                    proof = store_upload((PROOF, "application/pdf"), ProofKind.IDENTITY)
                    case = create_case(kind=CaseKind.ACCESS, requester_name="Camille Martin",
                                       requester_email=f"c{len(written)}@example.fr",
                                       language="fr", proofs=[proof])
                    db.session.commit()
                    written.append(case.id)
        except Exception as exc:  # noqa: BLE001 -- reported by the test below
            failures.append(exc)

    def wait_for(count: int) -> None:
        deadline = time.monotonic() + 30
        while len(written) < count and time.monotonic() < deadline and writer.is_alive():
            time.sleep(0.01)
        assert len(written) >= count, failures

    copy_storage = backup_module._add_storage
    after_snapshot = []

    def storage_copied_later(archive, root):
        after_snapshot.append(len(written))
        wait_for(len(written) + 3)  # three more requests filed after the snapshot
        return copy_storage(archive, root)

    monkeypatch.setattr(backup_module, "_add_storage", storage_copied_later)
    writer = threading.Thread(target=requests_arrive)
    writer.start()
    try:
        wait_for(3)
        archive = back_up(source, tmp_path / "backups")
    finally:
        stop.set()
        writer.join(30)
    assert not failures and after_snapshot

    assert cli(target.app(), "restore", str(archive)).exit_code == 0
    restored = target.app()
    verified = cli(restored, "audit", "verify")
    assert verified.exit_code == 0, verified.output
    with restored.app_context():
        proofs = db.session.query(IdentityProof).all()
        assert len(proofs) >= 3
        for proof in proofs:
            assert hashlib.sha256(storage.get(proof.blob_id)).hexdigest() == proof.sha256
    # The blobs of the requests filed after the snapshot came along, named by no row.
    assert manifest_of(archive)["blob_count"] >= len(proofs) + 3


def test_an_older_archive_is_upgraded_and_a_newer_one_refused(redis_url, key_file, smtp_server,
                                                              tmp_path, monkeypatch):
    head, previous = last_two_migrations()
    old_folder = tmp_path / "old"
    old_folder.mkdir()
    old = instance_app(monkeypatch, old_folder, f"sqlite:///{old_folder / 'dsar.sqlite3'}",
                       redis_url, key_file, smtp_server.port)
    with old.app_context():  # an instance still on the previous version's schema
        upgrade(revision=previous)
        start_chain()
        db.session.commit()
    archive = back_up(old, tmp_path / "backups")
    dispose(old)
    assert manifest_of(archive)["alembic_revision"] == previous

    def fresh_instance(name: str):
        folder = new_instance(tmp_path / name, key_file)
        return folder, instance_app(monkeypatch, folder, f"sqlite:///{folder / 'dsar.sqlite3'}",
                                    redis_url, folder / "dsar.key", smtp_server.port)

    newer = tmp_path / "newer.tar"  # signed with the right key: only the revision is wrong
    forge(archive, newer, sign_with=key_file, alembic_revision="9999_from_the_future")
    folder, fresh = fresh_instance("refuses")
    refused = cli(fresh, "restore", str(newer))
    assert refused.exit_code == 1 and "does not know" in refused.stderr, refused.output
    assert count_cases(fresh) == 0 and not (folder / "storage").exists()
    dispose(fresh)

    folder, fresh = fresh_instance("upgrades")
    result = cli(fresh, "restore", str(archive))
    assert result.exit_code == 0, result.output
    assert f"upgraded from migration {previous} to {head}" in result.stdout
    dispose(fresh)
    restored = instance_app(monkeypatch, folder, f"sqlite:///{folder / 'dsar.sqlite3'}",
                            redis_url, folder / "dsar.key", smtp_server.port)
    try:
        assert cli(restored, "audit", "verify").exit_code == 0
        with restored.app_context():
            assert db.session.execute(text("SELECT version_num FROM alembic_version")
                                      ).scalar() == head
    finally:
        dispose(restored)
