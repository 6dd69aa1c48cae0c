"""The ``files`` source of the connector tests: a shop's accounts (CSV), events (JSON lines)
and access log on real files (``tests/data/sources/files.toml``)."""

from __future__ import annotations

import json
from pathlib import Path

from dsar.sources.base import Identity
from dsar.sources.config import load_sources
from dsar.sources.files import FilesConnector
from tests.support.data import data_text

#: Three collections: accounts by e-mail, their events by customer id, visits by visitor id.
SOURCES = data_text("sources/files.toml")

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
    """A line of the access log (combined format, the visitor id at the end)."""
    return (f'{ip} - - [10/Oct/2025:13:55:{second:02d} +0200] "GET {path} HTTP/1.1" 200 512 '
            f'"-" "Mozilla/5.0" vid={vid}\n')


ACCESS = [
    log_line("v0001", "/formations"),
    log_line("v0002", "/compte?email=jeanne.martin@example.fr"),  # someone else, same IP
    log_line("-", "/", second=1),
    log_line("v0001", "/panier", ip="198.51.100.4", second=2),
]


def write_shop(instance: Path):
    """The shop's files in ``instance`` and its source, loaded; returns the SourceConfig."""
    (instance / "data").mkdir()
    (instance / "logs").mkdir()
    (instance / "data" / "accounts.csv").write_bytes(ACCOUNTS.encode())
    (instance / "data" / "events.jsonl").write_text(
        json.dumps(EVENTS[0]) + "\n{not json\n" + json.dumps(EVENTS[1]) + "\n"
        + json.dumps(EVENTS[2]) + "\n")
    (instance / "logs" / "access.log").write_text("".join(ACCESS))
    return load(instance, SOURCES)["shop"]


def load(instance: Path, text: str) -> dict:
    """The sources of ``text``, written as ``instance/sources.toml`` and loaded."""
    (instance / "sources.toml").write_text(text)
    return load_sources(instance / "sources.toml", {"files": FilesConnector}, instance)


def discover(instance: Path, source, **identifiers):
    """What the ``files`` connector finds for ``identifiers``."""
    with FilesConnector(source, instance_path=instance) as connector:
        return connector.discover(Identity.of(**identifiers))


def by_collection(found) -> dict[str, list[dict]]:
    """The fields of the records found, by collection."""
    result: dict[str, list[dict]] = {}
    for record in found.records:
        result.setdefault(record.collection, []).append(record.fields)
    return result


def filler_log(count: int) -> list[str]:
    """Other visitors' lines, enough to put lines outside the index's 4 KB checks."""
    return [log_line(f"x{n:04d}", "/catalogue", second=n % 60) for n in range(count)]
