"""Blobs kept in the application's PostgreSQL database (``STORAGE_URL = "database:"``): the same
encryption and the same API as the local folder, nothing written to disk, a blob invisible to
other connections until committed, tampering detected, memory flat while streaming."""

from __future__ import annotations

import gc
import hashlib
import os
import tracemalloc

import pytest
from sqlalchemy import func, select, text, update

from dsar import create_app
from dsar.core import storage
from dsar.core.blob_backends import CHUNK_BYTES, StorageConfigError, storage_dir_of
from dsar.extensions import db
from dsar.models import blob_chunks
from tests.support.app import app_config, reset_state

POSTGRES = (os.environ.get("DSAR_TEST_DATABASE_URL") or "").startswith("postgresql")
needs_postgres = pytest.mark.skipif(
    not POSTGRES, reason="blobs in the database: set DSAR_TEST_DATABASE_URL to PostgreSQL")


@pytest.fixture
def db_app(schema, database_url, redis_url, key_file, smtp_server, tmp_path):
    """The app with its blobs in its database; its (unused) storage folder under tmp_path."""
    app = create_app({**app_config(database_url, redis_url, key_file, tmp_path / "storage",
                                   smtp_server.port), "STORAGE_URL": "database:"})
    yield app
    reset_state(app, redis_url, smtp_server)


def chunk_rows() -> int:
    return db.session.scalar(select(func.count()).select_from(blob_chunks))


@needs_postgres
@pytest.mark.parametrize("size", [0, 1, CHUNK_BYTES - 1, CHUNK_BYTES + 1, 3 * CHUNK_BYTES + 7])
def test_streamed_blobs_round_trip_through_the_database(db_app, tmp_path, size):
    data = os.urandom(size)
    with db_app.app_context():
        assert storage.backend().kind == "database"
        with storage.writer() as out:
            for start in range(0, size, 50_000):
                out.write(data[start:start + 50_000])
        blob = out.blob
        assert (blob.size, blob.sha256) == (size, hashlib.sha256(data).hexdigest())
        with storage.reader(blob.blob_id) as stream:
            assert stream.read() == data
        assert storage.get(blob.blob_id) == data
        assert storage.exists(blob.blob_id)
        # Rows of at most a mebibyte, holding ciphertext only.
        rows = db.session.execute(select(blob_chunks.c.data)).scalars().all()
        assert all(len(row) <= CHUNK_BYTES for row in rows)
        if size >= 16:
            assert not any(data[:16] in bytes(row) for row in rows)
        assert storage.delete(blob.blob_id)
        assert not storage.exists(blob.blob_id)
        assert chunk_rows() == 0
    assert not (tmp_path / "storage").exists()  # nothing on this host's disk


@needs_postgres
def test_one_shot_blobs_and_the_writable_check(db_app):
    with db_app.app_context():
        blob = storage.put(b"justificatif")
        assert storage.get(blob.blob_id) == b"justificatif"
        assert storage.reader(blob.blob_id).read() == b"justificatif"
        storage.check_writable()  # leaves nothing behind
        assert chunk_rows() == 1
        storage.delete(blob.blob_id)
        with pytest.raises(storage.BlobError):
            storage.get(blob.blob_id)


@needs_postgres
def test_a_blob_is_invisible_until_committed_and_a_discarded_one_leaves_nothing(db_app):
    with db_app.app_context():
        out = storage.writer()
        out.write(os.urandom(2 * CHUNK_BYTES + 5))  # two rows already inserted
        with db.engine.connect() as other:
            assert other.scalar(text("SELECT count(*) FROM blob_chunks")) == 0
        assert not storage.exists(out.blob_id)
        out.commit()
        assert storage.exists(out.blob_id)

        with pytest.raises(RuntimeError), storage.writer() as failed:
            failed.write(os.urandom(CHUNK_BYTES + 1))
            raise RuntimeError("the build failed")
        assert not storage.exists(failed.blob_id)
        assert {row.name for row in db.session.execute(select(blob_chunks.c.name))} == {
            out.blob_id + ".stream"}


@needs_postgres
def test_a_row_altered_in_the_database_fails_authentication(db_app):
    with db_app.app_context():
        with storage.writer() as out:
            out.write(os.urandom(CHUNK_BYTES + 100))
        name = out.blob_id + ".stream"
        with db.engine.begin() as conn:
            data = bytearray(conn.scalar(select(blob_chunks.c.data).where(
                blob_chunks.c.name == name, blob_chunks.c.seq == 1)))
            data[10] ^= 1
            conn.execute(update(blob_chunks).where(blob_chunks.c.name == name,
                                                   blob_chunks.c.seq == 1)
                         .values(data=bytes(data)))
        with pytest.raises(storage.BlobError), storage.reader(out.blob_id) as stream:
            stream.read()


@needs_postgres
def test_streaming_a_large_blob_keeps_memory_flat(db_app):
    size = 24 * 1024 * 1024
    with db_app.app_context():
        gc.collect()
        tracemalloc.start()
        with storage.writer() as out:
            piece = os.urandom(256 * 1024)
            for _ in range(size // len(piece)):
                out.write(piece)
        with storage.reader(out.blob_id) as stream:
            while stream.read(256 * 1024):
                pass
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB for a {size / 1e6:.0f} MB blob"


@needs_postgres
def test_every_connection_a_blob_takes_goes_back_to_the_pool(db_app):
    with db_app.app_context():
        pool = db.engine.pool
        before = pool.checkedout()
        blob = storage.put(b"x" * 10)
        storage.get(blob.blob_id)
        with storage.writer() as out:
            out.write(os.urandom(CHUNK_BYTES + 1))
        with storage.reader(out.blob_id) as stream:
            stream.read(10)  # closed before its end
        abandoned = storage.writer()
        abandoned.write(b"half")
        abandoned.close()  # discarded
        storage.check_writable()
        storage.delete(blob.blob_id)
        assert pool.checkedout() == before


def test_the_database_backend_is_refused_at_start_on_sqlite(tmp_path):
    with pytest.raises(StorageConfigError, match="needs PostgreSQL"):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}",
                    "STORAGE_URL": "database:", "MASTER_KEY_FILE": str(tmp_path / "k"),
                    "SECRET_KEY": "test"})


def test_the_database_backend_is_refused_on_sqlite(app, tmp_path):
    if POSTGRES:
        pytest.skip("the suite runs on PostgreSQL")
    app.config["STORAGE_URL"] = "database:"
    app.extensions.pop("dsar_blob_backend", None)
    with app.app_context(), pytest.raises(StorageConfigError, match="needs PostgreSQL"):
        storage.put(b"x")


@pytest.mark.parametrize(("url", "folder"), [
    (None, None), ("", None), ("database:", None),
    ("file:///srv/dsar/storage", "/srv/dsar/storage"),
    ("file://localhost/var/lib/dsar%20blobs", "/var/lib/dsar blobs"),
])
def test_storage_url_names_a_folder_or_the_database(url, folder):
    assert storage_dir_of(url) == folder


@pytest.mark.parametrize("url", ["s3://bucket", "file:relative/path", "file://otherhost/x",
                                 "database://host/db", "/srv/dsar/storage"])
def test_a_storage_url_this_version_cannot_use_is_named(url):
    with pytest.raises(StorageConfigError, match="STORAGE_URL"):
        storage_dir_of(url)
