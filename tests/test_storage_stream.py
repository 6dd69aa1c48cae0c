"""Streamed encrypted blobs: written and read in pieces, memory flat, tampering detected."""

from __future__ import annotations

import csv
import gc
import hashlib
import io
import json
import os
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from dsar.core import storage

SEG = storage.SEGMENT_BYTES
SEALED = SEG + storage.TAG_BYTES
HEADER = storage.HEADER_BYTES


def files(app) -> list[Path]:
    return sorted(p for p in Path(app.config["STORAGE_DIR"]).rglob("*") if p.is_file())


def write_blob(data: bytes, chunk: int = 10_007) -> storage.StoredBlob:
    with storage.writer() as out:
        for start in range(0, len(data), chunk):
            assert out.write(data[start:start + chunk]) == len(data[start:start + chunk])
    return out.blob


def stream_file(blob_id: str) -> Path:
    return storage.backend().path_of(storage._stream_name(blob_id))


@pytest.mark.parametrize("size", [0, 1, SEG - 1, SEG, SEG + 1, 2 * SEG, 5 * SEG + 12_345])
def test_round_trip_sizes(app, size):
    data = os.urandom(size)
    with app.app_context():
        blob = write_blob(data)
        assert (blob.size, blob.sha256) == (size, hashlib.sha256(data).hexdigest())
        assert storage.get(blob.blob_id) == data
        with storage.reader(blob.blob_id) as stream:
            assert stream.read() == data
            assert stream.read() == b""
        with storage.reader(blob.blob_id) as stream:  # small reads across segment boundaries
            pieces = iter(lambda: stream.read(4_099), b"")
            assert b"".join(pieces) == data
        with storage.reader(blob.blob_id) as stream:
            target = bytearray(size + 10)
            assert stream.readinto(target) == size
            assert target[:size] == data
        # The documented layout: a full segment is sealed as the last one, never followed by an
        # empty segment; an empty blob is one empty segment.
        segments = max(1, -(-size // SEG))
        assert stream_file(blob.blob_id).stat().st_size == HEADER + segments * 16 + size


def test_one_large_write_and_memoryview_input(app):
    data = os.urandom(3 * SEG + 5)
    with app.app_context():
        with storage.writer() as out:
            out.write(memoryview(data)[:10])
            out.write(bytearray(data[10:]))
        assert storage.get(out.blob.blob_id) == data
        with io.BufferedReader(storage.reader(out.blob.blob_id)) as buffered:
            assert buffered.read() == data


def test_json_and_csv_through_text_wrappers(app):
    rows = [{"id": i, "nom": f"Élodie Dupré n°{i}", "note": "ligne\navec retour"}
            for i in range(5_000)]
    with app.app_context():
        # json.dump into a plain TextIOWrapper over the binary writer.
        with storage.writer() as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            json.dump({"records": rows}, text)
            text.flush()
        with io.TextIOWrapper(storage.reader(raw.blob.blob_id), encoding="utf-8") as back:
            assert json.load(back) == {"records": rows}
        assert raw.blob.size > 2 * SEG  # several segments, so boundaries were crossed

        # csv.writer into text_writer(); read back by lines and with csv.reader.
        with storage.text_writer() as out:
            table = csv.writer(out)
            table.writerow(["id", "nom", "note"])
            for row in rows:
                table.writerow([row["id"], row["nom"], row["note"]])
        with io.TextIOWrapper(storage.reader(out.blob.blob_id), "utf-8", newline="") as back:
            parsed = list(csv.reader(back))
        assert parsed[0] == ["id", "nom", "note"]
        assert parsed[1:] == [[str(r["id"]), r["nom"], r["note"]] for r in rows]
        with storage.reader(out.blob.blob_id) as binary:
            lines = list(binary)
        assert b"".join(lines) == storage.get(out.blob.blob_id)
        assert lines[0] == b"id,nom,note\r\n" and all(line.endswith(b"\n") for line in lines)


def test_zip_written_into_a_stream(app):
    members = {"personne.json": b'{"nom": "Martin"}' * 10_000, "commandes.csv": os.urandom(SEG)}
    with app.app_context():
        with storage.writer() as out, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, content in members.items():
                with archive.open(name, "w") as member:
                    member.write(content)
        with zipfile.ZipFile(io.BytesIO(storage.get(out.blob.blob_id))) as archive:
            assert archive.testzip() is None
            assert {n: archive.read(n) for n in archive.namelist()} == members


def test_nothing_in_clear_on_disk_and_owner_only(app):
    line = "Camille Martin;camille.martin@example.fr;0612345678\n"
    with app.app_context(), storage.text_writer() as out:
        for _ in range(20_000):
            out.write(line)
    [path] = files(app)
    raw = path.read_bytes()
    assert path.name.endswith(".stream")
    for clear in (b"Camille", b"example.fr", b"0612345678"):
        assert clear not in raw
    assert os.stat(path).st_mode & 0o077 == 0


def test_failure_inside_writer_stores_nothing(app):
    with app.app_context():
        with pytest.raises(RuntimeError), storage.writer() as out:
            out.write(os.urandom(3 * SEG))
            raise RuntimeError("export failed")
        with pytest.raises(storage.BlobError):
            _ = out.blob
        with pytest.raises(RuntimeError), storage.text_writer() as text:
            text.write("Camille Martin\n" * 10_000)
            raise RuntimeError("export failed")
        abandoned = storage.writer()  # never committed, then dropped
        abandoned.write(os.urandom(SEG + 1))
        del abandoned
        gc.collect()
        closed = storage.writer()  # closed without commit: discarded, not stored half-written
        closed.write(b"partial")
        closed.close()
        with pytest.raises(storage.BlobError):
            closed.commit()
        assert not storage.exists(out.blob_id) and not storage.exists(text.buffer.blob_id)
    assert files(app) == []


def test_get_exists_delete_and_reader_for_both_formats(app):
    with app.app_context():
        old = storage.put(b"ancien format")
        new = write_blob(b"nouveau format")
        assert storage.get(old.blob_id) == b"ancien format"
        assert storage.get(new.blob_id) == b"nouveau format"
        with storage.reader(old.blob_id) as stream:
            assert stream.read() == b"ancien format"
        assert storage.exists(old.blob_id) and storage.exists(new.blob_id)
        assert storage.delete(new.blob_id) is True and storage.delete(new.blob_id) is False
        assert not storage.exists(new.blob_id)
        for missing in (new.blob_id, "ab" * 20):
            with pytest.raises(storage.BlobError):
                storage.get(missing)
            with pytest.raises(storage.BlobError):
                storage.reader(missing)
        with pytest.raises(storage.BlobError):
            storage.reader("../../etc/passwd")
        assert storage.get(old.blob_id) == b"ancien format"


def read_all(blob_id: str) -> bytes:
    with storage.reader(blob_id) as stream:
        return stream.read()


def tampered(path: Path, change) -> None:
    raw = bytearray(path.read_bytes())
    path.write_bytes(bytes(change(raw)))


def swap_first_two(raw: bytearray) -> bytearray:
    one, two = raw[HEADER:HEADER + SEALED], raw[HEADER + SEALED:HEADER + 2 * SEALED]
    return raw[:HEADER] + two + one + raw[HEADER + 2 * SEALED:]


def flip(offset: int):
    def change(raw: bytearray) -> bytearray:
        raw[offset] ^= 0x01
        return raw
    return change


CHANGES = {
    "byte in a middle segment": flip(HEADER + SEALED + 100),
    "byte in a tag": flip(HEADER + 2 * SEALED - 1),
    "byte in the last segment": flip(-1),
    "magic": flip(0),
    "version": flip(len(storage.STREAM_MAGIC)),
    "salt": flip(len(storage.STREAM_MAGIC) + 3),
    "nonce prefix": flip(HEADER - 1),
    "segments swapped": swap_first_two,
    "middle segment removed": lambda raw: raw[:HEADER + SEALED] + raw[HEADER + 2 * SEALED:],
    "last segment removed (cut at a boundary)": lambda raw: raw[:HEADER + 3 * SEALED],
    "cut inside a segment": lambda raw: raw[:HEADER + SEALED + 1_000],
    "cut inside the header": lambda raw: raw[:HEADER - 3],
    "only the header left": lambda raw: raw[:HEADER],
    "segment duplicated": lambda raw: raw[:HEADER + SEALED] + raw[HEADER:],
    "bytes appended": lambda raw: raw + b"\x00" * 20,
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_tampering_is_detected(app, change):
    data = os.urandom(3 * SEG + 500)  # three full segments and a short last one
    with app.app_context():
        blob = write_blob(data)
        assert read_all(blob.blob_id) == data
        tampered(stream_file(blob.blob_id), change)
        with pytest.raises(storage.BlobError):
            read_all(blob.blob_id)
        with pytest.raises(storage.BlobError):
            storage.get(blob.blob_id)


def test_truncation_of_an_exact_multiple_and_foreign_segments(app):
    with app.app_context():
        full = write_blob(os.urandom(2 * SEG))  # the last segment is full: a cut looks clean
        tampered(stream_file(full.blob_id), lambda raw: raw[:HEADER + SEALED])
        with pytest.raises(storage.BlobError):
            read_all(full.blob_id)

        a, b = write_blob(os.urandom(2 * SEG + 1)), write_blob(os.urandom(2 * SEG + 1))
        # Segment 1 of b spliced into a at the same position.
        b_raw = stream_file(b.blob_id).read_bytes()
        tampered(stream_file(a.blob_id), lambda raw: raw[:HEADER + SEALED]
                 + b_raw[HEADER + SEALED:HEADER + 2 * SEALED] + raw[HEADER + 2 * SEALED:])
        with pytest.raises(storage.BlobError):
            read_all(a.blob_id)


def test_blob_moved_to_another_id_or_format_fails(app):
    with app.app_context():
        a, b = write_blob(b"premier" * 1000), write_blob(b"second" * 1000)
        stream_file(a.blob_id).write_bytes(stream_file(b.blob_id).read_bytes())
        with pytest.raises(storage.BlobError):
            read_all(a.blob_id)

        # A streamed file under a one-shot name, and a one-shot file under a streamed name.
        c, old = write_blob(b"troisieme"), storage.put(b"ancien")
        root = Path(app.config["STORAGE_DIR"])
        old_path = root / old.blob_id[:2] / old.blob_id
        old_raw = old_path.read_bytes()
        old_path.write_bytes(stream_file(c.blob_id).read_bytes())
        with pytest.raises(storage.BlobError):
            storage.get(old.blob_id)
        old_path.unlink()
        stream_file(old.blob_id).write_bytes(old_raw)
        with pytest.raises(storage.BlobError):
            storage.get(old.blob_id)


def test_memory_stays_flat_for_64_mb(app):
    total, chunk = 64 * 1024 * 1024, 1024 * 1024 + 7  # odd chunk: never aligned to segments
    with app.app_context():
        storage.put(b"warm up")  # derive and cache the key outside the measurement
        tracemalloc.start()
        try:
            expected = hashlib.sha256()
            with storage.writer() as out:
                written = 0
                while written < total:
                    piece = os.urandom(min(chunk, total - written))
                    expected.update(piece)
                    out.write(piece)
                    written += len(piece)
                    del piece
            _, write_peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            actual = hashlib.sha256()
            with storage.reader(out.blob.blob_id) as stream:
                for piece in iter(lambda: stream.read(100_003), b""):
                    actual.update(piece)
            _, read_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert out.blob.size == total
        assert out.blob.sha256 == expected.hexdigest() == actual.hexdigest()
    # Writing: the test's 1 MiB chunk plus about two segments in the store. Reading by 100 kB:
    # the returned piece, the one before it, and the segments behind them.
    assert write_peak < 2 * 1024 * 1024, write_peak
    assert read_peak < 1024 * 1024, read_peak
    print(f"64 MB: write peak {write_peak / 2**20:.2f} MiB, read peak {read_peak / 2**20:.2f} MiB")
