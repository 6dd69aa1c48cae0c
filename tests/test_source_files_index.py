"""The ``files`` connector's index: appended, truncated, replaced, rotated and hard-linked files,
two processes updating it at once, long files, a changed match, an index it cannot use."""

from __future__ import annotations

import logging
import multiprocessing
import os
import sqlite3
from pathlib import Path

import pytest

from dsar.sources import file_index
from dsar.sources.base import SourceError
from dsar.sources.config import load_sources
from dsar.sources.file_index import FileIndex
from dsar.sources.files import FilesConnector, update_index
from tests.support.files_source import (
    ACCESS,
    ACCOUNTS,
    SOURCES,
    discover,
    filler_log,
    load,
    log_line,
)


def test_appended_lines_are_found_without_reading_the_old_part(shop):
    instance, source = shop
    log = instance / "logs" / "access.log"
    lines = filler_log(100) + [log_line("v0001", "/formations")] + filler_log(100)
    log.write_text("".join(lines))
    before = discover(instance, source, visitor_id=["v0001"])
    assert len(before.records) == 1

    # An old line rewritten in place, same length, to look like hers: only a rescan of the
    # old part would find it. Then new lines appended.
    data = log.read_bytes()
    old = lines[50].encode()
    forged = old.replace(b"x0050", b"v0001")
    with log.open("r+b") as handle:
        handle.seek(data.index(old))
        handle.write(forged)
    appended = (log_line("v0001", "/compte") + log_line("x9999")).encode()
    with log.open("ab") as handle:
        handle.write(appended)

    stats = update_index(source, instance)
    assert stats["bytes_read"] == len(appended)
    assert stats["files_reset"] == 0 and stats["lines"] == 2
    with sqlite3.connect(instance / "source-index" / "shop.sqlite") as db:
        sizes = db.execute("SELECT indexed_size FROM files WHERE collection = 'access'"
                           ).fetchall()
    db.close()
    assert sizes == [(log.stat().st_size,)]

    after = discover(instance, source, visitor_id=["v0001"])
    assert [r.to_json() for r in after.records[:1]] == [r.to_json() for r in before.records]
    assert [r.fields["request"] for r in after.records] == ["GET /formations HTTP/1.1",
                                                            "GET /compte HTTP/1.1"]
    # A rebuild reads everything again (the remedy for files edited in place).
    assert update_index(source, instance, rebuild=True)["bytes_read"] > len(data)
    assert len(discover(instance, source, visitor_id=["v0001"]).records) == 3


def test_a_last_line_without_newline_is_found_and_keeps_its_key(shop):
    instance, source = shop
    log = instance / "logs" / "access.log"
    log.write_text(ACCESS[0] + ACCESS[1] + log_line("v0001", "/fin").rstrip("\n"))
    first = discover(instance, source, visitor_id=["v0001"])
    assert [r.fields["request"] for r in first.records] == ["GET /formations HTTP/1.1",
                                                            "GET /fin HTTP/1.1"]
    with log.open("a") as handle:
        handle.write("\n" + ACCESS[2])
    second = discover(instance, source, visitor_id=["v0001"])
    assert [r.key for r in second.records] == [r.key for r in first.records]


def test_a_truncated_or_replaced_file_is_indexed_again(shop):
    instance, source = shop
    log = instance / "logs" / "access.log"
    log.write_text("".join(filler_log(60) + [log_line("v0001", "/ancien")]))
    assert len(discover(instance, source, visitor_id=["v0001"]).records) == 1

    # Truncated in place (copytruncate) and written again: shorter, same inode.
    with log.open("r+") as handle:
        handle.truncate(0)
        handle.write(log_line("v0001", "/nouveau"))
    found = discover(instance, source, visitor_id=["v0001"])
    assert [r.to_json()["key"] for r in found.records] == ["access.log:0"]
    assert found.records[0].fields["request"] == "GET /nouveau HTTP/1.1"

    # Replaced by a longer file with other content (a new inode).
    replacement = instance / "logs" / "new.tmp"
    replacement.write_text(log_line("x0001") * 3 + log_line("v0001", "/remplacé"))
    os.replace(replacement, log)
    stats = update_index(source, instance)
    assert stats["files_reset"] == 1
    found = discover(instance, source, visitor_id=["v0001"])
    assert [r.fields["request"] for r in found.records] == ["GET /remplacé HTTP/1.1"]


def test_rotation_keeps_the_rotated_file_s_entries_and_skips_compressed(shop, caplog):
    instance, source = shop
    logs = instance / "logs"
    (logs / "access.log").write_text(log_line("v0001", "/lundi"))
    discover(instance, source, visitor_id=["v0001"])

    (logs / "access.log").rename(logs / "access.log.1")
    (logs / "access.log").write_text(log_line("v0001", "/mardi"))
    (logs / "access.log.2.gz").write_bytes(b"\x1f\x8b not read")
    with caplog.at_level(logging.WARNING, logger="dsar.sources.file_index"):
        stats = update_index(source, instance)
    assert stats["lines"] == 1  # only the new file: the rotated one kept its entries
    assert stats["files_skipped"] == 1
    assert any("compressed file skipped" in r.getMessage() for r in caplog.records)
    found = discover(instance, source, visitor_id=["v0001"])
    assert {r.key: r.fields["request"] for r in found.records} == {
        "access.log:0": "GET /mardi HTTP/1.1", "access.log.1:0": "GET /lundi HTTP/1.1"}

    (logs / "access.log.1").unlink()
    assert update_index(source, instance)["files_dropped"] == 1
    assert [r.key for r in discover(instance, source, visitor_id=["v0001"]).records] == [
        "access.log:0"]


def _update_in_child(instance: str, start, results) -> None:
    """Child process: wait for the other one, then update the shared index in small batches."""
    source = load_sources(Path(instance) / "sources.toml", {"files": FilesConnector},
                          instance)["shop"]
    connector = FilesConnector(source, instance_path=instance)
    start.wait(timeout=60)
    with FileIndex(connector.index_path, batch_lines=200) as index:
        results.put(index.update(connector.specs()).lines)


def test_two_processes_updating_one_index_index_each_line_once(shop):
    instance, source = shop
    lines = [log_line(f"v{n % 500:04d}", f"/p{n}", second=n % 60) for n in range(20_000)]
    (instance / "logs" / "access.log").write_text("".join(lines))
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(2), context.Queue()
    workers = [context.Process(target=_update_in_child, args=(str(instance), start, results))
               for _ in range(2)]
    for worker in workers:
        worker.start()
    counted = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
        worker.close()
    results.close()
    results.join_thread()

    # Every line read once in all: the log, the CSV (header included), the JSON lines.
    assert sum(counted) == 20_000 + 4 + 4
    with sqlite3.connect(instance / "source-index" / "shop.sqlite") as db:
        entries = db.execute("SELECT count(*) FROM entries e JOIN files f ON f.id = e.file_id "
                             "WHERE f.collection = 'access'").fetchone()[0]
    db.close()
    assert entries == 20_000
    found = discover(instance, source, visitor_id=["v0007"])
    assert sorted(r.fields["request"] for r in found.records) == sorted(
        f"GET /p{n} HTTP/1.1" for n in range(7, 20_000, 500))


def test_lines_are_found_in_every_chunk_of_a_long_file(shop, monkeypatch):
    # Entries are grouped by 64 MiB chunk of their file; 256-byte chunks here, so that the
    # lookup has to probe many.
    monkeypatch.setattr(file_index, "CHUNK_BITS", 8)
    instance, source = shop
    lines = [log_line(f"v{n % 7:04d}", f"/p{n}") for n in range(300)]
    (instance / "logs" / "access.log").write_text("".join(lines))
    found = discover(instance, source, visitor_id=["v0003"])
    assert sorted(r.fields["request"] for r in found.records) == sorted(
        f"GET /p{n} HTTP/1.1" for n in range(3, 300, 7))


def test_an_unusable_index_is_a_source_error_naming_nobody(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "accounts.csv").write_text(ACCOUNTS)
    (tmp_path / "blocked").write_text("a file where the index folder should be")
    source = load(tmp_path, SOURCES.replace('kind = "files"',
                                            'kind = "files"\nindex_dir = "{instance}/blocked"'))
    with pytest.raises(SourceError) as raised:
        discover(tmp_path, source["shop"], email=["jeanne.martin@example.fr"])
    assert "source shop" in str(raised.value)
    assert "jeanne" not in str(raised.value)


def test_changing_a_collection_s_match_indexes_it_again(shop):
    instance, source = shop
    assert len(discover(instance, source, visitor_id=["v0001"]).records) == 2
    changed = load(instance, SOURCES.replace('match = { visitor_id = "visitor_id" }',
                                             'match = { ip = "ip" }'))["shop"]
    stats = update_index(changed, instance)
    assert stats["files_dropped"] == 1 and stats["lines"] == len(ACCESS)
    found = discover(instance, changed, ip=["198.51.100.4"])
    assert [r.fields["request"] for r in found.records] == ["GET /panier HTTP/1.1"]


def test_a_hard_linked_copy_is_not_indexed_again_at_every_update(shop):
    instance, source = shop
    os.link(instance / "logs" / "access.log", instance / "logs" / "access.log.bak")
    assert update_index(source, instance)["files"] == 4
    again = update_index(source, instance)
    assert again["bytes_read"] == 0 and again["files_reset"] == 0
