"""The ``sql`` connector on real SQLite files (and PostgreSQL when DSAR_TEST_DATABASE_URL
points at one): matching, follow chains, foreign-key paths, the internal fixpoint, errors."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import uuid

import pytest
from sqlalchemy import create_engine, text

from dsar.sources.base import Identity, SourceConfigError, SourceError
from dsar.sources.config import load_sources
from dsar.sources.sql import SqlConnector
from tests.support.data import data_text, fill

EMAIL = "jeanne.martin@example.fr"
TWIN_EMAIL = "jeanne.martin@autre.example"

SCHEMA = """
CREATE TABLE accounts (
    id INTEGER PRIMARY KEY, email TEXT NOT NULL, first_name TEXT, last_name TEXT,
    password_hash TEXT, customer_id INTEGER, visitor_id TEXT, photo BLOB, created_at DATETIME);
CREATE INDEX accounts_email ON accounts (lower(email));
CREATE TABLE enrolments (
    id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL REFERENCES accounts (id), course TEXT,
    started DATE);
CREATE TABLE attendance_log (
    enrolment_id INTEGER NOT NULL REFERENCES enrolments (id), day TEXT NOT NULL,
    minutes INTEGER, PRIMARY KEY (enrolment_id, day));
CREATE TABLE certificates (
    id INTEGER PRIMARY KEY, enrolment_id INTEGER NOT NULL REFERENCES enrolments (id),
    grade TEXT);
CREATE TABLE invoices (
    id INTEGER PRIMARY KEY, number TEXT UNIQUE NOT NULL, customer_id INTEGER,
    amount NUMERIC(10, 2));
CREATE TABLE tickets (id INTEGER PRIMARY KEY, requester_email TEXT, subject TEXT);
"""

ROWS = {
    # Jeanne (id 1), her namesake with another address (id 2), someone else (id 3).
    "accounts": [
        (1, EMAIL, "Jeanne", "Martin", "argon2$secret", 7001, "v-abc", b"\x89PNG",
         "15/01/2024 09:30"),
        (2, TWIN_EMAIL, "Jeanne", "Martin", "argon2$other", 7002, "v-def", None,
         "2024-01-15 09:30:00"),
        (3, "paul.durand@example.fr", "Paul", "Durand", "argon2$x", 7003, None, None, None),
    ],
    "enrolments": [(10, 1, "Excel avancé", "2024-02-01"), (11, 1, "Python", "2024-03-01"),
                   (20, 2, "Excel avancé", "2024-02-01"), (30, 3, "Anglais", None)],
    "attendance_log": [(10, "2024-02-01", 180), (10, "2024-02-02", 120), (11, "2024-03-01", 60),
                       (20, "2024-02-01", 180), (30, "2024-01-05", 90)],
    "certificates": [(100, 10, "A"), (200, 20, "B"), (300, 30, "C")],
    "invoices": [(1, "F-2024-001", 7001, "1200.50"), (2, "F-2024-002", 7002, "80.00"),
                 (3, "F-2024-003", 7001, "99.90"), (4, "F-2024-004", 7003, "10.00")],
    "tickets": [(1, "Jeanne.MARTIN@Example.FR", "Facture"), (2, TWIN_EMAIL, "Mot de passe"),
                (3, "jeanne.martin@example.fr.evil", "Faux ami")],
}

#: The platform source; ``${connection}`` is its url or url_env line.
SOURCES = data_text("sources/sql.toml")

SQLITE_URL = 'url = "sqlite:///{instance}/platform.db"'


def build_database(path, rows=ROWS):
    """The platform's database, with real foreign keys."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.executescript(SCHEMA)
        for table, values in rows.items():
            marks = ", ".join("?" * len(values[0]))
            conn.executemany(f"INSERT INTO {table} VALUES ({marks})", values)  # noqa: S608
        conn.commit()


def load(tmp_path, text_: str):
    path = tmp_path / "sources.toml"
    path.write_text(text_)
    return load_sources(path, {"sql": SqlConnector}, tmp_path)


@pytest.fixture()
def platform(tmp_path):
    """The platform source over a fresh SQLite file."""
    build_database(tmp_path / "platform.db")
    return load(tmp_path, fill(SOURCES, connection=SQLITE_URL))["platform"]


def discover(source, tmp_path, identity=None, environ=None):
    with SqlConnector(source, instance_path=tmp_path, environ=environ) as connector:
        return connector.discover(identity or Identity.of(email=[EMAIL]))


def keys(discovery, collection):
    return [r.key for r in discovery.records if r.collection == collection]


def test_email_match_finds_the_person_and_never_her_namesake(platform, tmp_path):
    found = discover(platform, tmp_path, Identity.of(email=["  JEANNE.Martin@example.fr "]))
    assert keys(found, "accounts") == ["1"]
    # The ticket written with other letter case is hers; the look-alike address is not.
    assert keys(found, "tickets") == ["1"]
    every_value = {str(v) for r in found.records for v in r.fields.values()}
    assert TWIN_EMAIL not in every_value
    assert "v-def" not in every_value and "7002" not in every_value
    assert not {"2", "20", "200"} & {r.key for r in found.records if r.collection in
                                      ("accounts", "enrolments", "certificates")}


def test_follow_chains_two_levels_and_foreign_keys_reach_loose_tables(platform, tmp_path):
    found = discover(platform, tmp_path)
    assert keys(found, "enrolments") == ["10", "11"]
    # attendance follows enrolments, which follow accounts; its key is the composite primary key
    assert keys(found, "attendance") == ["10:2024-02-01", "10:2024-02-02", "11:2024-03-01"]
    # certificates has neither match nor follow: found along its foreign key to enrolments
    assert keys(found, "certificates") == ["100"]
    assert [r.fields for r in found.records if r.collection == "certificates"] == [
        {"id": 100, "enrolment_id": 10, "grade": "A"}]


def test_yields_search_again_and_are_reported(platform, tmp_path):
    found = discover(platform, tmp_path)
    # invoices match customer_id, which only the account found by e-mail gives
    assert keys(found, "invoices") == ["F-2024-001", "F-2024-003"]
    assert found.identifiers.to_json() == {"customer_id": ["7001"], "visitor_id": ["v-abc"]}


def test_fields_are_json_and_excluded_columns_never_appear(platform, tmp_path):
    found = discover(platform, tmp_path)
    account = next(r for r in found.records if r.collection == "accounts")
    assert "password_hash" not in account.fields
    assert "photo" not in account.fields  # binary content is left out
    # SQLite dates are handed over as stored, even in a format SQLAlchemy would choke on
    assert account.fields["created_at"] == "15/01/2024 09:30"
    assert account.fields["customer_id"] == 7001
    enrolment = next(r for r in found.records if r.collection == "enrolments")
    assert enrolment.fields["started"] == "2024-02-01"
    invoice = next(r for r in found.records if r.collection == "invoices")
    assert invoice.fields["amount"] == "1200.50"
    assert all("argon2" not in str(r.fields) for r in found.records)


def test_the_same_search_gives_the_same_answer(platform, tmp_path):
    with SqlConnector(platform, instance_path=tmp_path) as connector:
        first = connector.discover(Identity.of(email=[EMAIL]))
        second = connector.discover(Identity.of(email=[EMAIL]))
    third = discover(platform, tmp_path)
    as_json = [r.to_json() for r in first.records]
    assert as_json == [r.to_json() for r in second.records] == [r.to_json() for r in third.records]
    assert first.identifiers == second.identifiers == third.identifiers
    assert len(as_json) == 10


def test_other_identifiers_match_exactly_in_chunks(platform, tmp_path):
    # 1,200 customer ids (three IN lists), values that are no integer or not written as the
    # database writes them ("07003" reads as 7003 in SQL, but is not the identifier 7003)
    ids = [str(n) for n in range(5000, 6200)] + ["7001", "7002", "abc", "7003.0", "+", "07003"]
    found = discover(platform, tmp_path, Identity.of(customer_id=ids))
    assert keys(found, "invoices") == ["F-2024-001", "F-2024-002", "F-2024-003"]
    assert keys(found, "accounts") == []  # accounts match on e-mail only
    assert keys(found, "tickets") == []


def test_nobody_found_gives_an_empty_discovery(platform, tmp_path):
    found = discover(platform, tmp_path, Identity.of(email=["personne@example.fr"]))
    assert found.records == [] and not found.identifiers


def test_url_from_the_environment(tmp_path):
    build_database(tmp_path / "platform.db")
    source = load(tmp_path, fill(SOURCES, connection='url_env = "PLATFORM_DB"'))["platform"]
    url = f"sqlite:///{tmp_path / 'platform.db'}"
    found = discover(source, tmp_path, environ={"PLATFORM_DB": url})
    assert keys(found, "accounts") == ["1"]
    with pytest.raises(SourceError, match="PLATFORM_DB") as missing:
        discover(source, tmp_path, environ={})
    assert EMAIL not in str(missing.value)


def test_connection_errors_name_no_password_and_no_person(tmp_path):
    source = load(tmp_path, fill(SOURCES, connection='url_env = "PLATFORM_DB"'))["platform"]
    # Nothing listens on port 1: the driver fails at once.
    url = "postgresql+psycopg://dsar:S3cretPassw0rd@127.0.0.1:1/platform?connect_timeout=5"
    with pytest.raises(SourceError) as failure:
        discover(source, tmp_path, environ={"PLATFORM_DB": url})
    message = str(failure.value)
    assert "OperationalError" in message and "platform" in message
    assert "S3cretPassw0rd" not in message and EMAIL not in message


def test_a_table_gone_mid_life_is_a_source_error_naming_nobody(platform, tmp_path):
    with SqlConnector(platform, instance_path=tmp_path) as connector:
        assert connector.discover(Identity.of(email=[EMAIL])).records
        with contextlib.closing(sqlite3.connect(tmp_path / "platform.db")) as conn:
            conn.execute("DROP TABLE tickets")
            conn.commit()
        with pytest.raises(SourceError) as failure:
            connector.discover(Identity.of(email=[EMAIL]))
    # The plan kept from the first search failed; the catalogue was read again and names
    # what is missing.
    assert "table 'tickets' not found" in str(failure.value)
    assert "jeanne" not in str(failure.value).lower()


@pytest.mark.parametrize(("change", "named"), [
    (('table = "attendance_log"', 'table = "attendance"'), "'attendance' not found"),
    (('match = { email = "requester_email" }', 'match = { email = "mail" }'),
     "column 'mail' not found in table 'tickets' (sources.platform.collections.tickets.match"),
    # A misspelt exclude must not let the real column through.
    (('exclude = ["password_hash"]', 'exclude = ["pasword_hash"]'),
     "column 'pasword_hash' not found in table 'accounts'"),
    (('key = "number"', 'key = "numero"'), "column 'numero' not found"),
])
def test_tables_and_columns_the_database_lacks(tmp_path, change, named):
    build_database(tmp_path / "platform.db")
    text_ = fill(SOURCES, connection=SQLITE_URL).replace(*change)
    source = load(tmp_path, text_)["platform"]  # checked without opening the database
    with pytest.raises(SourceError) as failure:
        discover(source, tmp_path)
    assert named in str(failure.value)


def test_a_loose_table_without_a_foreign_key_path(tmp_path):
    build_database(tmp_path / "platform.db")
    with contextlib.closing(sqlite3.connect(tmp_path / "platform.db")) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    text_ = fill(SOURCES, connection=SQLITE_URL) + data_text("sources/sql_loose_notes.toml")
    source = load(tmp_path, text_)["platform"]
    with pytest.raises(SourceError, match="'notes'.*no foreign key leads from it"):
        discover(source, tmp_path)


@pytest.mark.parametrize(("change", "key", "fault"), [
    (('${connection}', '${connection}\nurl_env = "PLATFORM_DB"'), "sources.platform.url_env",
     "not both"),
    (('${connection}', ''), "sources.platform.url", "missing"),
    (('follow = { account_id = "accounts.id" }', 'follow = { account_id = "acounts.id" }'),
     "sources.platform.collections.enrolments.follow.account_id", "unknown collection 'acounts'"),
    (('follow = { account_id = "accounts.id" }', 'follow = { account_id = "accounts" }'),
     "sources.platform.collections.enrolments.follow.account_id", "other_collection.column"),
    # enrolments -> attendance -> enrolments
    (('follow = { account_id = "accounts.id" }',
      'follow = { account_id = "attendance.enrolment_id" }'),
     "sources.platform.collections.enrolments.follow",
     "cycle: enrolments -> attendance -> enrolments"),
    (('key = "number"', 'kee = "number"'), "sources.platform.collections.invoices.kee",
     "unknown key"),
    (('key = "number"', 'key = 3'), "sources.platform.collections.invoices.key", "column name"),
    (('table = "attendance_log"', 'table = "attendance log; drop"'),
     "sources.platform.collections.attendance.table", "table name"),
])
def test_bad_configuration_names_the_key(tmp_path, change, key, fault):
    text_ = fill(SOURCES.replace(*change), connection=SQLITE_URL)
    with pytest.raises(SourceConfigError) as failure:
        load(tmp_path, text_)
    assert failure.value.key == key
    assert fault in failure.value.fault


def test_an_unparsable_url_is_refused_without_quoting_it(tmp_path):
    text_ = fill(SOURCES, connection='url = "not a url with p4ssword"')
    with pytest.raises(SourceConfigError) as failure:
        load(tmp_path, text_)
    assert failure.value.key == "sources.platform.url"
    assert "p4ssword" not in str(failure.value)


POSTGRES_URL = os.environ.get("DSAR_TEST_DATABASE_URL", "")


@pytest.mark.skipif(not POSTGRES_URL.startswith("postgresql"),
                    reason="DSAR_TEST_DATABASE_URL is not a PostgreSQL database")
def test_the_same_matching_on_postgresql(tmp_path):
    schema = f"dsar_sql_test_{uuid.uuid4().hex[:8]}"
    engine = create_engine(POSTGRES_URL)
    ddl = (SCHEMA.replace("INTEGER PRIMARY KEY", "BIGINT PRIMARY KEY")
           .replace("BLOB", "BYTEA").replace("DATETIME", "TIMESTAMP"))
    try:
        with engine.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
            conn.execute(text(f"SET LOCAL search_path TO {schema}"))
            for statement in filter(str.strip, ddl.split(";")):
                conn.execute(text(statement))
            # PostgreSQL takes only real timestamps
            accounts = [a[:8] + ("2024-01-15 09:30:00",) for a in ROWS["accounts"]]
            rows = {**ROWS, "accounts": accounts}
            for table, values in rows.items():
                marks = ", ".join(f":v{i}" for i in range(len(values[0])))
                conn.execute(text(f"INSERT INTO {table} VALUES ({marks})"),  # noqa: S608
                             [{f"v{i}": v for i, v in enumerate(row)} for row in values])
        text_ = fill(SOURCES, connection='url_env = "PLATFORM_DB"')
        for table in ROWS:  # every collection in the throwaway schema
            text_ = text_.replace(f'table = "{table}"', f'table = "{schema}.{table}"')
        for name in ("accounts", "enrolments", "certificates", "invoices", "tickets"):
            text_ = text_.replace(f"[sources.platform.collections.{name}]\n",
                                  f'[sources.platform.collections.{name}]\n'
                                  f'table = "{schema}.{name}"\n')
        source = load(tmp_path, text_)["platform"]
        environ = {"PLATFORM_DB": engine.url.render_as_string(hide_password=False)}
        found = discover(source, tmp_path, environ=environ)
        assert keys(found, "accounts") == ["1"]
        assert keys(found, "tickets") == ["1"]
        assert keys(found, "attendance") == ["10:2024-02-01", "10:2024-02-02", "11:2024-03-01"]
        assert keys(found, "certificates") == ["100"]
        assert keys(found, "invoices") == ["F-2024-001", "F-2024-003"]
        account = next(r for r in found.records if r.collection == "accounts")
        assert account.fields["created_at"] == "2024-01-15T09:30:00"
        assert "password_hash" not in account.fields and "photo" not in account.fields
        assert next(r for r in found.records if r.collection == "invoices"
                    ).fields["amount"] == "1200.50"
        # "abc" cannot be an integer: skipped, not sent to PostgreSQL (which would fail)
        odd = discover(source, tmp_path, Identity.of(customer_id=["abc", "7002"]), environ)
        assert keys(odd, "invoices") == ["F-2024-002"]
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        engine.dispose()
