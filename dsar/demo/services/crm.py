"""The demo CRM's API, shaped like Zoho CRM's: bearer token, ``{"data": [...], "info":
{...}}`` pages, ids as long numeric strings.

Its e-mail search is deliberately fuzzy, as real CRMs' are: a case-insensitive "contains"
match (served by a trigram full-text index), so a search for ``lea.fontaine@example.fr`` also
returns ``clea.fontaine@example.fr``. The caller must check what it gets.

Erasure goes through ``GET``, ``PATCH`` and ``DELETE /api/v1/contacts/<id>``, ``DELETE
/api/v1/notes/<id>`` and ``DELETE /api/v1/deals/<id>``: the database really changes (and the
e-mail index with it). A contact that still has notes or deals is not deleted (409): they go
first, so that nothing an erasure plan keeps disappears along with its contact.
Rectification ``PATCH``es a contact's fields; a restriction of processing (GDPR Art. 18)
sets ``processing_restricted``, and its lifting clears it.
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
    delete_row,
    json_object,
    json_response,
    same_secret,
    update_row,
    whole,
)

_CONTACT_COLUMNS = ("id, first_name, last_name, email, phone, company, job_title, city, "
                    "lead_source, contact_type, owner, customer_id, created_time, modified_time, "
                    "processing_restricted")
#: What a PATCH may change (not the id, nor the record's own timestamps). A contact whose
#: processing is restricted (GDPR Art. 18) is kept, flagged: ``processing_restricted``.
_WRITABLE = ("first_name", "last_name", "email", "phone", "company", "job_title", "city",
             "lead_source", "contact_type", "owner", "customer_id", "processing_restricted")
MAX_PER_PAGE = 200


class CrmApi(SqliteApi):
    """``GET /api/v1/contacts?email=…|customer_id=…``, ``GET /api/v1/contacts/<id>/notes``,
    ``GET /api/v1/contacts/<id>/deals``; ``page`` (from 1) and ``per_page`` (at most 200).
    One contact: ``GET``, ``PATCH`` (a JSON object of fields), ``DELETE``; ``DELETE`` a note
    or a deal."""

    routes = Map([
        Rule("/api/v1/contacts", endpoint="contacts", methods=["GET"]),
        Rule("/api/v1/contacts/<int:contact_id>", endpoint="contact", methods=["GET"]),
        Rule("/api/v1/contacts/<int:contact_id>", endpoint="update_contact",
             methods=["PATCH"]),
        Rule("/api/v1/contacts/<int:contact_id>", endpoint="delete_contact",
             methods=["DELETE"]),
        Rule("/api/v1/notes/<int:row_id>", endpoint="delete_note", methods=["DELETE"]),
        Rule("/api/v1/deals/<int:row_id>", endpoint="delete_deal", methods=["DELETE"]),
        Rule("/api/v1/contacts/<int:contact_id>/notes", endpoint="notes", methods=["GET"]),
        Rule("/api/v1/contacts/<int:contact_id>/deals", endpoint="deals", methods=["GET"]),
    ])

    def __init__(self, db_path: Path, token: str):
        super().__init__(db_path)
        if not token:
            raise ValueError("the CRM API needs a token")
        self.token = token

    def authorised(self, request: Request) -> Response | None:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and same_secret(given.strip(), self.token):
            return None
        return json_response({"code": "INVALID_TOKEN", "message": "invalid oauth token"}, 401,
                             {"WWW-Authenticate": 'Bearer realm="crm"'})

    def contacts(self, con: sqlite3.Connection, request: Request) -> dict[str, Any]:
        page, per_page = _paging(request)
        email = request.args.get("email", "").strip()
        customer_id = request.args.get("customer_id", "").strip()
        if not email and not customer_id:
            raise ApiError(400, "MANDATORY_NOT_FOUND", "give email or customer_id to search")
        where, params = [], []
        if email:
            # Fuzzy on purpose (like the real thing): any contact whose address CONTAINS
            # the text, whatever the letter case.
            where.append("id IN (SELECT rowid FROM contacts_fts WHERE email LIKE ?)")
            params.append(f"%{email}%")
        if customer_id:
            where.append("customer_id = ?")
            params.append(customer_id)
        rows = con.execute(
            f"SELECT {_CONTACT_COLUMNS} FROM contacts WHERE {' AND '.join(where)} "  # noqa: S608
            "ORDER BY id LIMIT ? OFFSET ?", (*params, per_page + 1, (page - 1) * per_page),
        ).fetchall()
        return _page([_contact(r) for r in rows], page, per_page)

    def contact(self, con: sqlite3.Connection, request: Request, contact_id: int
                ) -> dict[str, Any]:
        row = con.execute(f"SELECT {_CONTACT_COLUMNS} FROM contacts WHERE id = ?",  # noqa: S608
                          (contact_id,)).fetchone()
        if row is None:
            raise ApiError(404, "INVALID_DATA", "the id given seems to be invalid")
        return {"data": [_contact(row)]}

    def update_contact(self, con: sqlite3.Connection, request: Request, contact_id: int
                       ) -> dict[str, Any]:
        changes = json_object(request)
        if not isinstance(changes.get("processing_restricted", False), bool):
            raise ApiError(400, "INVALID_DATA", "processing_restricted must be true or false")
        now = datetime.now(UTC).isoformat(timespec="seconds")
        old = update_row(con, "contacts", contact_id, changes, _WRITABLE, ("modified_time", now))
        if "email" in changes and changes["email"] != old["email"]:
            # The full-text index is external: it learns of the new address only when told.
            _reindex(con, contact_id, old["email"], changes["email"])
        return _success(contact_id, "record updated")

    def delete_contact(self, con: sqlite3.Connection, request: Request, contact_id: int
                       ) -> dict[str, Any]:
        old = delete_row(con, "contacts", contact_id,
                         (("notes", "contact_id"), ("deals", "contact_id")))
        _reindex(con, contact_id, old["email"], None)
        return _success(contact_id, "record deleted")

    def delete_note(self, con: sqlite3.Connection, request: Request, row_id: int
                    ) -> dict[str, Any]:
        delete_row(con, "notes", row_id)
        return _success(row_id, "record deleted")

    def delete_deal(self, con: sqlite3.Connection, request: Request, row_id: int
                    ) -> dict[str, Any]:
        delete_row(con, "deals", row_id)
        return _success(row_id, "record deleted")

    def notes(self, con: sqlite3.Connection, request: Request, contact_id: int
              ) -> dict[str, Any]:
        return self._related(con, request, contact_id, "SELECT id, contact_id, title, "
                             "content, created_by, created_time FROM notes WHERE contact_id = ? "
                             "ORDER BY id LIMIT ? OFFSET ?")

    def deals(self, con: sqlite3.Connection, request: Request, contact_id: int
              ) -> dict[str, Any]:
        return self._related(con, request, contact_id, "SELECT id, contact_id, deal_name, "
                             "stage, amount, closing_date, owner FROM deals WHERE contact_id = ? "
                             "ORDER BY id LIMIT ? OFFSET ?")

    def _related(self, con: sqlite3.Connection, request: Request, contact_id: int, sql: str
                 ) -> dict[str, Any]:
        page, per_page = _paging(request)
        if con.execute("SELECT 1 FROM contacts WHERE id = ?", (contact_id,)).fetchone() is None:
            raise ApiError(404, "INVALID_DATA", "the related id given seems to be invalid")
        rows = con.execute(sql, (contact_id, per_page + 1, (page - 1) * per_page)).fetchall()
        items = [{**dict(r), "id": str(r["id"]), "contact_id": str(r["contact_id"])}
                 for r in rows]
        return _page(items, page, per_page)


def _paging(request: Request) -> tuple[int, int]:
    return (whole(request, "page", 1, 1, 100_000),
            whole(request, "per_page", MAX_PER_PAGE, 1, MAX_PER_PAGE))


def _page(items: list[dict[str, Any]], page: int, per_page: int) -> dict[str, Any]:
    """Zoho's envelope. One row beyond the page was read to know whether more follow."""
    more = len(items) > per_page
    items = items[:per_page]
    return {"data": items, "info": {"page": page, "per_page": per_page, "count": len(items),
                                    "more_records": more}}


def _success(row_id: int, message: str) -> dict[str, Any]:
    """Zoho's answer to a change."""
    return {"data": [{"code": "SUCCESS", "status": "success", "message": message,
                      "details": {"id": str(row_id)}}]}


def _reindex(con: sqlite3.Connection, contact_id: int, old: str | None, new: str | None
             ) -> None:
    """Move a contact's address in the trigram index: the old one out, the new one in."""
    con.execute("INSERT INTO contacts_fts(contacts_fts, rowid, email) VALUES ('delete', ?, ?)",
                (contact_id, old))
    if new is not None:
        con.execute("INSERT INTO contacts_fts(rowid, email) VALUES (?, ?)", (contact_id, new))


def _contact(row: sqlite3.Row) -> dict[str, Any]:
    return {**dict(row), "id": str(row["id"]),
            "processing_restricted": bool(row["processing_restricted"])}


def crm_app(db_path: Path, token: str) -> CrmApi:
    """The CRM API over ``crm.sqlite`` (a WSGI app), answering only with ``token``."""
    return CrmApi(db_path, token)
