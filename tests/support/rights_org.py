"""A small organisation for the rights carried out end to end (``tests/test_rights_flow.py``):
one database holding a shop's customers (correctable, restrictable, with a marketing opt-in)
and the invoices of billing (``read_only``: an issued invoice is never altered, a correction
of it becomes the person's statement), on SQLite or in a schema of the PostgreSQL test
database. Read straight from the database to check what changed."""

from __future__ import annotations

import secrets
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.support.gathering import EMAIL, write_config

SHOP = """
[sources.shop]
kind = "sql"
label = "Boutique"
url_env = "TEST_RIGHTS_URL"

[sources.shop.collections.customers]
label = "Clients"
table = "${prefix}customers"
match = { email = "email" }
yields = { customer_id = "id" }
erasure = "anonymize"
anonymize = { email = "hash", name = "null" }
operations.restrict = { set = { restricted = 1 } }
operations.lift_restriction = { set = { restricted = 0 } }
operations.unsubscribe = { set = { marketing_optin = 0 } }
[sources.shop.collections.customers.fields]
id = "identification"
email = "contact"
name = "identification"
restricted = "identification"
marketing_optin = "contact"
"""
BILLING = """
[sources.billing]
kind = "sql"
label = "Facturation"
url_env = "TEST_RIGHTS_URL"

[sources.billing.collections.invoices]
label = "Factures"
table = "${prefix}invoices"
match = { customer_id = "customer_id" }
read_only = true
erasure = "retain"
retain_basis = "Code de commerce L123-22"
[sources.billing.collections.invoices.fields]
id = "billing"
customer_id = "identification"
billed_to = "billing"
amount = "billing"
"""

#: Her account, her namesake, a person whose address contains hers, a stranger.
CUSTOMERS = [(1, EMAIL, "Camille Martin", 0, 1),
             (2, "camille.martin@autre.example", "Camille Martin", 0, 1),
             (3, "jcamille.martin@example.fr", "Jean-Camille Martin", 0, 1),
             (4, "paul.durand@example.fr", "Paul Durand", 0, 1)]
INVOICES = [(10, 1, "Camille Martin", "120.00"), (11, 2, "Camille Martin", "80.00"),
            (12, 1, "Camille Martin", "45.50")]
HERS = 1


@contextmanager
def rights_org(backend: str, database_url: str, instance: Path, monkeypatch):
    """The organisation's tables on ``backend`` ("sqlite" or "postgresql"), its sources.toml
    and register.toml in ``instance``; yields an engine on the source database."""
    if backend == "postgresql":
        schema = f"rights_src_{secrets.token_hex(4)}"
        url, prefix = database_url, f"{schema}."
    else:
        schema, url, prefix = None, f"sqlite:///{instance / 'rights.sqlite'}", ""
    engine = create_engine(url)
    with engine.begin() as conn:
        if schema:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        conn.execute(text(f"CREATE TABLE {prefix}customers (id integer PRIMARY KEY, email text "
                          "NOT NULL, name text, restricted integer NOT NULL DEFAULT 0, "
                          "marketing_optin integer NOT NULL DEFAULT 1)"))
        conn.execute(text(f"CREATE TABLE {prefix}invoices (id integer PRIMARY KEY, customer_id "
                          f"integer NOT NULL REFERENCES {prefix}customers (id), billed_to text, "
                          "amount text NOT NULL)"))
        conn.execute(text(f"INSERT INTO {prefix}customers VALUES (:a, :b, :c, :d, :e)"),  # noqa: S608
                     [dict(zip("abcde", row, strict=True)) for row in CUSTOMERS])
        conn.execute(text(f"INSERT INTO {prefix}invoices VALUES (:a, :b, :c, :d)"),  # noqa: S608
                     [dict(zip("abcd", row, strict=True)) for row in INVOICES])
    write_config(instance, {"shop": SHOP, "billing": BILLING}, prefix=prefix)
    monkeypatch.setenv("TEST_RIGHTS_URL", url)
    engine.prefix = prefix
    try:
        yield engine
    finally:
        if schema:
            with engine.begin() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


def rows(engine, table: str) -> dict[int, tuple]:
    """A table's rows by id, straight from the source database."""
    with engine.connect() as conn:
        return {r[0]: tuple(r[1:]) for r in conn.execute(
            text(f"SELECT * FROM {engine.prefix}{table} ORDER BY id"))}  # noqa: S608
