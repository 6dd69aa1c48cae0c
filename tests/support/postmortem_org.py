"""A small organisation for a deceased person's rights end to end
(``tests/test_postmortem_flow.py``): one SQLite database holding a training platform's accounts
(with a password hash and a security answer: credentials), the certificates earned, the
messages written (whose text may name other people: ``third_party``), and the invoices
(``retain``: the law keeps them). Jeanne Roux died; Paul Durand is alive and must be left alone.
Read straight from the database to check what changed."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import create_engine, select, text

from dsar.cases.workflow import transition
from dsar.core import storage
from dsar.extensions import db
from dsar.models import ActorType, Case, CaseKind, CaseStatus, DirectiveVersion, ExportPackage
from dsar.postmortem import directives
from dsar.postmortem.directives import Directives
from tests.support.forms import access_form, csrf_from, path_of, post_form
from tests.support.gathering import sources_text
from tests.support.portal import execution_documents
from tests.support.staff import make_case

DECEASED = "jeanne.roux@example.fr"
DESIGNATED = "elise.roux@example.fr"
HEIR = "marc.roux@example.fr"
DIED = date(2026, 10, 3)

PLATFORM = """
[sources.platform]
kind = "sql"
label = "Plateforme de formation"
url_env = "TEST_POSTMORTEM_URL"

[sources.platform.collections.accounts]
label = "Comptes"
table = "accounts"
match = { email = "email" }
yields = { customer_id = "id" }
erasure = "delete"
[sources.platform.collections.accounts.fields]
id = "identification"
email = "contact"
name = "identification"
password_hash = "authentication"
security_answer = "authentication"

[sources.platform.collections.certificates]
label = "Attestations de formation"
table = "certificates"
match = { customer_id = "account_id" }
erasure = "delete"
[sources.platform.collections.certificates.fields]
id = "training"
account_id = "identification"
title = "training"
issued_on = "training"

[sources.platform.collections.messages]
label = "Messages"
table = "messages"
match = { customer_id = "account_id" }
erasure = "delete"
third_party = ["body"]
[sources.platform.collections.messages.fields]
id = "correspondence"
account_id = "identification"
subject = "correspondence"
body = "correspondence"

[sources.platform.collections.invoices]
label = "Factures"
table = "invoices"
match = { customer_id = "account_id" }
read_only = true
erasure = "retain"
retain_basis = "Code de commerce, art. L123-22"
[sources.platform.collections.invoices.fields]
id = "billing"
account_id = "identification"
amount = "billing"
"""

REGISTER = """
[controller]
name = "Formation SAS"

[categories.identification]
label = "Données d'identification"
[categories.contact]
label = "Coordonnées"
[categories.authentication]
label = "Données de connexion"
[categories.training]
label = "Parcours de formation"
[categories.correspondence]
label = "Correspondance"
[categories.billing]
label = "Données de facturation"

[recipients.host]
name = "Hébergeur SAS"
role = "Hébergement"

[recipients.mailer]
name = "Routeur SAS"
role = "Envoi des lettres d'information"
notify_email = "dpo@routeur.example"

[processing.training]
purpose = "Formation des apprenants"
legal_basis = "contract"
categories = ["identification", "contact", "authentication", "training", "correspondence",
              "billing"]
recipients = ["host", "mailer"]
retention = "3 ans après la fin de la formation"
origin = "Vous-même"
sources = ["platform"]
"""

#: (id, email, name, password hash, security answer)
ACCOUNTS = [(1, DECEASED, "Jeanne Roux", "$argon2id$v=19$secret", "Médor"),
            (2, "paul.durand@example.fr", "Paul Durand", "$argon2id$v=19$other", "Rex")]
CERTIFICATES = [(10, 1, "Aquarelle niveau 2", "2024-06-01"),
                (11, 1, "Anglais B1", "2025-03-15"), (12, 2, "Comptabilité", "2025-01-10")]
MESSAGES = [(20, 1, "Sortie du samedi", "Écrire à mon amie claire.dubois@example.fr"),
            (21, 2, "Question", "Bonjour")]
INVOICES = [(30, 1, "120.00"), (31, 2, "80.00")]


def postmortem_org(instance: Path, monkeypatch):
    """Create the organisation's database, sources.toml and register.toml in ``instance``;
    returns an engine on the source database."""
    url = f"sqlite:///{instance / 'platform.sqlite'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE accounts (id integer PRIMARY KEY, email text, name text, "
                          "password_hash text, security_answer text)"))
        conn.execute(text("CREATE TABLE certificates (id integer PRIMARY KEY, account_id "
                          "integer, title text, issued_on text)"))
        conn.execute(text("CREATE TABLE messages (id integer PRIMARY KEY, account_id integer, "
                          "subject text, body text)"))
        conn.execute(text("CREATE TABLE invoices (id integer PRIMARY KEY, account_id integer, "
                          "amount text)"))
        for table, data in (("accounts", ACCOUNTS), ("certificates", CERTIFICATES),
                            ("messages", MESSAGES), ("invoices", INVOICES)):
            marks = ", ".join(f":v{i}" for i in range(len(data[0])))
            conn.execute(text(f"INSERT INTO {table} VALUES ({marks})"),  # noqa: S608
                         [{f"v{i}": v for i, v in enumerate(row)} for row in data])
    (instance / "sources.toml").write_text(sources_text(PLATFORM, instance))
    (instance / "register.toml").write_text(REGISTER)
    monkeypatch.setenv("TEST_POSTMORTEM_URL", url)
    return engine


def ids(engine, table: str) -> set[int]:
    """The ids left in a table, straight from the source database."""
    with engine.connect() as conn:
        return {row[0] for row in conn.execute(text(f"SELECT id FROM {table}"))}  # noqa: S608


def leave_directives(app, versions: list[tuple[datetime, Directives | None]]) -> str:
    """Jeanne's directive case with the given versions (``None``: a revocation), each dated
    as given; returns its reference."""
    case = make_case(app, status=CaseStatus.CONFIRMED, kind=CaseKind.POSTMORTEM_DIRECTIVE,
                     email=DECEASED)
    with app.app_context():
        row = db.session.get(Case, case.id)
        for number, (when, content) in enumerate(versions, start=1):
            if content is None:
                directives.revoke(row)
            elif number == 1:
                transition(row, CaseStatus.RECORDED, actor_type=ActorType.SYSTEM)
                directives.record(row, content, actor_type=ActorType.REQUESTER)
            else:
                directives.change(row, content)
            db.session.commit()
            version = db.session.scalar(select(DirectiveVersion).where(
                DirectiveVersion.case_id == row.id).order_by(DirectiveVersion.version.desc()))
            version.created_at = when
            db.session.commit()
    return case.reference


def at(day: date) -> datetime:
    """Noon on ``day``, UTC."""
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


def file_execution(app, client, smtp_server, run_jobs, *, email: str, role: str,
                   requests: list[str] | None = None):
    """File a request about Jeanne on the portal, with its documents, and confirm it from the
    e-mailed link; returns the case (detached)."""
    data = access_form(full_name="Élise Roux" if role != "heir" else "Marc Roux", email=email,
                       customer_number=None, deceased_name="Jeanne Roux", deceased_email=DECEASED,
                       date_of_birth="1948-02-11", date_of_death=DIED.isoformat(),
                       requester_role=role, heir_requests=requests or [],
                       **execution_documents(heir=role == "heir"))
    resp = post_form(client, "/request/postmortem_execution", data)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    assert run_jobs() == 0
    confirm = next(u for u in smtp_server.links(smtp_server.last_to(email)) if "/confirm/" in u)
    page = client.get(path_of(confirm))
    client.post(path_of(confirm), data={"csrf_token": csrf_from(page.get_data(True))})
    assert run_jobs() == 0
    with app.app_context():
        case = db.session.scalars(select(Case).where(Case.email_normalized == email)).one()
        assert case.status is CaseStatus.CONFIRMED
        db.session.expunge(case)
    return case


def package_files(app, case_id: int) -> dict[str, bytes]:
    """The members of the case's answer package."""
    with app.app_context():
        package = db.session.scalar(select(ExportPackage).where(
            ExportPackage.case_id == case_id).order_by(ExportPackage.id.desc()))
        with storage.reader(package.blob_id) as blob:
            archive = zipfile.ZipFile(io.BytesIO(blob.read()))
    return {name: archive.read(name) for name in archive.namelist()}


def exported(files: dict[str, bytes]) -> dict:
    """``export.json`` of a package."""
    return json.loads(files["export.json"])
