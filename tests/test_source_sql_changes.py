"""The ``sql`` connector carrying out an erasure plan (``carry_out``) on real databases: a
SQLite file, and PostgreSQL when DSAR_TEST_DATABASE_URL points at one (a throwaway schema,
reached by qualified table names and by ``search_path``). The keys come from a real search.

Covered: deletes in foreign-key order, anonymisation (null, hash, fixed), a second run that
changes nothing and reports the same totals, retained rows keeping their parents (anonymised
or left), the near-twins untouched, and a failure mid-way rolling everything back."""

from __future__ import annotations

import os
import re
import uuid
from collections import defaultdict
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
    SourceError,
    anonymized_value,
)
from dsar.sources.config import load_sources
from dsar.sources.sql import SqlConnector
from dsar.sources.sql_engines import engine_for
from tests.support.data import data_text, fill

HASH_KEY = b"k" * 32
EMAIL = "jeanne.martin@example.fr"  # Jeanne: an account, enrolments, attendance, a ticket
TWIN_EMAIL = "jeanne.martin@autre.example"  # her namesake
LEA = "lea.petit@example.fr"  # an enrolment of hers is on a retained invoice
MARC = "marc.leroy@example.fr"  # the audit trail (no collection) points at his account
ACCOUNT_MAP = {"email": "hash", "last_name": "null", "address": "fixed:[supprimé]"}
ADDRESS = "12 rue des Lilas, 69003 Lyon"

ROWS = {
    "accounts": [
        (1, EMAIL, "Jeanne", "Martin", ADDRESS, 7001),
        (2, TWIN_EMAIL, "Jeanne", "Martin", ADDRESS + ", bâtiment B", 7002),
        (3, "paul.durand@example.fr", "Paul", "Durand", "3 place Bellecour, Lyon", 7003),
        (4, LEA, "Léa", "Petit", "8 quai Saint-Vincent, Lyon", 7004),
        (5, MARC, "Marc", "Leroy", None, 7005),
    ],
    "enrolments": [(10, 1, "Excel avancé"), (11, 1, "Python"), (20, 2, "Excel avancé"),
                   (30, 3, "Anglais"), (40, 4, "Comptabilité"), (41, 4, "Paie")],
    "attendance_log": [(10, "2024-02-01", 180), (10, "2024-02-02", 120),
                       (11, "2024-03-01", 60), (20, "2024-02-01", 180),
                       (40, "2024-05-02", 90), (41, "2024-06-03", 45)],
    "invoices": [(1, "F-2024-001", None, 40, "1200.50"),
                 (2, "F-2024-002", 2, 20, "80.00")],
    "tickets": [(1, 1, "Jeanne.MARTIN@Example.FR", "Facture"),
                (2, 2, TWIN_EMAIL, "Mot de passe"),
                (3, 3, "paul.durand@example.fr", "Jeanne Martin a le même souci"),
                (4, 5, MARC, "Accès")],
    "audit_trail": [(1, 5, "login"), (2, 3, "login")],
}
TABLES = list(ROWS)
POSTGRES_URL = os.environ.get("DSAR_TEST_DATABASE_URL", "")
ENGINES = ["sqlite", "postgresql", "postgresql-search-path"]


@dataclass
class Platform:
    """The platform's database, its source, and the engine the test itself reads it with."""

    source: SourceConfig
    url: str
    engine: Engine
    instance: Path

    def sql(self, statements: str) -> None:
        with self.engine.begin() as conn:
            for statement in filter(str.strip, statements.split(";\n")):
                conn.execute(text(statement))

    def rows(self, table: str) -> list[tuple]:
        with self.engine.connect() as conn:
            query = text(f"SELECT * FROM {table} ORDER BY 1, 2")  # noqa: S608
            return [tuple(r) for r in conn.execute(query)]

    def snapshot(self) -> dict[str, list[tuple]]:
        return {table: self.rows(table) for table in TABLES}

    def connector(self) -> SqlConnector:
        return SqlConnector(self.source, instance_path=self.instance,
                            environ={"PLATFORM_DB": self.url})

    def search(self, email: str) -> dict[str, list[str]]:
        """Collection -> the keys the search finds for ``email``."""
        with self.connector() as connector:
            found = connector.discover(Identity.of(email=[email]))
        keys: dict[str, list[str]] = defaultdict(list)
        for record in found.records:
            keys[record.collection].append(record.key)
        return dict(keys)

    def carry_out(self, operations: list[Operation]):
        with self.connector() as connector:
            return [r.to_json() for r in connector.carry_out(operations, hash_key=HASH_KEY)]


def plan(keys: dict[str, list[str]], *steps: tuple) -> list[Operation]:
    """Operations for the collections in ``steps`` ((collection, action[, map])), in that
    order (parents first on purpose: the connector orders them)."""
    return [Operation(step[0], step[1], tuple(keys.get(step[0], ())),
                      step[2] if len(step) > 2 else {}) for step in steps]


def fill_database(engine: Engine) -> None:
    with engine.begin() as conn:
        lines = data_text("sql_changes/schema.sql").splitlines()
        ddl = "\n".join(line for line in lines if not line.startswith("--"))
        for statement in filter(str.strip, ddl.split(";")):
            conn.execute(text(statement))
        for table, values in ROWS.items():
            marks = ", ".join(f":v{i}" for i in range(len(values[0])))
            conn.execute(text(f"INSERT INTO {table} VALUES ({marks})"),  # noqa: S608
                         [{f"v{i}": v for i, v in enumerate(row)} for row in values])


def load_source(tmp_path: Path, prefix: str) -> SourceConfig:
    path = tmp_path / "sources.toml"
    path.write_text(fill(data_text("sql_changes/sources.toml"), prefix=prefix))
    return load_sources(path, {"sql": SqlConnector}, tmp_path)["platform"]


@pytest.fixture(params=ENGINES)
def platform(request, tmp_path):
    """The platform on each engine (PostgreSQL skipped when not configured)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'platform.db'}"
        engine = create_engine(url, poolclass=NullPool)
        fill_database(engine)
        yield Platform(load_source(tmp_path, ""), url, engine, tmp_path)
        engine.dispose()
        return
    if not POSTGRES_URL.startswith("postgresql"):
        pytest.skip("DSAR_TEST_DATABASE_URL is not a PostgreSQL database")
    schema = f"dsar_sql_changes_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_URL, poolclass=NullPool)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    base = admin.url.render_as_string(hide_password=False)
    url = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    engine = create_engine(url, poolclass=NullPool)
    try:
        fill_database(engine)
        if request.param == "postgresql":  # tables named schema.table, the default untouched
            source, url = load_source(tmp_path, f"{schema}."), base
        else:  # tables in the connection's default schema
            source = load_source(tmp_path, "")
        yield Platform(source, url, engine, tmp_path)
    finally:
        engine_for(url).dispose()
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()


def changed_rows(before: dict, after: dict) -> dict[str, set]:
    """Table -> the rows of ``before`` no longer there as they were."""
    return {t: set(before[t]) - set(after[t]) for t in TABLES if set(before[t]) - set(after[t])}


def test_deletes_children_before_parents_and_only_her_rows(platform):
    keys = platform.search(EMAIL)
    assert keys == {"accounts": ["1"], "enrolments": ["10", "11"],
                    "attendance": ["10:2024-02-01", "10:2024-02-02", "11:2024-03-01"],
                    "tickets": ["1"]}
    before = platform.snapshot()
    # Parents first in the plan: deleting in that order would break the foreign keys (both
    # databases enforce them).
    results = platform.carry_out(plan(keys, ("accounts", "delete"), ("enrolments", "delete"),
                                      ("tickets", "delete"), ("attendance", "delete")))
    assert results == [
        {"collection": "accounts", "action": "delete", "changed": 1, "absent": 0,
         "details": "", "kept": 0},
        {"collection": "enrolments", "action": "delete", "changed": 2, "absent": 0,
         "details": "", "kept": 0},
        {"collection": "tickets", "action": "delete", "changed": 1, "absent": 0, "details": "",
         "kept": 0},
        {"collection": "attendance", "action": "delete", "changed": 3, "absent": 0,
         "details": "", "kept": 0}]
    after = platform.snapshot()
    gone = changed_rows(before, after)
    assert {t: len(rows) for t, rows in gone.items()} == {
        "accounts": 1, "enrolments": 2, "attendance_log": 3, "tickets": 1}
    # The near-twins stay as they were: her namesake (and his enrolment, attendance, ticket),
    # the address containing hers, the colleague's ticket naming her.
    assert all(row[1] != EMAIL for row in after["accounts"])
    assert [r[0] for r in after["accounts"]] == [2, 3, 4, 5]
    assert [r[0] for r in after["tickets"]] == [2, 3, 4]
    assert [r[0] for r in after["enrolments"]] == [20, 30, 40, 41]
    assert platform.search(EMAIL) == {}


def test_a_second_run_changes_nothing_and_reports_the_same_totals(platform):
    keys = platform.search(EMAIL)
    operations = plan(keys, ("tickets", "delete"), ("attendance", "delete"),
                      ("enrolments", "delete"), ("accounts", "anonymize", ACCOUNT_MAP))
    first = platform.carry_out(operations)
    assert [(r["changed"], r["absent"]) for r in first] == [(1, 0), (3, 0), (2, 0), (1, 0)]
    once = platform.snapshot()
    second = platform.carry_out(operations)
    assert [(r["changed"], r["absent"]) for r in second] == [(0, 1), (0, 3), (0, 2), (0, 1)]
    # The hash is not hashed again: the same values, byte for byte.
    assert platform.snapshot() == once


def test_anonymize_null_hash_and_fixed(platform):
    keys = platform.search(EMAIL)
    before = platform.snapshot()
    results = platform.carry_out(plan(keys, ("accounts", "anonymize", ACCOUNT_MAP)))
    assert results == [{"collection": "accounts", "action": "anonymize", "changed": 1,
                        "absent": 0, "details": "", "kept": 0}]
    after = platform.snapshot()
    assert after["accounts"][0] == (1, anonymized_value("hash", EMAIL, HASH_KEY), "Jeanne",
                                    None, "[supprimé]", 7001)
    assert len(after["accounts"][0][1]) == 64
    # Nothing else moved: not her namesake, not the address containing hers.
    assert changed_rows(before, after) == {"accounts": {before["accounts"][0]}}
    assert platform.search(EMAIL) == {"tickets": ["1"]}  # only the ticket still bears it


def test_a_retained_invoice_keeps_the_enrolment_and_the_account_behind_it(platform):
    keys = platform.search(LEA)
    assert keys["invoices"] == ["F-2024-001"]  # retained: no operation
    before = platform.snapshot()
    operations = plan(keys, ("accounts", "delete", ACCOUNT_MAP), ("enrolments", "delete"),
                      ("attendance", "delete"))
    results = platform.carry_out(operations)
    # Enrolment 40 is on the invoice: kept (no map: left as it is). The account is kept in
    # turn, for the enrolment kept, and anonymised with the map the operation carries.
    assert results == [
        {"collection": "accounts", "action": "delete", "changed": 1, "absent": 0,
         "details": "1 kept: referenced by retained records, anonymised", "kept": 1},
        {"collection": "enrolments", "action": "delete", "changed": 1, "absent": 1,
         "details": "1 kept: referenced by retained records", "kept": 1},
        {"collection": "attendance", "action": "delete", "changed": 2, "absent": 0,
         "details": "", "kept": 0}]
    after = platform.snapshot()
    assert [r for r in after["accounts"] if r[0] == 4] == [
        (4, anonymized_value("hash", LEA, HASH_KEY), "Léa", None, "[supprimé]", 7004)]
    assert [r[0] for r in after["enrolments"] if r[1] == 4] == [40]
    assert after["invoices"] == before["invoices"]
    assert not [r for r in after["attendance_log"] if r[0] in (40, 41)]
    # Again: the same totals and the same words, nothing changed.
    second = platform.carry_out(operations)
    assert [(r["changed"], r["absent"], r["details"]) for r in second] == [
        (0, 1, results[0]["details"]), (0, 2, results[1]["details"]), (0, 2, "")]
    assert platform.snapshot() == after


def test_a_table_no_collection_names_keeps_its_parent_too(platform):
    keys = platform.search(MARC)
    results = platform.carry_out(plan(keys, ("accounts", "delete"), ("tickets", "delete")))
    # No anonymize map: the account is left as it is, and said so (no value in the text).
    assert results[0] == {"collection": "accounts", "action": "delete", "changed": 0,
                          "absent": 1, "details": "1 kept: referenced by retained records",
                          "kept": 1}
    assert results[1]["changed"] == 1
    assert [r[1] for r in platform.rows("accounts") if r[0] == 5] == [MARC]
    assert MARC not in str(results)


def test_keys_that_are_gone_or_only_look_alike_are_absent(platform):
    before = platform.snapshot()
    # "01" reads as 1 in SQL, but is not the key 1 the search gives; "abc" is no integer.
    operations = [Operation("tickets", "delete", ("01", "abc", "999", " 1", "1.0", "")),
                  Operation("attendance", "delete", ("10:2024-2-1", "10", "x:2024-02-01")),
                  Operation("accounts", "anonymize", ("+1",), ACCOUNT_MAP)]
    results = platform.carry_out(operations)
    assert [(r["changed"], r["absent"], r["details"]) for r in results] == [
        (0, 6, ""), (0, 3, ""), (0, 1, "")]
    assert platform.snapshot() == before


def test_a_failure_mid_way_rolls_everything_back(platform):
    keys = platform.search(EMAIL)
    operations = plan(keys, ("tickets", "delete"), ("attendance", "delete"),
                      ("enrolments", "delete"), ("accounts", "delete"))
    # The account row is deleted last; the database refuses it, after the children went.
    if platform.engine.dialect.name == "sqlite":
        platform.sql("CREATE TRIGGER no_delete BEFORE DELETE ON accounts "
                     "BEGIN SELECT RAISE(ABORT, 'accounts are never deleted'); END")
    else:
        platform.sql("CREATE FUNCTION no_delete() RETURNS trigger LANGUAGE plpgsql AS "
                     "$$ BEGIN RAISE EXCEPTION 'accounts are never deleted'; END $$;\n"
                     "CREATE TRIGGER no_delete BEFORE DELETE ON accounts "
                     "FOR EACH ROW EXECUTE FUNCTION no_delete()")
    before = platform.snapshot()
    with pytest.raises(SourceError) as failure:
        platform.carry_out(operations)
    message = str(failure.value)
    assert "'platform'" in message and "(collection 'accounts': delete)" in message
    assert "jeanne" not in message.lower() and "never deleted" not in message
    assert platform.snapshot() == before  # the tickets, attendance and enrolments are back
    # Once the database lets it, the same plan completes.
    platform.sql("DROP TRIGGER no_delete ON accounts" if platform.engine.dialect.name
                 != "sqlite" else "DROP TRIGGER no_delete")
    assert [r["changed"] for r in platform.carry_out(operations)] == [1, 3, 2, 1]


def test_operations_the_connector_cannot_do_are_refused_before_any_write(platform):
    keys = platform.search(EMAIL)
    before = platform.snapshot()
    refused = [
        (plan(keys, ("tickets", "delete"), ("accounts", "redact")), OperationUnsupported,
         "cannot redact"),
        ([Operation("nowhere", "delete", ("1",))], OperationUnsupported, "no such collection"),
        (plan(keys, ("tickets", "delete"), ("accounts", "anonymize")), OperationUnsupported,
         "names no field"),
        (plan(keys, ("tickets", "delete"), ("accounts", "anonymize", {"customer_id": "hash"})),
         SourceError, "column 'customer_id' cannot hold a hash"),
        (plan(keys, ("tickets", "delete"), ("accounts", "anonymize", {"mail": "null"})),
         SourceError, "column 'mail' (anonymize.mail) not found"),
    ]
    for operations, error, words in refused:
        with pytest.raises(error, match=re.escape(words)):
            platform.carry_out(operations)
    assert platform.snapshot() == before
    with platform.connector() as connector:
        assert connector.carry_out([], hash_key=HASH_KEY) == []


def test_the_verification_looks_the_named_records_up_by_key(platform):
    """Once her account's address is hashed, a search by address no longer reaches what was
    found through the account: the verification reads the rows the plan named instead, so a
    record left behind is seen."""
    keys = platform.search(EMAIL)
    operations = plan(keys, ("accounts", "anonymize", ACCOUNT_MAP),
                      ("enrolments", "delete"), ("attendance", "delete"))
    with platform.connector() as connector:
        before = connector.remaining(operations)
    assert before == {c: len(keys[c]) for c in ("accounts", "enrolments", "attendance")}
    platform.carry_out(operations)
    with platform.connector() as connector:
        assert connector.remaining(operations) == {}
    # One enrolment comes back (a failed delete, a restore): a new search cannot see it…
    enrolment = int(keys["enrolments"][0])
    platform.sql(f"INSERT INTO enrolments VALUES ({enrolment}, 1, 'Anglais B2')")  # noqa: S608
    assert "enrolments" not in platform.search(EMAIL)
    # …the verification does.
    with platform.connector() as connector:
        assert connector.remaining(operations) == {"enrolments": 1}
