"""The encrypted blob store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dsar.core import storage


def test_round_trip_and_ciphertext_on_disk(app):
    plaintext = b"%PDF-1.4 carte d'identite Camille Martin 123456789" * 100
    with app.app_context():
        blob = storage.put(plaintext)
        assert storage.get(blob.blob_id) == plaintext
        assert blob.size == len(plaintext)
        on_disk = next(p for p in Path(app.config["STORAGE_DIR"]).rglob("*") if p.is_file())
        raw = on_disk.read_bytes()
        assert b"Camille" not in raw and b"123456789" not in raw
        assert os.stat(on_disk).st_mode & 0o077 == 0  # readable by the service account only


def test_tampered_blob_fails_authentication(app):
    with app.app_context():
        blob = storage.put(b"secret")
        path = next(p for p in Path(app.config["STORAGE_DIR"]).rglob("*") if p.is_file())
        data = bytearray(path.read_bytes())
        data[-1] ^= 1
        path.write_bytes(bytes(data))
        with pytest.raises(storage.BlobError):
            storage.get(blob.blob_id)


def test_blob_moved_to_another_id_fails(app):
    with app.app_context():
        a, b = storage.put(b"first"), storage.put(b"second")
        root = Path(app.config["STORAGE_DIR"])
        (root / a.blob_id[:2] / a.blob_id).write_bytes(
            (root / b.blob_id[:2] / b.blob_id).read_bytes())
        with pytest.raises(storage.BlobError):
            storage.get(a.blob_id)


def test_delete_and_malformed_ids(app):
    with app.app_context():
        blob = storage.put(b"x")
        assert storage.delete(blob.blob_id) is True
        assert storage.exists(blob.blob_id) is False
        with pytest.raises(storage.BlobError):
            storage.get(blob.blob_id)
        with pytest.raises(storage.BlobError):
            storage.get("../../etc/passwd")


def test_ids_are_random(app):
    with app.app_context():
        ids = {storage.put(b"same").blob_id for _ in range(20)}
    assert len(ids) == 20
