"""The ``sql`` connector rectifying, restricting and unsubscribing (``update``, ``restrict``,
``lift_restriction``, ``unsubscribe``) on real databases: a SQLite file, and PostgreSQL when
DSAR_TEST_DATABASE_URL points at one (a throwaway schema, tables named ``schema.table``). The
keys come from a real search; the configuration goes through the real loader.

Covered: exactly the named fields of exactly the named rows change (her namesake untouched),
values converted to the column's type, a second run that writes nothing and reports the same
totals, the verification (``remaining``) before and after, restrict then lift, what cannot be
done refused before anything is written, and the configuration's faults."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from dsar.sources.base import (
    Identity,
    Operation,
    OperationUnsupported,
    SourceConfig,
    SourceConfigError,
    SourceError,
)
from dsar.sources.catalog import Catalog
from dsar.sources.config import load_sources
from dsar.sources.sql import SqlConnector
from dsar.sources.sql_engines import engine_for
from tests.support.data import fill

EMAIL = "jeanne.martin@example.fr"
TWIN_EMAIL = "jeanne.martin@autre.example"  # her namesake: same name, same birth date, same city
POSTGRES_URL = os.environ.get("DSAR_TEST_DATABASE_URL", "")

SCHEMA = """
CREATE TABLE accounts (
    id INTEGER PRIMARY KEY, email TEXT NOT NULL, first_name TEXT, last_name TEXT,
    birth_date DATE, city TEXT, loyalty_points INTEGER, password_hash TEXT,
    processing_restricted INTEGER NOT NULL DEFAULT 0,
    marketing_optin BOOLEAN NOT NULL DEFAULT TRUE);
CREATE TABLE invoices (
    id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL REFERENCES accounts (id),
    number TEXT NOT NULL, billed_to TEXT)
"""
ROWS = {
    "accounts": [
        (1, EMAIL, "Jeanne", "Martin", "1990-02-03", "Lyon", 10, "x", 0, True),
        (2, TWIN_EMAIL, "Jeanne", "Martin", "1990-02-03", "Lyon", 10, "y", 0, True),
        (3, "paul.durand@example.fr", "Paul", "Durand", "1985-06-07", "Lyon", 3, "z", 0, False),
    ],
    "invoices": [(1, 1, "F-2024-001", "Jeanne Martin"), (2, 2, "F-2024-002", "Jeanne Martin")],
}
#: The accounts' operations (``${operations}`` below), as the demo declares them.
OPERATIONS = """\
operations.restrict = { set = { processing_restricted = 1 } }
operations.lift_restriction = { set = { processing_restricted = 0 } }
operations.unsubscribe = { set = { marketing_optin = false } }
"""
SOURCES = """\
[sources.platform]
kind = "sql"
label = "Plateforme"
url_env = "PLATFORM_DB"

[sources.platform.collections.accounts]
table = "${prefix}accounts"
match = { email = "email" }
exclude = ["password_hash"]
erasure = "anonymize"
anonymize = { email = "hash" }
fields = { email = "contact", last_name = "identification", birth_date = "identification" }
${operations}
[sources.platform.collections.invoices]
table = "${prefix}invoices"
follow = { account_id = "accounts.id" }
read_only = true
erasure = "retain"
retain_basis = "Code de commerce L123-22"
fields = { billed_to = "financial" }
"""


def load(tmp_path: Path, prefix: str = "", operations: str = OPERATIONS) -> SourceConfig:
    path = tmp_path / "sources.toml"
    path.write_text(fill(SOURCES, prefix=prefix, operations=operations))
    return load_sources(path, {"sql": SqlConnector}, tmp_path)["platform"]


@dataclass
class Platform:
    source: SourceConfig
    url: str
    engine: Engine
    instance: Path

    def connector(self) -> SqlConnector:
        return SqlConnector(self.source, instance_path=self.instance,
                            environ={"PLATFORM_DB": self.url})

    def keys(self, email: str, collection: str = "accounts") -> tuple[str, ...]:
        with self.connector() as connector:
            found = connector.discover(Identity.of(email=[email]))
        return tuple(r.key for r in found.records if r.collection == collection)

    def carry_out(self, *operations: Operation) -> list[tuple[str, str, int, int]]:
        with self.connector() as connector:
            results = connector.carry_out(list(operations), hash_key=b"k" * 32)
        return [(r.collection, r.action, r.changed, r.absent) for r in results]

    def remaining(self, *operations: Operation) -> dict[str, int]:
        with self.connector() as connector:
            return connector.remaining(list(operations))

    def rows(self, table: str) -> dict[int, dict]:
        """Row id -> column -> value (dates as ISO text, yes/no as 0/1 on both engines)."""
        with self.engine.connect() as conn:
            result = conn.execute(text(f"SELECT * FROM {table} ORDER BY id"))  # noqa: S608
            return {r["id"]: {k: _plain(v) for k, v in r.items()}
                    for r in result.mappings()}

    def snapshot(self) -> dict[str, dict[int, dict]]:
        return {table: self.rows(table) for table in ROWS}


def _plain(value):
    if isinstance(value, dt.date):
        return value.isoformat()
    return int(value) if isinstance(value, bool) else value


def _fill(engine: Engine) -> None:
    with engine.begin() as conn:
        for statement in SCHEMA.split(";"):
            conn.execute(text(statement))
        for table, values in ROWS.items():
            marks = ", ".join(f":v{i}" for i in range(len(values[0])))
            conn.execute(text(f"INSERT INTO {table} VALUES ({marks})"),  # noqa: S608
                         [{f"v{i}": v for i, v in enumerate(row)} for row in values])


@pytest.fixture(params=["sqlite", "postgresql"])
def platform(request, tmp_path):
    """The platform on each engine (PostgreSQL skipped when not configured)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'platform.db'}"
        engine = create_engine(url, poolclass=NullPool)
        _fill(engine)
        yield Platform(load(tmp_path), url, engine, tmp_path)
        engine.dispose()
        return
    if not POSTGRES_URL.startswith("postgresql"):
        pytest.skip("DSAR_TEST_DATABASE_URL is not a PostgreSQL database")
    schema = f"dsar_sql_rights_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_URL, poolclass=NullPool)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    base = admin.url.render_as_string(hide_password=False)
    engine = create_engine(f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}",
                           poolclass=NullPool)
    try:
        _fill(engine)
        yield Platform(load(tmp_path, f"{schema}."), base, engine, tmp_path)
    finally:
        engine_for(base).dispose()
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()


def update(keys: tuple[str, ...], **fields) -> Operation:
    """An update giving every key the same new values."""
    return Operation("accounts", "update", keys, values={key: fields for key in keys})


def test_an_update_changes_exactly_the_named_fields_of_her_record(platform):
    keys = platform.keys(EMAIL)
    assert keys == ("1",)
    before = platform.snapshot()
    # A text date into a DATE column, a number as text into an INTEGER one; a key gone since
    # the search ("99") counts as absent.
    operation = Operation("accounts", "update", (*keys, "99"), values={
        "1": {"last_name": "Martin-Durand", "birth_date": "1990-03-02", "loyalty_points": "12"},
        "99": {"last_name": "Personne"}})
    assert platform.remaining(operation) == {"accounts": 1}

    assert platform.carry_out(operation) == [("accounts", "update", 1, 1)]

    after = platform.snapshot()
    assert after["accounts"][1] == {**before["accounts"][1], "last_name": "Martin-Durand",
                                    "birth_date": "1990-03-02", "loyalty_points": 12}
    # Her namesake, the others and the invoices: as they were.
    assert {i: r for i, r in after["accounts"].items() if i != 1} == {
        i: r for i, r in before["accounts"].items() if i != 1}
    assert after["invoices"] == before["invoices"]
    assert platform.remaining(operation) == {}
    # Run again: nothing written, the same totals.
    assert platform.carry_out(operation) == [("accounts", "update", 0, 2)]
    assert platform.snapshot() == after


def test_an_update_touching_only_some_fields_sends_the_rest_unchanged(platform):
    keys = platform.keys(EMAIL)
    platform.carry_out(update(keys, city="Villeurbanne"))
    # Now half done: the city holds its new value, the first name not yet.
    operation = update(keys, city="Villeurbanne", first_name="Jeanne-Marie")
    assert platform.remaining(operation) == {"accounts": 1}
    assert platform.carry_out(operation) == [("accounts", "update", 1, 0)]
    row = platform.rows("accounts")[1]
    assert (row["city"], row["first_name"]) == ("Villeurbanne", "Jeanne-Marie")
    assert platform.rows("accounts")[2]["city"] == "Lyon"


def test_restrict_then_lift_the_restriction(platform):
    keys = platform.keys(EMAIL)
    restrict = Operation("accounts", "restrict", keys)
    lift = Operation("accounts", "lift_restriction", keys)
    assert platform.remaining(restrict) == {"accounts": 1}
    assert platform.remaining(lift) == {}  # not restricted: nothing to lift

    assert platform.carry_out(restrict) == [("accounts", "restrict", 1, 0)]
    flags = {i: r["processing_restricted"] for i, r in platform.rows("accounts").items()}
    assert flags == {1: 1, 2: 0, 3: 0}
    assert platform.remaining(restrict) == {}
    assert platform.carry_out(restrict) == [("accounts", "restrict", 0, 1)]

    assert platform.remaining(lift) == {"accounts": 1}
    assert platform.carry_out(lift) == [("accounts", "lift_restriction", 1, 0)]
    flags = {i: r["processing_restricted"] for i, r in platform.rows("accounts").items()}
    assert flags == {1: 0, 2: 0, 3: 0}
    assert platform.remaining(lift) == {}
    assert platform.carry_out(lift) == [("accounts", "lift_restriction", 0, 1)]


def test_unsubscribe_clears_her_opt_in_only(platform):
    keys = platform.keys(EMAIL)
    unsubscribe = Operation("accounts", "unsubscribe", keys)
    assert platform.remaining(unsubscribe) == {"accounts": 1}
    assert platform.carry_out(unsubscribe) == [("accounts", "unsubscribe", 1, 0)]
    optins = {i: r["marketing_optin"] for i, r in platform.rows("accounts").items()}
    assert optins == {1: 0, 2: 1, 3: 0}
    assert platform.remaining(unsubscribe) == {}
    assert platform.carry_out(unsubscribe) == [("accounts", "unsubscribe", 0, 1)]


def test_an_update_and_a_restriction_go_in_one_transaction(platform):
    keys = platform.keys(EMAIL)
    assert platform.carry_out(update(keys, city="Paris"), Operation("accounts", "restrict", keys)
                              ) == [("accounts", "update", 1, 0), ("accounts", "restrict", 1, 0)]
    row = platform.rows("accounts")[1]
    assert (row["city"], row["processing_restricted"]) == ("Paris", 1)


@pytest.mark.parametrize(("operation", "words"), [
    (Operation("invoices", "update", ("1",), values={"1": {"billed_to": "Jeanne Durand"}}),
     "read-only"),
    (update(("1",), password_hash="nope"), "field 'password_hash' cannot be updated"),
    (update(("1",), id=7), "field 'id' cannot be updated"),
    (update(("1",), nickname="Jeannot"), "field 'nickname' cannot be updated"),
    (Operation("accounts", "update", ("1",)), "must give new values"),
    (Operation("accounts", "update", ("1",), values={"2": {"city": "Nice"}}),
     "must give new values"),
    (Operation("invoices", "restrict", ("1",)), "declares no 'restrict' operation"),
    (Operation("accounts", "redact", ("1",)), "cannot redact"),
])
def test_what_cannot_be_done_is_refused_before_anything_is_written(platform, operation, words):
    before = platform.snapshot()
    with pytest.raises(OperationUnsupported) as refused:
        platform.carry_out(Operation("accounts", "restrict", ("1",)), operation)
    assert words in str(refused.value)
    assert "Jeanne" not in str(refused.value) and "Nice" not in str(refused.value)
    assert platform.snapshot() == before


def test_a_value_the_column_cannot_hold_names_the_field_never_the_value(platform):
    before = platform.snapshot()
    with pytest.raises(SourceError) as failure:
        platform.carry_out(update(("1",), city="Nice"),
                           update(("1",), loyalty_points="beaucoup"))
    assert str(failure.value) == ("source 'platform', collection 'accounts': field "
                                  "'loyalty_points': a new value is not a value of its "
                                  "column's type")
    assert platform.snapshot() == before


def test_what_each_collection_supports_is_read_from_the_configuration(tmp_path):
    source = load(tmp_path)
    catalog = Catalog(sources={"platform": source})
    answers = {(c, a): catalog.supports("platform", c, a)
               for c in ("accounts", "invoices")
               for a in ("delete", "anonymize", "redact", "update", "restrict",
                         "lift_restriction", "unsubscribe")}
    assert {k for k, yes in answers.items() if yes} == {
        ("accounts", "delete"), ("accounts", "anonymize"), ("accounts", "update"),
        ("accounts", "restrict"), ("accounts", "lift_restriction"), ("accounts", "unsubscribe"),
        ("invoices", "delete"), ("invoices", "anonymize")}
    assert not catalog.supports("platform", "tickets", "update")
    assert not catalog.supports("crm", "accounts", "update")


@pytest.mark.parametrize(("operations", "key"), [
    ("operations.restrict = { set = { processing_restricted = 1 } }",
     "operations.lift_restriction"),
    ('operations.erase = { set = { processing_restricted = 1 } }', "operations.erase"),
    ('operations.update = { set = { city = "x" } }', "operations.update"),
    ("operations.unsubscribe = { set = 0 }", "operations.unsubscribe.set"),
    ("operations.unsubscribe = { set = {} }", "operations.unsubscribe.set"),
    ("operations.unsubscribe = { set = { marketing_optin = [0] } }",
     "operations.unsubscribe.set.marketing_optin"),
    ("operations.unsubscribe = { set = { marketing_optin = 2024-01-01 } }",
     "operations.unsubscribe.set.marketing_optin"),
    ("operations.unsubscribe = { value = 0 }", "operations.unsubscribe"),
    ("operations.unsubscribe = { set = { marketing_optin = 0 }, when = 1 }",
     "operations.unsubscribe"),
    ('operations = "restrict"', "operations"),
    ('read_only = "yes"', "read_only"),
])
def test_a_bad_operation_names_the_file_and_its_key(tmp_path, operations, key):
    with pytest.raises(SourceConfigError) as failure:
        load(tmp_path, operations=operations + "\n")
    assert failure.value.file == str(tmp_path / "sources.toml")
    assert failure.value.key == f"sources.platform.collections.accounts.{key}"
