"""Small organisations for the gathering tests: real SQLite databases and the two TOML files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from dsar import create_app
from dsar.extensions import db
from dsar.models import CaseKind, CaseStatus
from tests.conftest import _config
from tests.staff_helpers import make_case

REGISTER = """
[controller]
name = "Test SAS"

[categories.identification]
label = "Données d'identification"
label_en = "Identification data"

[categories.contact]
label = "Coordonnées"

[categories.billing]
label = "Données de facturation"

[recipients.host]
name = "Hébergeur SAS"
role = "Hébergement"

[processing.customers]
purpose = "Gestion des clients"
legal_basis = "contract"
categories = ["identification", "contact", "billing"]
recipients = ["host"]
retention = "5 ans après la fin du contrat"
origin = "Vous-même"
sources = {sources}
"""

SHOP_SOURCE = """
[sources.shop]
kind = "sql"
label = "Boutique"
url = "sqlite:///{directory}/shop.sqlite"

[sources.shop.collections.customers]
match = {{ email = "email" }}
yields = {{ customer_id = "id" }}
erasure = "anonymize"
anonymize = {{ email = "hash", name = "null" }}
fields = {{ id = "identification", email = "contact", name = "identification" }}
"""

BILLING_SOURCE = """
[sources.billing]
kind = "sql"
label = "Facturation"
url_env = "TEST_BILLING_URL"

[sources.billing.collections.invoices]
match = {{ customer_id = "customer_id" }}
erasure = "retain"
retain_basis = "Code de commerce L123-22"
fields = {{ id = "billing", customer_id = "identification", amount = "billing" }}
"""


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


def write_config(instance: Path, sources: dict[str, str]) -> None:
    """``sources.toml`` from the given source blocks (``{directory}`` is ``instance``), and a
    register that uses them all."""
    text = "".join(sources.values()).replace("{directory}", str(instance))
    (instance / "sources.toml").write_text(text.replace("{{", "{").replace("}}", "}"))
    names = "[" + ", ".join(f'"{n}"' for n in sources) + "]"
    (instance / "register.toml").write_text(REGISTER.format(sources=names))


def app_with_sources(database_url, redis_url, key_file, smtp_server, tmp_path: Path,
                     **overrides):
    """An app whose instance folder is ``tmp_path`` (sources.toml and register.toml there)."""
    config = _config(database_url, redis_url, key_file, tmp_path / "storage", smtp_server.port)
    config.update(SOURCES_FILE=str(tmp_path / "sources.toml"),
                  REGISTER_FILE=str(tmp_path / "register.toml"), GATHER_RETRY_INTERVALS=[],
                  **overrides)
    return create_app(config)


def verified_case(app, email: str = "camille.martin@example.fr", kind=CaseKind.ACCESS):
    """A verified case of ``email``, ready for processing."""
    return make_case(app, status=CaseStatus.VERIFIED, kind=kind, email=email)


def dispose(app) -> None:
    with app.app_context():
        db.engine.dispose()
