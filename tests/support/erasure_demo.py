"""A private demo organisation for the erasure tests: its data generated into the test's own
folder (erasure changes it, so it is never shared with another test), its CRM and newsletter
APIs run as their own processes (``python -m dsar.demo.services``, as ``dsar demo`` runs them),
an app searching its six sources, and snapshots of every source read straight from the files,
to compare before and after."""

from __future__ import annotations

import csv
import io
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from dsar import create_app
from dsar.demo.org import generate, write_config
from dsar.demo.org.config import CRM_TOKEN_ENV, NEWSLETTER_KEY_ENV
from tests.support.app import app_config, dispose
from tests.support.fault_harness import wait_for

CRM_TOKEN, NEWSLETTER_KEY = "crm-erasure-secret", "newsletter-erasure-secret"
_SECRETS = {"crm": (CRM_TOKEN_ENV, CRM_TOKEN), "newsletter": (NEWSLETTER_KEY_ENV, NEWSLETTER_KEY)}
_LISTENING = re.compile(r"API listening on http://127\.0\.0\.1:(\d+)")
#: Every table of the demo's three databases, by file.
TABLES = {"platform.sqlite": ("accounts", "enrolments", "attendance", "level_tests",
                              "invoices"),
          "crm.sqlite": ("contacts", "notes", "deals"),
          "newsletter.sqlite": ("contacts", "list_memberships", "events")}


@dataclass
class DemoOrg:
    """The app, the organisation's data folder, and its two APIs' addresses."""

    app: object
    data: Path
    crm_url: str
    newsletter_url: str

    def crm(self) -> httpx.Client:
        """A client of the CRM's API, with its token."""
        return httpx.Client(base_url=self.crm_url, timeout=10, trust_env=False,
                            headers={"Authorization": f"Bearer {CRM_TOKEN}"})

    def newsletter(self) -> httpx.Client:
        """A client of the newsletter's API, with its key."""
        return httpx.Client(base_url=self.newsletter_url, timeout=10, trust_env=False,
                            headers={"api-key": NEWSLETTER_KEY})


@contextmanager
def demo_service(name: str, db_path: Path, logs: Path) -> Iterator[str]:
    """Run one demo API (``crm`` or ``newsletter``) as a process on a port the OS picks;
    yields its base URL; SIGTERM at the end (SIGKILL if it lingers)."""
    variable, secret = _SECRETS[name]
    log = logs / f"{name}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "dsar.demo.services", name, "--db", str(db_path),
             "--port", "0"], env={**os.environ, variable: secret}, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True)

    def port() -> int | None:
        found = _LISTENING.search(log.read_text(errors="replace"))
        if found is None and process.poll() is not None:
            raise AssertionError(f"the {name} API exited: {log.read_text(errors='replace')}")
        return int(found.group(1)) if found else None

    try:
        yield f"http://127.0.0.1:{wait_for(port, 30, f'the {name} API listening')}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@contextmanager
def private_demo(tmp_path: Path, monkeypatch, database_url: str, redis_url: str,
                 key_file: str, smtp_server, people: int = 50) -> Iterator[DemoOrg]:
    """The demo organisation of ``people`` account holders, written into ``tmp_path/demo-org``
    for this test alone, its APIs running, and an app searching its six sources."""
    data = tmp_path / "demo-org"
    generate(data, people)
    logs = tmp_path / "logs"
    logs.mkdir()
    for variable, secret in _SECRETS.values():
        monkeypatch.setenv(variable, secret)
    monkeypatch.setenv("DSAR_INSTANCE_PATH", str(tmp_path))  # {instance} in sources.toml
    with demo_service("crm", data / "crm.sqlite", logs) as crm_url, \
            demo_service("newsletter", data / "newsletter.sqlite", logs) as newsletter_url:
        write_config(tmp_path, crm_url=crm_url, newsletter_url=newsletter_url)
        config = app_config(database_url, redis_url, key_file, tmp_path / "storage",
                            smtp_server.port)
        config.update(SOURCES_FILE=str(tmp_path / "sources.toml"),
                      REGISTER_FILE=str(tmp_path / "register.toml"), GATHER_RETRY_INTERVALS=[])
        app = create_app(config)
        try:
            yield DemoOrg(app, data, crm_url, newsletter_url)
        finally:
            dispose(app)


def table_rows(db_path: Path, table: str) -> dict[int, tuple]:
    """Every row of ``table`` by id, read-only, straight from the file."""
    uri = f"{db_path.resolve().as_uri()}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True)) as conn:
        return {row[0]: row for row in conn.execute(f"SELECT * FROM {table}")}  # noqa: S608


def csv_records(path: Path) -> dict[str, bytes]:
    """The raw bytes of each record of a CSV file (a record may span lines), by its first
    cell: what another record's rewrite must leave exactly as it was."""
    text = path.read_bytes().decode("utf-8")
    lines = text.splitlines(keepends=True)
    reader = csv.reader(io.StringIO(text))
    records, start = {}, 0
    for row in reader:
        records[row[0]] = "".join(lines[start:reader.line_num]).encode("utf-8")
        start = reader.line_num
    return records


def snapshot(data: Path) -> dict[str, dict]:
    """Everything the six sources hold: rows by id per ``file.table``, lines per log and
    analytics file, raw records of the tickets CSV."""
    found: dict[str, dict] = {
        f"{name.removesuffix('.sqlite')}.{table}": table_rows(data / name, table)
        for name, tables in TABLES.items() for table in tables}
    for path in sorted([*data.glob("logs/access.log*"), *data.glob("analytics/*.jsonl")]):
        found[str(path.relative_to(data))] = dict(enumerate(path.read_bytes().splitlines(
            keepends=True)))
    found["support/tickets.csv"] = csv_records(data / "support" / "tickets.csv")
    return found


def changed_entries(before: dict[str, dict], after: dict[str, dict]) -> dict[str, set]:
    """Per table or file, the ids (lines, ticket numbers) whose content differs, vanished or
    appeared."""
    changes = {}
    for name in before.keys() | after.keys():
        old, new = before.get(name, {}), after.get(name, {})
        differ = {k for k in old.keys() | new.keys() if old.get(k) != new.get(k)}
        if differ:
            changes[name] = differ
    return changes
