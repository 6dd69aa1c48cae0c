"""The ``http`` connector against a real JSON API served on 127.0.0.1 (http.server in a thread):
what it keeps of the answers, and how it reads pages.

Configurations go through the real loader (a ``sources.toml`` written in ``tmp_path`` by the
``connect`` fixture). Waits are recorded through ``connector.sleep`` except where a test says it
really waits.
"""

from __future__ import annotations

import json

import pytest

from dsar.sources.base import Identity, SourceError
from tests.support.http_source import CONTACTS, EMAIL, JEANNE, NOTES, contact, keys, ok
from tests.support.json_api import Hit

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
