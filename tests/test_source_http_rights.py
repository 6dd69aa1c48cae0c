"""The ``http`` connector rectifying, restricting and unsubscribing (``update``, ``restrict``,
``lift_restriction``, ``unsubscribe``): against the demo organisation's CRM and newsletter
APIs, whose SQLite databases really change, and against a small API on 127.0.0.1 for what the
demo does not do (an operation without a body, 404s, lenient comparisons, refusals).

Configurations go through the real loader (the demo's own ``sources.toml``, or one written in
``tmp_path``)."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import defaultdict
from contextlib import closing
from pathlib import Path

import pytest

from dsar.demo.org import SHOWCASE
from dsar.sources.base import Identity, Operation, OperationUnsupported, SourceConfigError
from dsar.sources.catalog import Catalog
from dsar.sources.config import load_sources
from dsar.sources.http import HttpConnector
from dsar.sources.register import Register
from tests.support.data import fill
from tests.support.demo_apis import demo_apis
from tests.support.http_source import CONTACTS, HEAD, NOTES
from tests.support.local_http import JsonHandler, LocalServer

HASH_KEY = b"k" * 32
A, B, E = (SHOWCASE[k] for k in "ABE")


def rows(db: Path, sql: str, *params) -> list[tuple]:
    with closing(sqlite3.connect(db)) as con:
        return con.execute(sql, params).fetchall()


def totals(results) -> list[tuple[str, str, int, int]]:
    return [(r.collection, r.action, r.changed, r.absent) for r in results]


def keys_of(connector: HttpConnector, identity: Identity) -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = defaultdict(list)
    for record in connector.discover(identity).records:
        found[record.collection].append(record.key)
    return {name: tuple(keys) for name, keys in found.items()}


# -- the demo organisation's APIs ----------------------------------------------------------

@pytest.fixture
def demo(tmp_path):
    """The demo organisation (50 people, its own copy) with both APIs served; returns
    (connect(source) -> connector, the data folder, the sources read)."""
    with demo_apis(tmp_path) as (connect, org, sources):
        yield connect, org, sources


CONTACT_SQL = ("SELECT id, first_name, last_name, job_title, city, processing_restricted, "
               "modified_time FROM contacts ORDER BY id")


def test_a_crm_update_changes_her_named_fields_and_nothing_else(demo):
    connect, org, _ = demo
    db = org / "crm.sqlite"
    connector = connect("crm")
    her = Identity.of(email=[A["email"]], customer_id=[A["customer_id"]])
    found = keys_of(connector, her)
    personal = keys_of(connector, Identity.of(email=[A["email"]]))["contacts"]
    # Her personal contact (by e-mail and by customer id) and her work one (customer id).
    assert len(found["contacts_by_customer"]) == 2 and set(personal) <= set(
        found["contacts_by_customer"])
    others = [keys_of(connector, Identity.of(email=[p["email"]])) for p in (B, E)]
    before = {r[0]: r for r in rows(db, CONTACT_SQL)}
    new = {"last_name": "Fontaine-Roux", "city": "Villeurbanne"}
    operations = [Operation(name, "update", keys, values={k: new for k in keys})
                  for name, keys in sorted(found.items()) if name.startswith("contacts")]
    with connect("crm") as fresh:
        assert fresh.remaining(operations) == {"contacts": 1, "contacts_by_customer": 2}

    sent = connector.client.requests
    assert totals(connector.carry_out(operations, hash_key=HASH_KEY)) == [
        ("contacts", "update", 1, 0), ("contacts_by_customer", "update", 2, 0)]
    # A contact listed by both collections is read and patched once: 2 contacts, 4 requests.
    assert connector.client.requests - sent == 4

    after = {r[0]: r for r in rows(db, CONTACT_SQL)}
    changed = {i for i in after if after[i] != before[i]}
    assert changed == {int(k) for k in found["contacts_by_customer"]}
    for i in changed:
        assert after[i][:6] == (i, before[i][1], "Fontaine-Roux", before[i][3], "Villeurbanne",
                                0)
    # Her near-twins' contacts are as they were, and still found as before.
    assert [keys_of(connector, Identity.of(email=[p["email"]])) for p in (B, E)] == others
    assert connector.remaining(operations) == {}

    # Run again: each contact read, nothing sent, the same totals (its stamp did not move).
    assert totals(connector.carry_out(operations, hash_key=HASH_KEY)) == [
        ("contacts", "update", 0, 1), ("contacts_by_customer", "update", 0, 2)]
    assert {r[0]: r for r in rows(db, CONTACT_SQL)} == after


def test_a_crm_restriction_is_set_then_lifted(demo):
    connect, org, _ = demo
    db = org / "crm.sqlite"
    connector = connect("crm")
    (key,) = keys_of(connector, Identity.of(email=[A["email"]]))["contacts"]
    restrict = Operation("contacts", "restrict", (key,))
    lift = Operation("contacts", "lift_restriction", (key,))
    assert connector.remaining([restrict]) == {"contacts": 1}
    assert connector.remaining([lift]) == {}

    assert totals(connector.carry_out([restrict], hash_key=HASH_KEY)) == [
        ("contacts", "restrict", 1, 0)]
    assert rows(db, "SELECT id FROM contacts WHERE processing_restricted = 1") == [(int(key),)]
    # The API shows it as a yes/no; the connector reads it back as done.
    assert connector.remaining([restrict]) == {}
    assert totals(connector.carry_out([restrict], hash_key=HASH_KEY)) == [
        ("contacts", "restrict", 0, 1)]

    assert connector.remaining([lift]) == {"contacts": 1}
    assert totals(connector.carry_out([lift], hash_key=HASH_KEY)) == [
        ("contacts", "lift_restriction", 1, 0)]
    assert rows(db, "SELECT count(*) FROM contacts WHERE processing_restricted != 0") == [(0,)]
    assert connector.remaining([lift]) == {}
    assert totals(connector.carry_out([lift], hash_key=HASH_KEY)) == [
        ("contacts", "lift_restriction", 0, 1)]


def test_unsubscribing_her_at_the_newsletter_blacklists_her_address_only(demo):
    connect, org, _ = demo
    db = org / "newsletter.sqlite"
    connector = connect("newsletter")
    keys = keys_of(connector, Identity.of(email=[A["email"]]))["contacts"]
    before = rows(db, "SELECT * FROM contacts ORDER BY id")
    operation = Operation("contacts", "unsubscribe", keys)
    assert connector.remaining([operation]) == {"contacts": len(keys)}

    assert totals(connector.carry_out([operation], hash_key=HASH_KEY)) == [
        ("contacts", "unsubscribe", len(keys), 0)]
    blacklisted = {str(r[0]) for r in rows(db, "SELECT id FROM contacts "
                                               "WHERE email_blacklisted = 1")}
    assert set(keys) <= blacklisted
    after = rows(db, "SELECT * FROM contacts ORDER BY id")
    assert [r for r in after if str(r[0]) not in keys] == [
        r for r in before if str(r[0]) not in keys]
    # Her contact and its history stay: an objection is no erasure.
    assert connector.discover(Identity.of(email=[A["email"]])).records
    assert connector.remaining([operation]) == {}
    assert totals(connector.carry_out([operation], hash_key=HASH_KEY)) == [
        ("contacts", "unsubscribe", 0, len(keys))]
    assert rows(db, "SELECT * FROM contacts ORDER BY id") == after


def test_a_newsletter_update_sends_only_what_differs(demo):
    connect, org, _ = demo
    connector = connect("newsletter")
    keys = keys_of(connector, Identity.of(email=[A["email"]]))["contacts"]
    (first_name,) = {r[0] for r in rows(org / "newsletter.sqlite",
                                        "SELECT first_name FROM contacts WHERE id = ?", keys[0])}
    values = {"first_name": first_name, "last_name": "Fontaine-Roux"}
    operation = Operation("contacts", "update", keys, values={k: values for k in keys})
    assert totals(connector.carry_out([operation], hash_key=HASH_KEY)) == [
        ("contacts", "update", len(keys), 0)]
    assert rows(org / "newsletter.sqlite", "SELECT first_name, last_name FROM contacts "
                                           "WHERE id = ?", keys[0]) == [(first_name,
                                                                         "Fontaine-Roux")]
    assert connector.remaining([operation]) == {}


def test_what_the_demo_sources_support_is_read_from_their_configuration(demo):
    _, _, sources = demo
    catalog = Catalog(sources=sources, register=Register())
    supported = {(s, c, a) for s, source in sources.items() for c in source.collections
                 for a in ("update", "restrict", "lift_restriction", "unsubscribe")
                 if catalog.supports(s, c, a)}
    assert supported == {
        ("platform", "accounts", "update"), ("platform", "accounts", "restrict"),
        ("platform", "accounts", "lift_restriction"),
        *(("platform", c, "update") for c in ("enrolments", "attendance", "level_tests")),
        *(("crm", c, a) for c in ("contacts", "contacts_by_customer")
          for a in ("update", "restrict", "lift_restriction")),
        ("newsletter", "contacts", "update"), ("newsletter", "contacts", "unsubscribe")}
    # Invoices are read-only; erasure's operations as before.
    assert not catalog.supports("platform", "invoices", "update")
    assert catalog.supports("crm", "notes", "delete") and catalog.supports(
        "analytics", "events", "redact")
    assert not catalog.supports("analytics", "events", "delete")


# -- a small API on 127.0.0.1 --------------------------------------------------------------

class Contacts(JsonHandler):
    """``GET``/``PATCH /api/v1/contacts/<id>`` over :attr:`records`; ``POST
    /api/v1/contacts/<id>/restrict``; records every request in :attr:`hits`."""

    records: dict[str, dict] = {}
    hits: list[tuple[str, str, object]] = []
    lock = threading.Lock()

    def _route(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        with self.lock:
            self.hits.append((method, self.path, body))
            parts = self.path.strip("/").split("/")
            record = self.records.get(parts[3]) if len(parts) >= 4 else None
            if record is None:
                return self.answer(404, {"error": "not found"})
            if method == "GET" and len(parts) == 4:
                return self.answer(200, {"record": record})
            if method == "PATCH" and len(parts) == 4:
                record.update(body)
                return self.answer(200, {"ok": True})
            if method == "POST" and parts[4:] == ["restrict"]:
                record["restricted"] = True
                return self.answer(201, {"ok": True})
            return self.answer(405, {"error": "no"})

    def do_GET(self):
        self._route("GET")

    def do_PATCH(self):
        self._route("PATCH")

    def do_POST(self):
        self._route("POST")


RIGHTS = """\
operations.update = { method = "PATCH", path = "/api/v1/contacts/{key}", item = "record" }
operations.restrict = { method = "POST", path = "/api/v1/contacts/{key}/restrict" }
operations.lift_restriction = { method = "PATCH", path = "/api/v1/contacts/{key}", \
item = "record", body = { restricted = false } }
operations.unsubscribe = { method = "PATCH", path = "/api/v1/contacts/{key}", \
item = "record", body = { optin = false, blacklisted = true } }
"""


def source_text(base_url: str, operations: str = RIGHTS) -> str:
    return fill(HEAD, base_url=base_url) + CONTACTS + operations + NOTES


@pytest.fixture
def api(tmp_path):
    """(the handler class, with its records and hits; a connector for it)."""
    Contacts.records = {
        "7": {"id": 7, "email": "jeanne@x.fr", "name": "Jeanne Martin", "vip": 1,
              "optin": "1", "blacklisted": 0},
        "8": {"id": 8, "email": "jeanne@y.fr", "name": "Jeanne Martin", "vip": 1,
              "optin": "1", "blacklisted": 0},
    }
    Contacts.hits = []
    server = LocalServer(Contacts)
    (tmp_path / "sources.toml").write_text(source_text(server.url))
    source = load_sources(tmp_path / "sources.toml", {"http": HttpConnector}, tmp_path)["crm"]
    connector = HttpConnector(source, instance_path=tmp_path)
    yield Contacts, connector
    connector.close()
    server.close()


def test_an_update_reads_compares_leniently_and_sends_only_what_differs(api):
    handler, connector = api
    values = {"7": {"name": "Jeanne Martin-Roux", "vip": True},  # vip 1 is already true
              "404": {"name": "Personne"}}
    operation = Operation("contacts", "update", ("7", "404"), values=values)
    assert totals(connector.carry_out([operation], hash_key=HASH_KEY)) == [
        ("contacts", "update", 1, 1)]
    assert [h for h in handler.hits if h[0] == "PATCH"] == [
        ("PATCH", "/api/v1/contacts/7", {"name": "Jeanne Martin-Roux"})]
    assert handler.records["8"]["name"] == "Jeanne Martin"  # her namesake
    assert connector.remaining([operation]) == {}
    assert totals(connector.carry_out([operation], hash_key=HASH_KEY)) == [
        ("contacts", "update", 0, 2)]
    assert sum(1 for h in handler.hits if h[0] == "PATCH") == 1


def test_an_operation_without_a_body_is_a_request_alone_and_cannot_be_read_back(api):
    handler, connector = api
    restrict = Operation("contacts", "restrict", ("7", "404"))
    assert totals(connector.carry_out([restrict], hash_key=HASH_KEY)) == [
        ("contacts", "restrict", 1, 1)]
    assert [h[:2] for h in handler.hits] == [("POST", "/api/v1/contacts/7/restrict"),
                                            ("POST", "/api/v1/contacts/404/restrict")]
    assert handler.records["7"]["restricted"] is True and "restricted" not in handler.records["8"]
    handler.hits.clear()
    assert connector.remaining([restrict]) == {}
    assert handler.hits == []  # nothing to read it back with


def test_a_body_is_sent_whole_when_one_of_its_fields_differs(api):
    handler, connector = api
    unsubscribe = Operation("contacts", "unsubscribe", ("7",))
    assert connector.remaining([unsubscribe]) == {"contacts": 1}
    assert totals(connector.carry_out([unsubscribe], hash_key=HASH_KEY)) == [
        ("contacts", "unsubscribe", 1, 0)]
    assert [h for h in handler.hits if h[0] == "PATCH"] == [
        ("PATCH", "/api/v1/contacts/7", {"optin": False, "blacklisted": True})]
    assert handler.records["8"]["optin"] == "1"
    assert connector.remaining([unsubscribe]) == {}
    assert totals(connector.carry_out([unsubscribe], hash_key=HASH_KEY)) == [
        ("contacts", "unsubscribe", 0, 1)]
    # "0" and 0 already mean no: lifting a restriction never set sends nothing.
    handler.records["8"].update(restricted="0")
    lift = Operation("contacts", "lift_restriction", ("8",))
    assert totals(connector.carry_out([lift], hash_key=HASH_KEY)) == [
        ("contacts", "lift_restriction", 0, 1)]


@pytest.mark.parametrize(("operation", "words"), [
    (Operation("contacts", "update", ("7",), values={"7": {"password_hash": "x"}}),
     "field 'password_hash' of collection 'contacts' of source 'crm' cannot be updated"),
    (Operation("contacts", "update", ("7",), values={"7": {"id": 9}}), "field 'id'"),
    (Operation("contacts", "update", ("7",)), "must give new values"),
    (Operation("contacts", "update", ("7",), values={"8": {"name": "Jeanne Roux"}}),
     "must give new values"),
    (Operation("notes", "update", ("1",), values={"1": {"title": "x"}}),
     "declares no 'update' operation"),
    (Operation("notes", "restrict", ("1",)), "declares no 'restrict' operation"),
])
def test_what_cannot_be_done_is_refused_before_any_request(api, operation, words):
    handler, connector = api
    with pytest.raises(OperationUnsupported) as refused:
        connector.carry_out([Operation("contacts", "unsubscribe", ("7",)), operation],
                            hash_key=HASH_KEY)
    assert words in str(refused.value)
    assert "Jeanne" not in str(refused.value)
    assert handler.hits == []


@pytest.mark.parametrize(("line", "key"), [
    ('operations.restrict = { method = "PATCH", path = "/c/{key}", body = { r = true } }',
     "operations.lift_restriction"),
    ('operations.update = { method = "DELETE", path = "/c/{key}" }', "operations.update.method"),
    # Only the changed fields are sent: a PUT would replace the record with them.
    ('operations.update = { method = "PUT", path = "/c/{key}" }', "operations.update.method"),
    ('operations.update = { method = "PATCH", path = "/c/{key}", body = { a = 1 } }',
     "operations.update.body"),
    ('operations.unsubscribe = { method = "PATCH", path = "/c/{key}", body = {} }',
     "operations.unsubscribe.body"),
    ('operations.unsubscribe = { method = "PATCH", path = "/c/{key}", body = true }',
     "operations.unsubscribe.body"),
    ('operations.unsubscribe = { method = "PATCH", path = "/c/{key}", body = { a = { b = 1 } } }',
     "operations.unsubscribe.body.a"),
    ('operations.unsubscribe = { method = "DELETE", path = "/c/{key}", body = { a = 1 } }',
     "operations.unsubscribe.body"),
    ('operations.unsubscribe = { method = "POST", path = "/c/{key}/unsub", item = "data" }',
     "operations.unsubscribe.item"),
    ('operations.unsubscribe = { method = "GET", path = "/c/{key}" }',
     "operations.unsubscribe.method"),
    ('operations.object = { method = "POST", path = "/c/{key}" }', "operations.object"),
])
def test_a_bad_operation_names_the_file_and_its_key(tmp_path, line, key):
    path = tmp_path / "sources.toml"
    path.write_text(source_text("https://crm.example.fr", line + "\n"))
    with pytest.raises(SourceConfigError) as failure:
        load_sources(path, {"http": HttpConnector}, tmp_path)
    assert failure.value.file == str(path)
    assert failure.value.key == f"sources.crm.collections.contacts.{key}"
