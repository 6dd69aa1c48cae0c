"""The ``http`` source of the connector tests: a CRM whose contacts are searched by e-mail and
whose notes are reached by the contact id (``tests/data/sources/http*.toml``), and the answers
its scripted API gives."""

from __future__ import annotations

from typing import Any

from dsar.sources.base import Identity
from tests.support.data import data_text

EMAIL = "jeanne.martin@x.fr"
JEANNE = Identity.of(email=[EMAIL])

#: The source's own keys; ``${base_url}`` is the API's address.
HEAD = data_text("sources/http.toml")
#: Contacts, searched by e-mail; yield the contact id and the customer reference.
CONTACTS = data_text("sources/http_contacts.toml")
#: A contact's notes, at a path built from the contact id.
NOTES = data_text("sources/http_notes.toml")


def ok(body: Any, **headers: str) -> tuple[int, Any, dict[str, str]]:
    """A 200 answer with ``body`` (JSON) and ``headers``."""
    return 200, body, headers


def contact(id_: Any, email: str = EMAIL, **more: Any) -> dict[str, Any]:
    """A contact item as the CRM lists it."""
    return {"id": id_, "email": email, "name": "Jeanne Martin", **more}


def keys(discovery) -> list[tuple[str, str]]:
    """(collection, key) of every record found, in order."""
    return [(r.collection, r.key) for r in discovery.records]
