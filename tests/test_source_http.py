"""The ``http`` connector against a real JSON API served on 127.0.0.1 (http.server in a thread).

Configurations go through the real loader (a ``sources.toml`` written in ``tmp_path``). Waits
are recorded through ``connector.sleep`` except where a test says it really waits.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from email.utils import formatdate
from typing import Any

import pytest

from dsar.sources.base import Identity, SourceConfigError, SourceError
from dsar.sources.config import load_sources
from dsar.sources.http import HttpConnector
from tests.conftest import free_port
from tests.json_api import Api, Hit, json_api_server  # noqa: F401 (the "api" fixture)

EMAIL = "jeanne.martin@x.fr"
JEANNE = Identity.of(email=[EMAIL])


HEAD = """
[sources.crm]
kind = "http"
label = "CRM"
base_url = "@BASE@"
backoff = 0.5
"""
CONTACTS = """
[sources.crm.collections.contacts]
path = "/api/v1/contacts"
params = { email = "{email}" }
key = "id"
match = { email = "email" }
yields = { crm_contact_id = "id", customer_id = "customer_ref" }
exclude = ["password_hash"]
erasure = "delete"
fields = { id = "identification", email = "contact", name = "identification" }
"""
NOTES = """
[sources.crm.collections.notes]
path = "/api/v1/contacts/{crm_contact_id}/notes"
key = "id"
match = { crm_contact_id = "contact_id" }
erasure = "delete"
fields = { id = "identification", contact_id = "identification", text = "notes" }
"""


@pytest.fixture
def connect(api, tmp_path):
    """connect(source_keys, *collections, environ=...) -> (connector, recorded waits)."""
    opened: list[HttpConnector] = []

    def make(source_keys: str = "", *collections: str, environ: dict | None = None,
             base_url: str | None = None, real_sleep: bool = False):
        text = HEAD.replace("@BASE@", base_url or api.base_url) + source_keys
        path = tmp_path / "sources.toml"
        path.write_text(text + "".join(collections or (CONTACTS,)))
        source = load_sources(path, {"http": HttpConnector}, tmp_path)["crm"]
        connector = HttpConnector(source, instance_path=tmp_path, environ=environ or {})
        opened.append(connector)
        waits: list[float] = []
        if not real_sleep:
            connector.sleep = waits.append
        return connector, waits

    yield make
    for connector in opened:
        connector.close()


def ok(body: Any, **headers: str) -> tuple[int, Any, dict[str, str]]:
    return 200, body, headers


def contact(id_: Any, email: str = EMAIL, **more: Any) -> dict[str, Any]:
    return {"id": id_, "email": email, "name": "Jeanne Martin", **more}


def keys(discovery) -> list[tuple[str, str]]:
    return [(r.collection, r.key) for r in discovery.records]


# -- what is kept --------------------------------------------------------------------------

def test_a_fuzzy_search_keeps_only_the_persons_items(api, connect):
    api.route("/api/v1/contacts", lambda hit, n: ok({"data": [
        contact(1, password_hash="x"),
        contact(2, "Jeanne.Martin@X.FR"),                  # same mailbox: hers
        contact(3, "jeanne.martin@autre.fr"),              # same name, another person
        contact(4, "jeanne.martin@x.fr.evil.com"),         # a look-alike address
        contact(5, "jeanne.martin@x.f"),
        contact(6, None),
    ]}))
    connector, _ = connect()
    found = connector.discover(Identity.of(email=["Jeanne.Martin@x.fr"]))
    assert keys(found) == [("contacts", "1"), ("contacts", "2")]
    assert found.records[0].fields == {"id": 1, "email": EMAIL, "name": "Jeanne Martin"}
    assert api.hits[0].query == {"email": EMAIL}
    assert api.hits[0].headers["User-Agent"].startswith("dsar/")


def test_an_id_yielded_by_one_collection_searches_the_next(api, connect):
    api.route("/api/v1/contacts", lambda hit, n: ok({"data": [
        contact(17, customer_ref="CUST-1042"), contact("a b+18", "JEANNE.MARTIN@x.fr")]}))
    api.route("/api/v1/contacts/17/notes", lambda hit, n: ok([
        {"id": 2, "contact_id": 17, "text": "Rappeler lundi"},
        {"id": 1, "contact_id": "17", "text": "Premier contact"},
        {"id": 9, "contact_id": 99, "text": "someone else's note"}]))
    # "a b+18" has no notes: the API answers 404 (unrouted), which means "nothing here".
    connector, _ = connect("", CONTACTS, NOTES)
    found = connector.discover(JEANNE)
    assert keys(found) == [("contacts", "17"), ("contacts", "a b+18"), ("notes", "1"),
                           ("notes", "2")]
    assert found.identifiers.to_json() == {"crm_contact_id": ["17", "a b+18"],
                                           "customer_id": ["CUST-1042"]}
    assert [h.path for h in api.hits] == ["/api/v1/contacts", "/api/v1/contacts/17/notes",
                                          "/api/v1/contacts/a%20b%2B18/notes"]


@pytest.mark.parametrize("value", ["..", ".", "a/18", "../../admin", "..\\x"])
def test_an_identifier_that_would_change_the_request_path_is_refused(api, connect, value):
    """``..`` in a path placeholder collapses /contacts/../notes into /notes (everyone's
    notes); ``/`` (even encoded: servers decode %2F) walks elsewhere. No request is sent with
    it, and the source fails with a message that names the collection, not the value."""
    api.route("/api/v1/contacts", lambda hit, n: ok({"data": [contact(value)]}))
    api.route("/api/v1/notes", lambda hit, n: ok([{"id": 1, "contact_id": value,
                                                   "text": "someone else's note"}]))
    connector, _ = connect("", CONTACTS, NOTES)
    with pytest.raises(SourceError) as refused:
        connector.discover(JEANNE)
    assert "notes" in str(refused.value)
    if len(value) > 2:
        assert value not in str(refused.value)
    assert [h.path for h in api.hits] == ["/api/v1/contacts"]


def test_the_same_search_twice_gives_the_same_answer(api, connect):
    items = [contact(i, customer_ref=f"C{i}") for i in (3, 10, 2)]
    api.route("/api/v1/contacts",
              lambda hit, n: ok({"data": items if n % 2 else list(reversed(items))}))
    first, _ = connect()
    second, _ = connect()
    answers = [c.discover(JEANNE) for c in (first, second, first)]
    assert keys(answers[0]) == [("contacts", "2"), ("contacts", "3"), ("contacts", "10")]
    assert len({json.dumps([r.to_json() for r in a.records]) for a in answers}) == 1
    assert len({json.dumps(a.identifiers.to_json()) for a in answers}) == 1


# -- pages ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("total", "pages"), [(250, ["1", "2", "3"]), (200, ["1", "2", "3"]),
                                              (0, ["1"])])
def test_numbered_pages_are_read_to_the_short_one(api, connect, total, pages):
    events = [contact(i) for i in range(1, total + 1)]

    def page(hit: Hit, n: int):
        number, size = int(hit.query["page"]), int(hit.query["per_page"])
        return ok({"data": events[(number - 1) * size:number * size]})

    api.route("/api/v1/contacts", page)
    paging = '\npagination = { type = "page", param = "page", size_param = "per_page", ' \
             'size = 100, start = 1 }\n'
    connector, _ = connect("", CONTACTS + paging)
    found = connector.discover(JEANNE)
    assert [r.key for r in found.records] == [str(i) for i in range(1, total + 1)]
    assert [h.query["page"] for h in api.hits] == pages
    assert {h.query["per_page"] for h in api.hits} == {"100"}


def test_cursor_pages_are_followed_until_the_cursor_is_null(api, connect):
    pages = {None: (["1", "2", "3"], "c2"), "c2": (["4", "5"], "c3"), "c3": (["6"], None)}

    def page(hit: Hit, n: int):
        ids, after = pages[hit.query.get("after")]
        return ok({"results": [contact(i) for i in ids], "meta": {"next": after}})

    api.route("/api/v1/contacts", page)
    paging = '\nitems = "results"\npagination = { type = "cursor", param = "after", ' \
             'next = "meta.next" }\n'
    connector, _ = connect("", CONTACTS + paging)
    found = connector.discover(JEANNE)
    assert [r.key for r in found.records] == ["1", "2", "3", "4", "5", "6"]
    assert [h.query.get("after") for h in api.hits] == [None, "c2", "c3"]


def test_an_api_that_repeats_its_cursor_is_not_read_forever(api, connect):
    api.route("/api/v1/contacts", lambda hit, n: ok({"data": [contact(n)], "next": "same"}))
    paging = '\npagination = { type = "cursor", next = "next" }\n'
    connector, _ = connect("", CONTACTS + paging)
    with pytest.raises(SourceError, match="^the API repeats a cursor on /api/v1/contacts$"):
        connector.discover(JEANNE)
    assert [h.query.get("cursor") for h in api.hits] == [None, "same"]


# -- retries and waits ---------------------------------------------------------------------

def test_429_waits_what_retry_after_asks_then_succeeds(api, connect):
    later = formatdate(time.time() + 5, usegmt=True)
    answers = {1: (429, {}, {"Retry-After": "7"}), 2: (429, {}, {"Retry-After": later}),
               3: (429, {}, {})}
    api.route("/api/v1/contacts",
              lambda hit, n: answers.get(n) or ok({"data": [contact(1)]}))
    connector, waits = connect()
    assert keys(connector.discover(JEANNE)) == [("contacts", "1")]
    assert waits[0] == 7.0
    assert 3.5 <= waits[1] <= 5.0                    # an HTTP date, a few seconds from now
    assert 0.5 * 4 <= waits[2] <= 0.5 * 4 * 1.1      # none given: the back-off of attempt 3
    assert len(api.hits) == 4


def test_a_real_one_second_retry_after_is_really_waited(api, connect):
    api.route("/api/v1/contacts", lambda hit, n: (429, {"error": "slow down"},
                                                  {"Retry-After": "1"}) if n == 1
              else ok({"data": [contact(1)]}))
    connector, _ = connect(real_sleep=True)
    assert keys(connector.discover(JEANNE)) == [("contacts", "1")]
    first, second = api.hits
    assert 1.0 <= second.at - first.at < 3.0


def test_5xx_twice_then_success_backs_off_exponentially(api, connect):
    api.route("/api/v1/contacts", lambda hit, n: (503, {}, {}) if n <= 2
              else ok({"data": [contact(1)]}))
    connector, waits = connect()
    assert keys(connector.discover(JEANNE)) == [("contacts", "1")]
    assert len(api.hits) == 3
    assert 0.5 <= waits[0] <= 0.55 and 1.0 <= waits[1] <= 1.1


def test_a_5xx_that_lasts_fails_after_the_configured_attempts(api, connect):
    api.route("/api/v1/contacts", lambda hit, n: (503, b"<html>down</html>", {}))
    connector, waits = connect("retries = 2\n")
    with pytest.raises(SourceError) as failure:
        connector.discover(JEANNE)
    assert str(failure.value) == "HTTP 503 from /api/v1/contacts after 3 attempts"
    assert len(api.hits) == 3 and len(waits) == 2


def test_a_hanging_api_times_out(api, connect):
    def hang(hit: Hit, n: int):
        api.release.wait(10)
        return ok({"data": []})

    api.route("/api/v1/contacts", hang)
    connector, _ = connect("timeout = 0.3\nretries = 1\n")
    started = time.monotonic()
    with pytest.raises(SourceError) as failure:
        connector.discover(JEANNE)
    assert str(failure.value) == "timed out on /api/v1/contacts after 2 attempts"
    assert 0.6 <= time.monotonic() - started < 5
    assert len(api.hits) == 2


def test_an_unreachable_api_is_a_source_error(connect):
    port = free_port()  # nothing listens there
    connector, waits = connect("retries = 1\n", base_url=f"http://127.0.0.1:{port}")
    with pytest.raises(SourceError) as failure:
        connector.discover(JEANNE)
    assert str(failure.value) == (f"connection to 127.0.0.1:{port} failed on /api/v1/contacts "
                                  "after 2 attempts")
    assert len(waits) == 1


@pytest.mark.parametrize(("status", "body", "message"), [
    (401, {}, "authentication refused by 127.0.0.1:{port} (HTTP 401 from /api/v1/contacts)"),
    (403, {}, "authentication refused by 127.0.0.1:{port} (HTTP 403 from /api/v1/contacts)"),
    (404, {}, "HTTP 404 from /api/v1/contacts"),  # no placeholder in the path: a fault
    (400, {}, "HTTP 400 from /api/v1/contacts"),
    (302, {}, "HTTP 302 from /api/v1/contacts (redirects are not followed)"),
    (429, {}, "HTTP 429 from /api/v1/contacts: the API asks to wait 120 s, more than "
              "max_retry_after (30 s)"),  # blocking a worker that long: no, RQ retries later
    (200, b"<html>login</html>", "the answer from /api/v1/contacts is not JSON (HTTP 200)"),
    (200, {"contacts": []}, "the answer from /api/v1/contacts holds no list at 'data'"),
    (200, b"not gzip at all", "DecodingError on /api/v1/contacts"),
])
def test_answers_that_no_retry_can_mend_fail_at_once(api, connect, status, body, message):
    headers = {"Location": "http://127.0.0.1:9/elsewhere", "Retry-After": "120"}
    if body == b"not gzip at all":
        headers["Content-Encoding"] = "gzip"
    api.route("/api/v1/contacts", lambda hit, n: (status, body, headers))
    connector, waits = connect()
    with pytest.raises(SourceError) as failure:
        connector.discover(JEANNE)
    port = api.base_url.rsplit(":", 1)[1]
    assert str(failure.value) == message.format(port=port)
    assert (len(api.hits), waits) == (1, [])


def test_the_rate_limit_spaces_requests(api, connect):
    api.route("/api/v1/contacts", lambda hit, n: ok({"data": [contact(n)] if n <= 5 else []}))
    paging = '\npagination = { type = "page", size = 1 }\n'
    connector, _ = connect("rate_limit = 10\n", CONTACTS + paging, real_sleep=True)
    started = time.monotonic()
    assert len(connector.discover(JEANNE).records) == 5
    assert time.monotonic() - started >= 5 * 0.1  # 6 requests: 5 intervals of 1/10 s
    times = [h.at for h in api.hits]
    assert len(times) == 6
    # As the API sees them (give or take each request's own latency): spread, not bunched.
    assert min(b - a for a, b in zip(times, times[1:], strict=False)) >= 0.05


def test_no_log_line_names_the_person(api, connect, caplog):
    api.route("/api/v1/contacts", lambda hit, n: (503, {}, {}) if n == 1
              else ok({"data": [contact("k9z7")]}))
    api.route("/api/v1/contacts/k9z7/notes", lambda hit, n: ok([]))
    caplog.set_level(logging.DEBUG)
    connector, _ = connect("", CONTACTS, NOTES)
    connector.discover(JEANNE)
    assert "503 from /api/v1/contacts" in caplog.text
    assert "jeanne" not in caplog.text.lower() and "k9z7" not in caplog.text


# -- credentials ---------------------------------------------------------------------------

@pytest.mark.parametrize(("auth", "header", "expected"), [
    ('{ type = "bearer", token_env = "CRM_TOKEN" }', "Authorization", "Bearer s3cr3t"),
    ('{ type = "header", header = "X-Api-Key", token_env = "CRM_TOKEN" }', "X-Api-Key",
     "s3cr3t"),
    ('{ type = "basic", username_env = "CRM_USER", password_env = "CRM_TOKEN" }',
     "Authorization", "Basic " + base64.b64encode(b"alice:s3cr3t").decode()),
])
def test_credentials_come_from_the_environment(api, connect, auth, header, expected):
    api.route("/api/v1/contacts", lambda hit, n: ok({"data": []}))
    connector, _ = connect(f"auth = {auth}\n",
                           environ={"CRM_TOKEN": "s3cr3t", "CRM_USER": "alice"})
    connector.discover(JEANNE)
    assert api.hits[0].headers[header] == expected


def test_a_missing_variable_is_named_without_any_value(api, connect):
    auth = 'auth = { type = "basic", username_env = "CRM_USER", password_env = "CRM_PASS" }\n'
    connector, _ = connect(auth, environ={"CRM_USER": "alice"})
    with pytest.raises(SourceError) as failure:
        connector.discover(JEANNE)
    assert "CRM_PASS" in str(failure.value) and "alice" not in str(failure.value)
    assert api.hits == []


# -- configuration -------------------------------------------------------------------------

SRC = "backoff = 0.5"
KEY = 'key = "id"\nmatch = { email'


def _set(*pairs: tuple[str, str]) -> list[tuple[str, str]]:
    """Source keys put in place of ``backoff``; (old, new) pairs taken as they are."""
    return [(SRC, p) if isinstance(p, str) else p for p in pairs]


CONFIG_FAULTS = [
    ([('base_url = "@BASE@"\n', "")], "base_url"),
    ([("@BASE@", "ftp://crm.example.fr")], "base_url"),
    ([("@BASE@", "https://bob:hunter2@crm.example.fr")], "base_url"),
    (_set('timeout = "10"'), "timeout"),
    (_set("retries = -1"), "retries"),
    (_set("retries = 2.5"), "retries"),
    (_set("rate_limit = 0"), "rate_limit"),
    (_set('token = "hunter2"'), "token"),
    (_set('auth = { type = "oauth" }'), "auth.type"),
    (_set('auth = { type = "bearer" }'), "auth.token_env"),
    (_set('auth = { type = "bearer", token_env = "sk-hunter2" }'), "auth.token_env"),
    (_set('auth = { type = "bearer", token_env = "T", token = "hunter2" }'), "auth.token"),
    (_set('auth = { type = "header", token_env = "T" }'), "auth.header"),
    ([('path = "/api/v1/contacts"\n', "")], "collections.contacts.path"),
    ([("/api/v1/contacts", "https://elsewhere.example/c")], "collections.contacts.path"),
    ([("/api/v1/contacts", "//elsewhere.example/c")], "collections.contacts.path"),
    ([("/api/v1/contacts", "/api/v1/contacts?all=1")], "collections.contacts.path"),
    ([('params = { email = "{email}" }', "")], "collections.contacts.path"),
    ([('"{email}"', '"{phone}"')], "collections.contacts.params.email"),
    ([('"{email}"', '"{email"')], "collections.contacts.params.email"),
    ([('"{email}"', '["{email}"]')], "collections.contacts.params.email"),
    ([("/{crm_contact_id}/", "/{crm_contact_id}/{email}/"),
      ('{ crm_contact_id = "contact_id" }', '{ crm_contact_id = "contact_id", email = "e" }')],
     "collections.notes.path"),
    ([(KEY, "match = { email")], "collections.contacts.key"),
    ([(KEY, KEY.replace('"id"', '"password_hash"'))], "collections.contacts.key"),
    ([(KEY, "items = 3\n" + KEY)], "collections.contacts.items"),
    ([(KEY, 'pagination = { type = "offset" }\n' + KEY)],
     "collections.contacts.pagination.type"),
    ([(KEY, 'pagination = { type = "cursor", size = 10 }\n' + KEY)],
     "collections.contacts.pagination.size"),
    ([(KEY, 'pagination = { type = "page", size = 0 }\n' + KEY)],
     "collections.contacts.pagination.size"),
    ([('{ email = "{email}" }', '{ email = "{email}", page = 1 }'),
      (KEY, 'pagination = { type = "page" }\n' + KEY)], "collections.contacts.params.page"),
]


@pytest.mark.parametrize(("changes", "key"), CONFIG_FAULTS)
def test_a_bad_configuration_names_its_key(tmp_path, changes, key):
    text = HEAD + CONTACTS + NOTES
    for old, new in changes:
        assert old in text
        text = text.replace(old, new)
    text = text.replace("@BASE@", "https://crm.example.fr")
    path = tmp_path / "sources.toml"
    path.write_text(text)
    with pytest.raises(SourceConfigError) as failure:
        load_sources(path, {"http": HttpConnector}, tmp_path)
    assert failure.value.key == f"sources.crm.{key}"
    assert str(failure.value).startswith(f"{path}: sources.crm.{key}: ")
    assert "hunter2" not in str(failure.value)  # a pasted secret is never quoted back


def test_a_base_url_with_a_path_prefix_is_kept(api, connect):
    api.route("/v2/api/v1/contacts", lambda hit, n: ok({"data": [contact(1)]}))
    connector, _ = connect(base_url=api.base_url + "/v2")
    assert keys(connector.discover(JEANNE)) == [("contacts", "1")]
    assert (connector.settings.timeout, connector.settings.retries,
            connector.settings.max_retry_after, connector.settings.rate_limit) == (
                10.0, 3, 30.0, None)
