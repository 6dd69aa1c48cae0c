"""The ``http`` connector carrying out an approved plan (``carry_out``): against the demo
organisation's CRM and newsletter APIs, whose databases really change, and against a scripted
API on 127.0.0.1 for retries, refusals and what is never sent or logged.

Configurations go through the real loader (the demo's own ``sources.toml``, or one written in
``tmp_path``). Waits are recorded through ``connector.sleep``.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections import defaultdict
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from werkzeug.wrappers import Request, Response

from dsar.demo.org import SHOWCASE
from dsar.demo.services import serve
from dsar.sources.base import (
    Identity,
    Operation,
    OperationUnsupported,
    SourceConfigError,
    SourceError,
    anonymized_value,
)
from dsar.sources.config import load_sources
from dsar.sources.http import HttpConnector
from tests.support.data import fill
from tests.support.demo_apis import demo_apis
from tests.support.http_source import CONTACTS, HEAD, NOTES

HASH_KEY = b"k" * 32
A, B, E = (SHOWCASE[k] for k in "ABE")
#: Collection -> the table of the demo service's database holding its records.
TABLES = {"crm": {"contacts": "contacts", "contacts_by_customer": "contacts",
                  "notes": "notes", "deals": "deals"},
          "newsletter": {"contacts": "contacts", "list_memberships": "list_memberships",
                         "email_events": "events"}}


def rows(db: Path, sql: str, *params) -> list[tuple]:
    with closing(sqlite3.connect(db)) as con:
        return con.execute(sql, params).fetchall()


def plan(found, action: str = "delete") -> list[Operation]:
    """One operation per collection, parents first (as the lead's plan sorts them by name)."""
    keys = defaultdict(list)
    for record in found.records:
        keys[record.collection].append(record.key)
    return [Operation(name, action, tuple(k)) for name, k in sorted(keys.items())]


def totals(results) -> list[tuple[str, int, int]]:
    return [(r.collection, r.changed, r.absent) for r in results]


# -- the demo organisation's APIs ----------------------------------------------------------

@pytest.fixture
def demo(tmp_path):
    """The demo organisation (50 people, its own copy) with both APIs served; returns
    (connect(source) -> connector, the data folder)."""
    with demo_apis(tmp_path) as (connect, org, sources):
        yield connect, org


@pytest.mark.parametrize("source", ["crm", "newsletter"])
def test_erasing_her_in_a_demo_api_deletes_her_records_and_nobody_elses(demo, source):
    connect, org = demo
    db = org / f"{source}.sqlite"
    connector = connect(source)
    her = Identity.of(email=[A["email"]], customer_id=[A["customer_id"]])
    others = [Identity.of(email=[p["email"]], customer_id=[p["customer_id"]]) for p in (B, E)]
    before = [connector.discover(o).records for o in others]
    found = connector.discover(her)
    operations = plan(found)
    assert len(operations) >= 3 and all(o.keys for o in operations)
    distinct = {TABLES[source][o.collection]: set() for o in operations}
    for o in operations:
        distinct[TABLES[source][o.collection]].update(o.keys)
    counts = {t: rows(db, f"SELECT count(*) FROM {t}")[0][0] for t in distinct}  # noqa: S608

    sent = connector.client.requests
    first = connector.carry_out(operations, hash_key=HASH_KEY)

    # In the order given, though children went first (the API refuses a parent with any).
    assert [r.collection for r in first] == [o.collection for o in operations]
    if source == "crm":  # her personal contact is found by e-mail and by customer id
        assert len(distinct["contacts"]) < sum(
            len(o.keys) for o in operations if o.collection.startswith("contacts"))
    # A contact listed by two collections: one DELETE, changed in both.
    assert totals(first) == [(o.collection, len(o.keys), 0) for o in operations]
    assert connector.client.requests - sent == sum(len(keys) for keys in distinct.values())
    for table, keys in distinct.items():
        ids = ",".join(keys)
        assert rows(db, f"SELECT count(*) FROM {table} WHERE id IN ({ids})") == [(0,)]  # noqa: S608
        assert rows(db, f"SELECT count(*) FROM {table}") == [(counts[table] - len(keys),)]  # noqa: S608
    assert connector.discover(her).records == []
    assert [connector.discover(o).records for o in others] == before

    second = connector.carry_out(operations, hash_key=HASH_KEY)
    assert totals(second) == [(o.collection, 0, len(o.keys)) for o in operations]


def test_anonymising_a_crm_contact_patches_its_fields_once(demo):
    connect, org = demo
    db = org / "crm.sqlite"
    connector = connect("crm")
    found = connector.discover(Identity.of(email=[A["email"]]))
    keys = tuple(r.key for r in found.records if r.collection == "contacts")
    (key,) = keys
    (original,) = rows(db, "SELECT email, last_name, modified_time FROM contacts WHERE id = ?",
                       key)
    policy = {"email": "hash", "first_name": "fixed:[supprimé]", "phone": "null"}
    operation = Operation("contacts", "anonymize", keys, policy)

    assert totals(connector.carry_out([operation], hash_key=HASH_KEY)) == [("contacts", 1, 0)]
    (after,) = rows(db, "SELECT email, first_name, phone, last_name, modified_time "
                        "FROM contacts WHERE id = ?", key)
    assert after[:4] == (anonymized_value("hash", original[0], HASH_KEY), "[supprimé]", None,
                         original[1])
    # The API's fuzzy index forgot the address: her search no longer returns the contact.
    answer = httpx.get(connector.settings.base_url + "/api/v1/contacts",
                       params={"email": A["email"]},
                       headers={"Authorization": "Bearer crm-secret"}).json()
    assert key not in [c["id"] for c in answer["data"]]

    # Already anonymised: read, compared, nothing sent (the record's stamp did not move).
    assert totals(connector.carry_out([operation], hash_key=HASH_KEY)) == [("contacts", 0, 1)]
    assert rows(db, "SELECT modified_time FROM contacts WHERE id = ?", key) == [(after[4],)]


def test_anonymising_a_newsletter_contact_uses_its_204_answer(demo):
    connect, org = demo
    connector = connect("newsletter")
    found = connector.discover(Identity.of(email=[A["email"]]))
    keys = tuple(r.key for r in found.records if r.collection == "contacts")
    operation = Operation("contacts", "anonymize", keys, {"email": "hash", "sms": "null",
                                                          "optin_ip": "null"})
    assert totals(connector.carry_out([operation], hash_key=HASH_KEY)) == [
        ("contacts", len(keys), 0)]
    assert connector.discover(Identity.of(email=[A["email"]])).records == []
    assert totals(connector.carry_out([operation], hash_key=HASH_KEY)) == [
        ("contacts", 0, len(keys))]


def test_a_contact_whose_notes_stay_is_not_deleted_and_the_error_names_no_one(demo, caplog):
    connect, org = demo
    connector = connect("crm")
    found = connector.discover(Identity.of(email=[A["email"]]))
    keys = tuple(r.key for r in found.records if r.collection == "contacts")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SourceError) as refused:
        connector.carry_out([Operation("contacts", "delete", keys)], hash_key=HASH_KEY)
    assert str(refused.value) == "HTTP 409 from DELETE /api/v1/contacts/{key}"
    assert rows(org / "crm.sqlite", "SELECT count(*) FROM contacts WHERE id = ?", keys[0]) == [
        (1,)]
    assert keys[0] not in caplog.text and A["email"] not in caplog.text


# -- a scripted API --------------------------------------------------------------------------

class Script:
    """A WSGI API answering ``answers[(method, raw path)](n-th such request, JSON body)`` with
    (status, body); anything else is a 404. Records every request."""

    def __init__(self) -> None:
        self.answers: dict = {}
        self.hits: list[tuple[str, str, dict, object]] = []

    def __call__(self, environ, start_response):
        request = Request(environ)
        path = environ.get("RAW_URI") or request.path
        body = request.get_json(silent=True)
        self.hits.append((request.method, path, dict(request.headers), body))
        n = sum(1 for h in self.hits if h[:2] == (request.method, path))
        answer = self.answers.get((request.method, path))
        status, content = answer(n, body) if answer else (404, {"error": "not found"})
        data = b"" if content is None else json.dumps(content).encode()
        return Response(data, status=status, content_type="application/json")(
            environ, start_response)


OPERATIONS = ('operations.delete = { method = "DELETE", path = "/api/v1/contacts/{key}" }\n'
              'operations.anonymize = { method = "PUT", path = "/api/v1/contacts/{key}", '
              'item = "record" }\n')


@pytest.fixture
def scripted(tmp_path):
    """(the Script, connect(operations lines) -> (connector, recorded waits))."""
    script = Script()
    server, thread, port = serve(script)
    opened = []

    def connect(operations: str = OPERATIONS, source_keys: str = ""):
        text = (fill(HEAD, base_url=f"http://127.0.0.1:{port}") + source_keys
                + CONTACTS + operations + NOTES)
        (tmp_path / "sources.toml").write_text(text)
        source = load_sources(tmp_path / "sources.toml", {"http": HttpConnector},
                              tmp_path)["crm"]
        connector = HttpConnector(source, instance_path=tmp_path,
                                  environ={"CRM_TOKEN": "s3cr3t"})
        waits: list[float] = []
        connector.sleep = waits.append
        opened.append(connector)
        return connector, waits

    yield script, connect
    for connector in opened:
        connector.close()
    server.shutdown()
    server.server_close()
    thread.join()


def test_a_delete_is_retried_like_a_search_and_404_or_410_mean_already_gone(scripted):
    script, connect = scripted
    script.answers = {
        ("DELETE", "/api/v1/contacts/1"): lambda n, b: (503, {}) if n <= 2 else (204, None),
        ("DELETE", "/api/v1/contacts/2"): lambda n, b: (410, {}),
        ("DELETE", "/api/v1/contacts/a%20b%2B3"): lambda n, b: (200, {"deleted": True})}
    connector, waits = connect(source_keys='auth = { type = "bearer", token_env = "CRM_TOKEN" }'
                                           "\n")
    results = connector.carry_out([Operation("contacts", "delete", ("1", "2", "a b+3", "4"))],
                                  hash_key=HASH_KEY)
    assert totals(results) == [("contacts", 2, 2)]
    assert results[0].details == "DELETE /api/v1/contacts/{key}"
    assert 0.5 <= waits[0] <= 0.55 and 1.0 <= waits[1] <= 1.1
    assert [h[1] for h in script.hits] == ["/api/v1/contacts/1"] * 3 + [
        "/api/v1/contacts/2", "/api/v1/contacts/a%20b%2B3", "/api/v1/contacts/4"]
    assert all(h[2]["Authorization"] == "Bearer s3cr3t" for h in script.hits)


def test_a_failure_that_lasts_names_the_template_never_the_key(scripted, caplog):
    script, connect = scripted
    script.answers = {("DELETE", "/api/v1/contacts/lea.fontaine%40example.fr"):
                      lambda n, b: (500, {"error": "lea.fontaine@example.fr: boom"})}
    connector, waits = connect(source_keys="retries = 1\n")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SourceError) as failure:
        connector.carry_out([Operation("contacts", "delete", ("lea.fontaine@example.fr",))],
                            hash_key=HASH_KEY)
    assert str(failure.value) == ("HTTP 500 from DELETE /api/v1/contacts/{key} after 2 "
                                  "attempts")
    assert len(script.hits) == 2 and len(waits) == 1
    assert "lea.fontaine" not in caplog.text


def test_anonymize_reads_compares_and_sends_every_mapped_field(scripted):
    script, connect = scripted
    hashed = anonymized_value("hash", "jeanne@x.fr", HASH_KEY)
    records = {"7": {"id": 7, "email": "jeanne@x.fr", "name": "Jeanne", "note": "vip"},
               # Already anonymised by an earlier run; "note" left out of the answer (null).
               "8": {"id": 8, "email": hashed, "name": "[supprimé]"},
               # Half done (a PUT lost mid-way, say): the hash is kept, the rest is sent.
               "9": {"id": 9, "email": hashed, "name": "Jeanne", "note": None}}
    for key, record in records.items():
        script.answers[("GET", f"/api/v1/contacts/{key}")] = (
            lambda n, b, r=record: (200, {"record": [r]}))
        script.answers[("PUT", f"/api/v1/contacts/{key}")] = lambda n, b: (200, {"ok": 1})
    connector, _ = connect()
    policy = {"email": "hash", "name": "fixed:[supprimé]", "note": "null"}
    results = connector.carry_out([Operation("contacts", "anonymize", ("7", "8", "9", "10"),
                                             policy)], hash_key=HASH_KEY)
    assert totals(results) == [("contacts", 2, 2)]  # 10: the GET said 404
    sent = {h[1]: h[3] for h in script.hits if h[0] == "PUT"}
    expected = {"email": hashed, "name": "[supprimé]", "note": None}
    assert sent == {"/api/v1/contacts/7": expected, "/api/v1/contacts/9": expected}


def test_an_answer_without_the_record_fails_the_source(scripted):
    script, connect = scripted
    script.answers[("GET", "/api/v1/contacts/7")] = lambda n, b: (200, {"data": {"id": 7}})
    connector, _ = connect()
    with pytest.raises(SourceError, match=r"GET /api/v1/contacts/\{key\} holds no record"):
        connector.carry_out([Operation("contacts", "anonymize", ("7",), {"name": "null"})],
                            hash_key=HASH_KEY)


@pytest.mark.parametrize(("operation", "words"), [
    (Operation("notes", "delete", ("1",)), "collection 'notes' of source 'crm' declares no "
                                           "'delete' operation in sources.toml"),
    (Operation("contacts", "redact", ("1",)), "cannot 'redact'"),
    (Operation("accounts", "delete", ("1",)), "no collection 'accounts'"),
    (Operation("contacts", "delete", ("1", "..")), "nothing was sent"),
    (Operation("contacts", "delete", ("a/b",)), "nothing was sent"),
])
def test_what_cannot_be_done_is_refused_before_any_request(scripted, operation, words):
    script, connect = scripted
    connector, _ = connect()
    with pytest.raises(OperationUnsupported) as refused:
        connector.carry_out([Operation("contacts", "delete", ("5",)), operation],
                            hash_key=HASH_KEY)
    assert words in str(refused.value)
    assert "a/b" not in str(refused.value)
    assert script.hits == []


# -- configuration -------------------------------------------------------------------------

DELETE = 'operations.delete = { method = "DELETE", path = "/api/v1/contacts/{key}" }\n'


@pytest.mark.parametrize(("line", "key"), [
    ('operations.erase = { method = "DELETE", path = "/c/{key}" }', "operations.erase"),
    ('operations.delete = { method = "GET", path = "/c/{key}" }', "operations.delete.method"),
    ('operations.delete = { path = "/c/{key}" }', "operations.delete.method"),
    ('operations.anonymize = { method = "DELETE", path = "/c/{key}" }',
     "operations.anonymize.method"),
    ('operations.delete = { method = "DELETE", path = "/c/{id}" }', "operations.delete.path"),
    ('operations.delete = { method = "DELETE", path = "/c" }', "operations.delete.path"),
    ('operations.delete = { method = "DELETE", path = "/c/{key}/{key}" }',
     "operations.delete.path"),
    ('operations.delete = { method = "DELETE", path = "/c/{key}/{email}" }',
     "operations.delete.path"),
    ('operations.delete = { method = "DELETE", path = "https://x.example/c/{key}" }',
     "operations.delete.path"),
    ('operations.delete = { method = "DELETE", path = "/c/{key}?hard=1" }',
     "operations.delete.path"),
    ('operations.delete = { method = "DELETE", path = "/c/{key}", item = "data" }',
     "operations.delete.item"),
    ('operations.anonymize = { method = "PATCH", path = "/c/{key}", item = "a..b" }',
     "operations.anonymize.item"),
    ('operations.delete = "DELETE /c/{key}"', "operations.delete"),
    ('operations = ["delete"]', "operations"),
])
def test_a_bad_operation_names_its_key(tmp_path, line, key):
    text = fill(HEAD, base_url="https://crm.example.fr") + CONTACTS + line + "\n" + NOTES
    path = tmp_path / "sources.toml"
    path.write_text(text)
    with pytest.raises(SourceConfigError) as failure:
        load_sources(path, {"http": HttpConnector}, tmp_path)
    assert failure.value.key == f"sources.crm.collections.contacts.{key}"


def test_declared_operations_are_read_with_the_method_in_capitals(tmp_path):
    text = (fill(HEAD, base_url="https://crm.example.fr") + CONTACTS
            + DELETE.replace('"DELETE"', '"delete"') + NOTES)
    (tmp_path / "sources.toml").write_text(text)
    source = load_sources(tmp_path / "sources.toml", {"http": HttpConnector}, tmp_path)["crm"]
    with HttpConnector(source, instance_path=tmp_path) as connector:
        (contacts,) = [c for c in connector.collections if c.name == "contacts"]
        assert contacts.operations["delete"].template == "DELETE /api/v1/contacts/{key}"
        # Nothing to do: no request, no credentials needed.
        assert totals(connector.carry_out([Operation("contacts", "delete", ())],
                                          hash_key=HASH_KEY)) == [("contacts", 0, 0)]
