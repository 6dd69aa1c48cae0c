"""The demo newsletter provider's API, shaped like Sendinblue/Brevo's v3: an ``api-key``
header, cursor pages (``{"contacts": [...], "next_cursor": …}``).

Addresses are kept as people typed them; the search by e-mail ignores letter case (the index
is on ``lower(email)``), as a mail provider delivers both spellings to the same mailbox.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from dsar.demo.services.common import (
    ApiError,
    SqliteApi,
    decode_cursor,
    encode_cursor,
    json_response,
    same_secret,
    whole,
)

MAX_LIMIT = 50


class NewsletterApi(SqliteApi):
    """``GET /v3/contacts?email=…``, ``GET /v3/contacts/<id>/lists``,
    ``GET /v3/contacts/<id>/events``; ``cursor`` and ``limit`` (at most 50; defaults 10, 50
    and 20: a long event history takes several pages)."""

    routes = Map([
        Rule("/v3/contacts", endpoint="contacts", methods=["GET"]),
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
            "SELECT id, email, first_name, last_name, sms, email_blacklisted, optin_source, "
            "optin_ip, double_optin_at, created_at, modified_at FROM contacts "
            "WHERE lower(email) = lower(?) AND id > ? ORDER BY id LIMIT ?",
            (email, after, limit + 1)).fetchall()
        items = [{**dict(r), "email_blacklisted": bool(r["email_blacklisted"])} for r in rows]
        return _page("contacts", items, limit)

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
