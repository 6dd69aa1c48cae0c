"""The ``files`` connector: CSV, JSON lines and access logs on real files, through its index:
whom it finds, and how a bad configuration is named."""

from __future__ import annotations

import pytest

from dsar.sources.base import SourceConfigError
from tests.support.data import data_text
from tests.support.files_source import ACCESS, EVENTS, SOURCES, by_collection, discover, load


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
    source = load(tmp_path, data_text("sources/files_custom_pattern.toml"))["app"]
    found = discover(tmp_path, source, email=["JEANNE.MARTIN@example.fr"])
    assert [r.to_json() for r in found.records] == [{
        "collection": "log", "key": "app.log:0",
        "fields": {"day": "2025-10-10", "user": "jeanne.martin@example.fr", "action": "login"}}]
