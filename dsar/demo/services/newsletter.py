"""The demo newsletter provider's API, shaped like Sendinblue/Brevo's v3: an ``api-key``
header, cursor pages (``{"contacts": [...], "next_cursor": …}``).

Addresses are kept as people typed them; the search by e-mail ignores letter case (the index
is on ``lower(email)``), as a mail provider delivers both spellings to the same mailbox.

Erasure goes through ``GET``, ``PATCH`` (answer 204) and ``DELETE /v3/contacts/<id>``,
``DELETE /v3/memberships/<id>`` and ``DELETE /v3/events/<id>``: the database really changes. A
contact that still has list memberships or events is not deleted (409): they go first.
Rectification ``PATCH``es a contact's fields; an objection to direct marketing ``PATCH``es
``email_blacklisted`` to true, as Brevo's users unsubscribe someone from every campaign.

A sign-up (``POST /v3/contacts``) first asks dsar's suppression list
(:func:`refuse_suppressed`): an erased person is not added back.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from dsar.demo.services.common import (
    ApiError,
    SqliteApi,
    decode_cursor,
    delete_row,
    encode_cursor,
    json_object,
    json_response,
    same_secret,
    update_row,
    whole,
)

MAX_LIMIT = 50
_CONTACT_COLUMNS = ("id, email, first_name, last_name, sms, email_blacklisted, optin_source, "
                    "optin_ip, double_optin_at, created_at, modified_at")
#: What a PATCH may change (not the id, nor the record's own timestamps).
_WRITABLE = ("email", "first_name", "last_name", "sms", "email_blacklisted", "optin_source",
             "optin_ip", "double_optin_at")


class NewsletterApi(SqliteApi):
    """``GET /v3/contacts?email=…``, ``GET /v3/contacts/<id>/lists``,
    ``GET /v3/contacts/<id>/events``; ``cursor`` and ``limit`` (at most 50; defaults 10, 50
    and 20: a long event history takes several pages). One contact: ``GET``, ``PATCH`` (a
    JSON object of fields), ``DELETE``; ``DELETE`` a list membership or an event."""

    routes = Map([
        Rule("/v3/contacts", endpoint="contacts", methods=["GET"]),
        Rule("/v3/contacts", endpoint="create_contact", methods=["POST"]),
        Rule("/v3/contacts/<int:contact_id>", endpoint="contact", methods=["GET"]),
        Rule("/v3/contacts/<int:contact_id>", endpoint="update_contact", methods=["PATCH"]),
        Rule("/v3/contacts/<int:contact_id>", endpoint="delete_contact", methods=["DELETE"]),
        Rule("/v3/memberships/<int:row_id>", endpoint="delete_membership",
             methods=["DELETE"]),
        Rule("/v3/events/<int:row_id>", endpoint="delete_event", methods=["DELETE"]),
        Rule("/v3/contacts/<int:contact_id>/lists", endpoint="lists", methods=["GET"]),
        Rule("/v3/contacts/<int:contact_id>/events", endpoint="events", methods=["GET"]),
    ])

    def __init__(self, db_path: Path, api_key: str):
        super().__init__(db_path)
        if not api_key:
            raise ValueError("the newsletter API needs a key")
        self.api_key = api_key

    def authorised(self, request: Request) -> Response | None:
        if same_secret(request.headers.get("api-key"), self.api_key):
            return None
        return json_response({"code": "unauthorized", "message": "Key not found"}, 401)

    def contacts(self, con: sqlite3.Connection, request: Request) -> dict[str, Any]:
        email = request.args.get("email", "").strip()
        if not email:
            raise ApiError(400, "missing_parameter", "email is required")
        after, limit = decode_cursor(request.args.get("cursor")), _limit(request, 10)
        rows = con.execute(
            f"SELECT {_CONTACT_COLUMNS} FROM contacts "  # noqa: S608
            "WHERE lower(email) = lower(?) AND id > ? ORDER BY id LIMIT ?",
            (email, after, limit + 1)).fetchall()
        return _page("contacts", [_contact(r) for r in rows], limit)

    def contact(self, con: sqlite3.Connection, request: Request, contact_id: int
                ) -> dict[str, Any]:
        row = con.execute(f"SELECT {_CONTACT_COLUMNS} FROM contacts WHERE id = ?",  # noqa: S608
                          (contact_id,)).fetchone()
        if row is None:
            raise ApiError(404, "document_not_found", "Contact does not exist")
        return _contact(row)

    def update_contact(self, con: sqlite3.Connection, request: Request, contact_id: int
                       ) -> Response:
        changes = json_object(request)
        if not isinstance(changes.get("email_blacklisted", False), bool):
            raise ApiError(400, "invalid_parameter", "email_blacklisted must be a boolean")
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        update_row(con, "contacts", contact_id, changes, _WRITABLE, ("modified_at", now))
        return Response(status=204)

    def delete_contact(self, con: sqlite3.Connection, request: Request, contact_id: int
                       ) -> Response:
        delete_row(con, "contacts", contact_id,
                   (("list_memberships", "contact_id"), ("events", "contact_id")))
        return Response(status=204)

    def delete_membership(self, con: sqlite3.Connection, request: Request, row_id: int
                          ) -> Response:
        delete_row(con, "list_memberships", row_id)
        return Response(status=204)

    def delete_event(self, con: sqlite3.Connection, request: Request, row_id: int
                     ) -> Response:
        delete_row(con, "events", row_id)
        return Response(status=204)

    def create_contact(self, con: sqlite3.Connection, request: Request) -> Response:
        """Sign-up: a new contact from a JSON object (``email``; optional ``first_name``,
        ``last_name``, ``sms``, ``optin_source``), 201 ``{"id": …}``. 403 ``suppressed``
        when dsar's suppression list holds the address or the number; 400 for a contact
        that exists already (Brevo's ``duplicate_parameter``)."""
        fields = json_object(request)
        for name, value in fields.items():
            if name not in _SIGN_UP_FIELDS:
                raise ApiError(400, "invalid_field", f"{name} cannot be set")
            if value is not None and not isinstance(value, str):
                raise ApiError(400, "invalid_value", f"{name} must be text")
        email = (fields.get("email") or "").strip()
        if "@" not in email:
            raise ApiError(400, "missing_parameter", "email is required")
        refuse_suppressed(email, fields.get("sms"))
        if con.execute("SELECT 1 FROM contacts WHERE lower(email) = lower(?)",
                       (email,)).fetchone():
            raise ApiError(400, "duplicate_parameter", "Contact already exist")
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        cursor = con.execute(
            "INSERT INTO contacts (email, first_name, last_name, sms, email_blacklisted, "
            "optin_source, created_at, modified_at) VALUES (?, ?, ?, ?, 0, ?, ?, ?)",
            (email, fields.get("first_name"), fields.get("last_name"), fields.get("sms"),
             fields.get("optin_source") or "API", now, now))
        return json_response({"id": cursor.lastrowid}, 201)

    def lists(self, con: sqlite3.Connection, request: Request, contact_id: int
              ) -> dict[str, Any]:
        _exists(con, contact_id)
        after, limit = decode_cursor(request.args.get("cursor")), _limit(request, 50)
        rows = con.execute(
            "SELECT m.id, m.contact_id, m.list_id, l.name AS list_name, m.status, "
            "m.subscribed_at FROM list_memberships m JOIN lists l ON l.id = m.list_id "
            "WHERE m.contact_id = ? AND m.id > ? ORDER BY m.id LIMIT ?",
            (contact_id, after, limit + 1)).fetchall()
        return _page("lists", [dict(r) for r in rows], limit)

    def events(self, con: sqlite3.Connection, request: Request, contact_id: int
               ) -> dict[str, Any]:
        _exists(con, contact_id)
        after, limit = decode_cursor(request.args.get("cursor")), _limit(request, 20)
        rows = con.execute(
            "SELECT id, contact_id, event, campaign, occurred_at, link FROM events "
            "WHERE contact_id = ? AND id > ? ORDER BY id LIMIT ?",
            (contact_id, after, limit + 1)).fetchall()
        return _page("events", [dict(r) for r in rows], limit)


def _limit(request: Request, default: int) -> int:
    return whole(request, "limit", default, 1, MAX_LIMIT)


def _contact(row: sqlite3.Row) -> dict[str, Any]:
    return {**dict(row), "email_blacklisted": bool(row["email_blacklisted"])}


def _exists(con: sqlite3.Connection, contact_id: int) -> None:
    if con.execute("SELECT 1 FROM contacts WHERE id = ?", (contact_id,)).fetchone() is None:
        raise ApiError(404, "document_not_found", "Contact does not exist")


def _page(name: str, items: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    """The items of one page and the cursor of the next (null on the last page). One row
    beyond the page was read to know whether another follows."""
    more = len(items) > limit
    items = items[:limit]
    return {name: items, "next_cursor": encode_cursor(items[-1]["id"]) if more else None}


def newsletter_app(db_path: Path, api_key: str) -> NewsletterApi:
    """The newsletter API over ``newsletter.sqlite`` (a WSGI app), answering only with
    ``api_key`` in the ``api-key`` header."""
    return NewsletterApi(db_path, api_key)


#: What a sign-up may set.
_SIGN_UP_FIELDS = ("email", "first_name", "last_name", "sms", "optin_source")
#: dsar's suppression check (``…/api/suppression/check``) and its bearer token, from the
#: environment (``dsar demo`` sets both). Unset: no check, as a provider never connected to
#: dsar would do.
SUPPRESSION_URL_ENV = "HORIZON_SUPPRESSION_URL"
SUPPRESSION_TOKEN_ENV = "HORIZON_SUPPRESSION_TOKEN"  # noqa: S105 -- a variable name


def refuse_suppressed(email: str, sms: str | None) -> None:
    """Raise 403 ``suppressed`` when dsar's suppression list holds the e-mail address or the
    phone number (``sms``). Fails closed: when the list cannot be asked (dsar down, a wrong
    token, an odd answer) nobody is added (503), since an erased person must not come back
    because dsar was restarting. 400 for a number dsar finds malformed."""
    import os

    import httpx

    url, token = os.environ.get(SUPPRESSION_URL_ENV), os.environ.get(SUPPRESSION_TOKEN_ENV)
    if not url or not token:
        return
    for kind, value in (("email", email), ("phone", sms)):
        if not value:
            continue
        try:  # the configured URL as it is: no proxy from the environment
            answer = httpx.post(url, json={kind: value}, timeout=5, trust_env=False,
                                headers={"Authorization": f"Bearer {token}"})
            status, body = answer.status_code, answer.json()
        except (httpx.HTTPError, ValueError):
            status, body = None, None
        if status == 400:
            raise ApiError(400, "invalid_parameter", f"{'sms' if kind == 'phone' else kind} "
                           "is not valid")
        suppressed = body.get("suppressed") if status == 200 and isinstance(body, dict) else None
        if not isinstance(suppressed, bool):
            raise ApiError(503, "suppression_unavailable",
                           "The suppression list cannot be checked now: try again later")
        if suppressed:
            raise ApiError(403, "suppressed", "This contact is on the organisation's "
                           "suppression list and cannot be added")
