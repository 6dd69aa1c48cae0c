"""The ``files`` connector: CSV, JSON lines and access logs on real files, through its index."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import sqlite3
from pathlib import Path

import pytest

from dsar.sources import file_index
from dsar.sources.base import Identity, SourceConfigError, SourceError
from dsar.sources.config import load_sources
from dsar.sources.file_index import FileIndex
from dsar.sources.files import FilesConnector, update_index

SOURCES = """
[sources.shop]
kind = "files"
[sources.shop.collections.accounts]
paths = ["{instance}/data/accounts*.csv"]
format = "csv"
delimiter = ";"
match = { email = "email" }
yields = { customer_id = "id" }
exclude = ["password_hash"]
erasure = "delete"
fields = { id = "identification", email = "contact" }
[sources.shop.collections.events]
paths = ["{instance}/data/events.jsonl"]
format = "jsonl"
match = { customer_id = "customer" }
yields = { visitor_id = "visitor" }
erasure = "delete"
fields = { customer = "identification" }
[sources.shop.collections.access]
paths = ["{instance}/logs/access.log*"]
format = "access_log"
log_format = "combined_visitor"
match = { visitor_id = "visitor_id" }
erasure = "delete"
fields = { visitor_id = "identification", ip = "connection" }
"""

ACCOUNTS = (
    'id;email;first_name;last_name;address;password_hash\n'
    '1;jeanne.martin@example.fr;Jeanne;Martin;"12 rue Haute\n67000 Strasbourg";$scrypt$aaa\n'
    '2;jeanne.martin@example.com;Jeanne;Martin;"3 quai Bas";$scrypt$bbb\n'
    '3;paul.durand@example.fr;Paul;Durand;"1 place Kléber";$scrypt$ccc\n'
)
EVENTS = [
    {"customer": "1", "visitor": "v0001", "event": "signup", "meta": {"plan": "pro"}},
    {"customer": "2", "visitor": "v0002", "event": "note",
     "text": "wrote about jeanne.martin@example.fr"},
    {"customer": 1, "event": "order", "lines": [{"sku": "PY-1", "qty": 1}]},
]


def log_line(vid: str, path: str = "/", ip: str = "203.0.113.7", second: int = 0) -> str:
    return (f'{ip} - - [10/Oct/2025:13:55:{second:02d} +0200] "GET {path} HTTP/1.1" 200 512 '
            f'"-" "Mozilla/5.0" vid={vid}\n')


ACCESS = [
    log_line("v0001", "/formations"),
    log_line("v0002", "/compte?email=jeanne.martin@example.fr"),  # someone else, same IP
    log_line("-", "/", second=1),
    log_line("v0001", "/panier", ip="198.51.100.4", second=2),
]


@pytest.fixture
def shop(tmp_path):
    """A source of three collections on real files; returns (instance folder, SourceConfig)."""
    (tmp_path / "data").mkdir()
    (tmp_path / "logs").mkdir()
    (tmp_path / "data" / "accounts.csv").write_bytes(ACCOUNTS.encode())
    (tmp_path / "data" / "events.jsonl").write_text(
        json.dumps(EVENTS[0]) + "\n{not json\n" + json.dumps(EVENTS[1]) + "\n"
        + json.dumps(EVENTS[2]) + "\n")
    (tmp_path / "logs" / "access.log").write_text("".join(ACCESS))
    return tmp_path, load(tmp_path, SOURCES)["shop"]


def load(instance: Path, text: str) -> dict:
    (instance / "sources.toml").write_text(text)
    return load_sources(instance / "sources.toml", {"files": FilesConnector}, instance)


def discover(instance: Path, source, **identifiers):
    with FilesConnector(source, instance_path=instance) as connector:
        return connector.discover(Identity.of(**identifiers))


def by_collection(found) -> dict[str, list[dict]]:
    result: dict[str, list[dict]] = {}
    for record in found.records:
        result.setdefault(record.collection, []).append(record.fields)
    return result


def test_follows_the_person_from_email_to_visits_and_nothing_else(shop):
    instance, source = shop
    found = discover(instance, source, email=["Jeanne.Martin@EXAMPLE.fr"])
    got = by_collection(found)

    # CSV: the e-mail matched in another letter case; the near-twin (same name, other
    # address) is not returned; the quoted multi-line address is whole; the hash is excluded.
    assert got["accounts"] == [{"id": "1", "email": "jeanne.martin@example.fr",
                                "first_name": "Jeanne", "last_name": "Martin",
                                "address": "12 rue Haute\n67000 Strasbourg"}]
    # JSONL, found by the customer id the account yields (number or text alike); nested
    # values kept; the other customer's note that mentions her e-mail is not hers.
    assert got["events"] == [EVENTS[0], EVENTS[2]]
    # The log, by the visitor id the events yield: her two visits, not the other visitor's
    # from the same IP address with her e-mail in its query string, nor the anonymous one.
    assert [f["request"] for f in got["access"]] == ["GET /formations HTTP/1.1",
                                                     "GET /panier HTTP/1.1"]
    first = got["access"][0]
    assert first["ident"] is None and first["referrer"] is None
    assert first["status"] == 200 and first["size"] == 512
    assert first["time"] == "2025-10-10T13:55:00+02:00"
    assert found.identifiers.to_json() == {"customer_id": ["1"], "visitor_id": ["v0001"]}


def test_record_keys_are_file_name_and_byte_offset(shop):
    instance, source = shop
    found = discover(instance, source, visitor_id=["v0001"])
    data = (instance / "logs" / "access.log").read_bytes()
    keys = [r.key for r in found.records]
    offsets = [data.index(line.encode()) for line in (ACCESS[0], ACCESS[3])]
    assert keys == [f"access.log:{offset}" for offset in offsets]


def test_same_answer_twice(shop):
    instance, source = shop
    first = discover(instance, source, email=["jeanne.martin@example.fr"])
    second = discover(instance, source, email=["jeanne.martin@example.fr"])
    assert [r.to_json() for r in first.records] == [r.to_json() for r in second.records]
    assert first.identifiers == second.identifiers


def test_index_holds_no_identifier_in_clear(shop):
    instance, source = shop
    discover(instance, source, email=["jeanne.martin@example.fr"])
    index = instance / "source-index" / "shop.sqlite"
    assert index.stat().st_mode & 0o777 == 0o600
    stored = b"".join(p.read_bytes() for p in index.parent.iterdir())
    for value in (b"jeanne.martin@example.fr", b"v0001", b"v0002", b"Jeanne"):
        assert value not in stored


def filler_log(count: int) -> list[str]:
    """Other visitors' lines, enough to put lines outside the index's 4 KB checks."""
    return [log_line(f"x{n:04d}", "/catalogue", second=n % 60) for n in range(count)]


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


@pytest.mark.parametrize(("old", "new", "key", "fault"), [
    ('format = "csv"', 'format = "xml"', "format", "must be one of csv, jsonl, access_log"),
    ('paths = ["{instance}/data/accounts*.csv"]', 'paths = "{instance}/data/accounts.csv"',
     "paths", "must be a list of glob patterns"),
    ('paths = ["{instance}/data/accounts*.csv"]', "paths = []", "paths", "must be a list"),
    ('delimiter = ";"', 'delimiter = ";;"', "delimiter", "must be one character"),
    ('delimiter = ";"', 'encoding = "utf-16"', "encoding", "ASCII-compatible"),
    ('delimiter = ";"', 'log_format = "combined"', "log_format",
     "only for format = 'access_log'"),
    ('match = { email = "email" }', "", "match", "missing"),
])
def test_bad_collection_keys_are_named(tmp_path, old, new, key, fault):
    with pytest.raises(SourceConfigError) as raised:
        load(tmp_path, SOURCES.replace(old, new, 1))
    assert raised.value.key == f"sources.shop.collections.accounts.{key}"
    assert fault in raised.value.fault


def test_bad_index_dir_is_named(tmp_path):
    with pytest.raises(SourceConfigError) as raised:
        load(tmp_path, SOURCES.replace('kind = "files"', 'kind = "files"\nindex_dir = 3'))
    assert raised.value.key == "sources.shop.index_dir"


@pytest.mark.parametrize(("change", "key", "fault"), [
    ('pattern = \'^(?P<ip>\\S+) .* vid=(?P<vid>\\S+)$\'', "pattern",
     "no field 'visitor_id' for match.visitor_id"),
    ('pattern = "(unclosed"', "pattern", "not a regular expression"),
    ('log_format = "apache"', "log_format", "must be one of combined, combined_visitor"),
])
def test_bad_log_patterns_are_named(tmp_path, change, key, fault):
    broken = SOURCES.replace('log_format = "combined_visitor"', change)
    with pytest.raises(SourceConfigError) as raised:
        load(tmp_path, broken)
    assert raised.value.key == f"sources.shop.collections.access.{key}"
    assert fault in raised.value.fault


def test_a_custom_pattern_matches_by_its_groups(tmp_path):
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "app.log").write_text(
        "2025-10-10 user=jeanne.martin@example.fr action=login ip=203.0.113.7\n"
        "2025-10-10 user=paul@example.fr action=login ip=203.0.113.7\n")
    source = load(tmp_path, """
[sources.app]
kind = "files"
[sources.app.collections.log]
paths = ["logs/*.log"]
format = "access_log"
pattern = '^(?P<day>\\S+) user=(?P<user>\\S+) action=(?P<action>\\S+) ip=(?P<ip>\\S+)$'
match = { email = "user" }
exclude = ["ip"]
erasure = "delete"
fields = { user = "contact" }
""")["app"]
    found = discover(tmp_path, source, email=["JEANNE.MARTIN@example.fr"])
    assert [r.to_json() for r in found.records] == [{
        "collection": "log", "key": "app.log:0",
        "fields": {"day": "2025-10-10", "user": "jeanne.martin@example.fr", "action": "login"}}]


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
