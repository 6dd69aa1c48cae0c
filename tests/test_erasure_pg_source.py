"""The erasure flow of ``test_erasure_flow`` with the shop and billing sources on PostgreSQL
(only when the suite runs on PostgreSQL: ``DSAR_TEST_DATABASE_URL``): their tables in a schema
of their own in that database, dropped afterwards, reached through ``url_env``. Real workers;
the rows read back straight from PostgreSQL."""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy import create_engine, select, text

from dsar.extensions import db
from dsar.models import (
    AuditEvent,
    CaseKind,
    CaseStatus,
    ChangePlan,
    ChangeStep,
    ExportPackage,
    PackageStatus,
    PlanStatus,
    RecipientNotice,
    StepStatus,
)
from tests.support.app import dispose
from tests.support.erasure_steps import run_step_again
from tests.support.gathering import (
    EMAIL,
    app_with_sources,
    case_status,
    start,
    verified_case,
    write_config,
)
from tests.support.staff import login, make_staff, post_action
from tests.support.workers import run_queued_jobs

#: The shop: customers by e-mail (anonymised), their wish lists reached along the
#: database's own foreign key (deleted).
SHOP = """
[sources.shop]
kind = "sql"
label = "Boutique"
url_env = "TEST_PG_SOURCE_URL"

[sources.shop.collections.customers]
label = "Clients"
table = "${schema}.customers"
match = { email = "email" }
yields = { customer_id = "id" }
erasure = "anonymize"
anonymize = { email = "hash", name = "null" }
fields = { id = "identification", email = "contact", name = "identification" }

[sources.shop.collections.wishes]
label = "Listes d'envies"
table = "${schema}.wishes"
erasure = "delete"
fields = { id = "identification", customer_id = "identification", item = "billing" }
"""
#: Billing: invoices by customer id, kept (Code de commerce); a real foreign key to the shop's
#: customers, which must therefore stay.
BILLING = """
[sources.billing]
kind = "sql"
label = "Facturation"
url_env = "TEST_PG_SOURCE_URL"

[sources.billing.collections.invoices]
label = "Factures"
table = "${schema}.invoices"
match = { customer_id = "customer_id" }
erasure = "retain"
retain_basis = "Code de commerce L123-22"
fields = { id = "billing", customer_id = "identification", amount = "billing" }
"""
#: Her two accounts (the same mailbox, written in other capitals), her namesake, a person
#: whose address contains hers, a stranger.
CUSTOMERS = [(1, EMAIL, "Camille Martin"), (2, "camille.martin@autre.example", "Camille Martin"),
             (3, "paul.durand@example.fr", "Paul Durand"),
             (4, "jcamille.martin@example.fr", "Jean-Camille Martin"),
             (5, "Camille.Martin@Example.FR", "C. Martin")]
WISHES = [(100, 1, "Livre"), (101, 2, "Disque"), (102, 5, "Stylo"), (103, 4, "Lampe")]
INVOICES = [(10, 1, "120.00"), (11, 2, "80.00"), (12, 1, "45.50"), (13, 5, "12.00"),
            (14, 4, "9.90")]
HERS = {1, 5}


@pytest.fixture
def pg_org(database_url, tmp_path, monkeypatch):
    """The shop's and billing's tables in a new schema of the test database; its name."""
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL sources: set DSAR_TEST_DATABASE_URL to a PostgreSQL database")
    schema = f"erasure_src_{secrets.token_hex(4)}"
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
        conn.execute(text(f"CREATE TABLE {schema}.customers (id integer PRIMARY KEY, "
                          "email text NOT NULL, name text)"))
        conn.execute(text(f"CREATE INDEX ON {schema}.customers (lower(email))"))
        conn.execute(text(f"CREATE TABLE {schema}.wishes (id integer PRIMARY KEY, customer_id "
                          f"integer NOT NULL REFERENCES {schema}.customers (id), item text)"))
        conn.execute(text(f"CREATE TABLE {schema}.invoices (id integer PRIMARY KEY, "
                          f"customer_id integer NOT NULL REFERENCES {schema}.customers (id), "
                          "amount numeric(10, 2) NOT NULL)"))
        for table, rows in (("customers", CUSTOMERS), ("wishes", WISHES),
                            ("invoices", INVOICES)):
            conn.execute(text(f"INSERT INTO {schema}.{table} VALUES (:a, :b, :c)"),  # noqa: S608
                         [dict(zip("abc", row, strict=True)) for row in rows])
    write_config(tmp_path, {"shop": SHOP, "billing": BILLING}, schema=schema)
    monkeypatch.setenv("TEST_PG_SOURCE_URL", database_url)
    try:
        yield engine, schema
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


@pytest.fixture
def pg_app(pg_org, app, database_url, redis_url, key_file, smtp_server, tmp_path):
    """An app reading the PostgreSQL sources (``app`` is requested for its clean-up)."""
    gapp = app_with_sources(database_url, redis_url, key_file, smtp_server, tmp_path)
    yield gapp
    dispose(gapp)


def rows(pg_org, table: str) -> dict[int, tuple]:
    """The rows of one of the schema's tables, by id, read straight from PostgreSQL."""
    engine, schema = pg_org
    with engine.connect() as conn:
        return {r[0]: tuple(r[1:]) for r in conn.execute(
            text(f"SELECT * FROM {schema}.{table} ORDER BY id"))}  # noqa: S608


def everything(pg_org) -> dict[str, dict[int, tuple]]:
    """The rows of the three tables."""
    return {table: rows(pg_org, table) for table in ("customers", "wishes", "invoices")}


def approved_and_run(app, reference: str):
    """A DPO approves the plan and the workers carry it out; the DPO's client."""
    dpo = make_staff(app, "dpo", email="dpo-pg@staff.example")
    client = app.test_client()
    login(client, dpo)
    assert post_action(client, reference, "approve").status_code == 302
    assert run_queued_jobs(app) == 0
    return client


def erasure_in_review(app):
    """An erasure case searched, its plan in review."""
    case = verified_case(app, kind=CaseKind.ERASURE)
    start(app, case.id)
    assert run_queued_jobs(app) == 0
    assert case_status(app, case.id) is CaseStatus.REVIEW
    return case


def test_an_erasure_on_postgresql_sources_anonymises_deletes_and_keeps(pg_app, pg_org):
    before = everything(pg_org)
    case = erasure_in_review(pg_app)
    assert everything(pg_org) == before  # the search changes nothing
    client = approved_and_run(pg_app, case.reference)
    page = client.get(f"/staff/cases/{case.reference}").get_data(as_text=True)
    assert 'data-source="shop" data-collection="wishes" data-action="delete"' in page
    assert 'data-source="billing" data-collection="invoices" data-action="retain"' in page

    after = everything(pg_org)
    # Her two accounts anonymised per the map (the keyed hash, the name gone); her wishes
    # deleted, the children before their parents; her invoices kept, still pointing at her
    # anonymised accounts.
    for customer in HERS:
        email, name = after["customers"][customer]
        assert len(email) == 64 and email != before["customers"][customer][0] and name is None
    assert after["wishes"].keys() == before["wishes"].keys() - {100, 102}
    assert after["invoices"] == before["invoices"]
    # Her namesake, the address containing hers, the stranger: untouched.
    for table in ("customers", "wishes"):
        others = {k for k in before[table] if k not in HERS and k not in (100, 102)}
        assert {k: after[table][k] for k in others} == {k: before[table][k] for k in others}

    with pg_app.app_context():
        plan = db.session.scalar(select(ChangePlan).where(ChangePlan.case_id == case.id))
        assert (plan.status, plan.remaining) == (PlanStatus.VERIFIED, {})
        [step] = db.session.scalars(select(ChangeStep).where(ChangeStep.case_id == case.id,
                                                             ChangeStep.source == "shop"))
        assert {o["collection"]: (o["changed"], o["absent"]) for o in step.outcome} == {
            "customers": (2, 0), "wishes": (2, 0)}
        billing = db.session.scalar(select(ChangeStep.status).where(
            ChangeStep.case_id == case.id, ChangeStep.source == "billing"))
        assert billing is StepStatus.NOTHING  # everything there is kept
        host = db.session.scalar(select(RecipientNotice.id).where(
            RecipientNotice.case_id == case.id, RecipientNotice.recipient == "host"))
    assert case_status(pg_app, case.id) is CaseStatus.REVIEW

    # Art. 19: the host is told by staff; then the certificate, then the release.
    assert post_action(client, case.reference, "notice", {
        "notice_id": str(host), "outcome": "impossible",
        "reason": "L'hébergeur n'a pas accès aux données de la base."}).status_code == 302
    assert run_queued_jobs(pg_app) == 0
    with pg_app.app_context():
        [package] = db.session.scalars(select(ExportPackage).where(
            ExportPackage.case_id == case.id)).all()
        assert (package.status, str(package.scope)) == (PackageStatus.READY, "erasure")
        package_id = package.id
        actions = [e.action for e in db.session.scalars(select(AuditEvent).where(
            AuditEvent.case_id == case.id))]
    assert actions.count("plan.step_done") == 1 and actions.count("plan.verified") == 1
    released = post_action(client, case.reference, "release", {"package_id": str(package_id)})
    assert released.status_code == 302
    assert case_status(pg_app, case.id) is CaseStatus.COMPLETED
    assert everything(pg_org) == after


def test_erasing_twice_on_postgresql_changes_nothing_the_second_time(pg_app, pg_org):
    case = erasure_in_review(pg_app)
    approved_and_run(pg_app, case.reference)
    after_first = everything(pg_org)
    first, again = run_step_again(pg_app, case.id, "shop")
    assert everything(pg_org) == after_first
    assert [o["changed"] for o in first] == [2, 2] and [o["changed"] for o in again] == [0, 0]
    assert [o["changed"] + o["absent"] for o in again] == [o["changed"] + o["absent"]
                                                          for o in first]
