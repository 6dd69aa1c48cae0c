"""Small organisations for the gathering tests: real SQLite databases and the two TOML files
(``tests/data/gathering``), an app reading them, and the steps of a search."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import select

from dsar import create_app
from dsar.cases import staff_actions
from dsar.extensions import db
from dsar.models import Case, CaseKind, CaseStatus, SourceResult
from tests.support.app import app_config
from tests.support.data import data_text, fill
from tests.support.staff import make_case, make_staff

#: The person the gathering tests search for (the shop's customer 1).
EMAIL = "camille.martin@example.fr"

#: The register: one processing fed by the sources ``write_config`` is given.
REGISTER = data_text("gathering/register.toml")
#: The shop: customers by e-mail in ``${directory}/shop.sqlite``; yields the customer id.
SHOP_SOURCE = data_text("gathering/shop.toml")
#: Billing: invoices by customer id, in the database named by ``TEST_BILLING_URL``.
BILLING_SOURCE = data_text("gathering/billing.toml")
#: A CRM over HTTP at ``${crm_url}``: contacts by e-mail.
CRM_SOURCE = data_text("gathering/crm.toml")


def build_databases(instance: Path) -> None:
    """A shop (customers by e-mail) and a billing system reached only by customer id."""
    with sqlite3.connect(instance / "shop.sqlite") as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT, name TEXT)")
        conn.executemany("INSERT INTO customers VALUES (?, ?, ?)", [
            (1, "camille.martin@example.fr", "Camille Martin"),
            (2, "camille.martin@autre.example", "Camille Martin"),  # same name, other person
            (3, "paul.durand@example.fr", "Paul Durand"),
        ])
    conn.close()
    with sqlite3.connect(instance / "billing.sqlite") as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, customer_id INTEGER, "
                     "amount TEXT)")
        conn.executemany("INSERT INTO invoices VALUES (?, ?, ?)",
                         [(10, 1, "120.00"), (11, 2, "80.00"), (12, 1, "45.50")])
    conn.close()


def sources_text(text: str, instance: Path, **values) -> str:
    """Source blocks with ``${directory}`` set to ``instance`` (and any other placeholder to
    ``values``)."""
    return fill(text, directory=instance, **values)


def write_config(instance: Path, sources: dict[str, str], **values) -> None:
    """``sources.toml`` from the given source blocks (see :func:`sources_text`), and a register
    that uses them all."""
    text = sources_text("".join(sources.values()), instance, **values)
    (instance / "sources.toml").write_text(text)
    names = "[" + ", ".join(f'"{n}"' for n in sources) + "]"
    (instance / "register.toml").write_text(fill(REGISTER, sources=names))


def app_with_sources(database_url, redis_url, key_file, smtp_server, tmp_path: Path,
                     **overrides):
    """An app whose instance folder is ``tmp_path`` (sources.toml and register.toml there)."""
    config = app_config(database_url, redis_url, key_file, tmp_path / "storage",
                        smtp_server.port)
    config.update(SOURCES_FILE=str(tmp_path / "sources.toml"),
                  REGISTER_FILE=str(tmp_path / "register.toml"), GATHER_RETRY_INTERVALS=[],
                  **overrides)
    return create_app(config)


def verified_case(app, email: str = EMAIL, kind=CaseKind.ACCESS):
    """A verified case of ``email``, ready for processing."""
    return make_case(app, status=CaseStatus.VERIFIED, kind=kind, email=email)


def start(app, case_id: int) -> None:
    """An agent starts processing the case: its search is queued."""
    with app.app_context():
        staff = make_staff(app, "agent", email=f"agent{case_id}@staff.example")
        staff_actions.start_processing(db.session.get(Case, case_id), staff)


def case_status(app, case_id: int) -> CaseStatus:
    """The case's status now."""
    with app.app_context():
        return db.session.get(Case, case_id).status


def rows_by_source(app, case_id: int) -> dict[str, SourceResult]:
    """The case's search results by source name (detached)."""
    with app.app_context():
        rows = db.session.scalars(select(SourceResult).where(SourceResult.case_id == case_id))
        result = {r.source: r for r in rows}
        for row in result.values():
            db.session.expunge(row)
        return result
