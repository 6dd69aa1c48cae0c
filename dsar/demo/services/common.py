"""What both demo APIs share: a SQLite connection per request (read-only for GET, one
write transaction for DELETE and PATCH), JSON answers, secret checks, opaque cursors, and a
server that logs no request line (query strings and paths hold e-mail addresses and ids)."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

logger = logging.getLogger(__name__)

#: The methods that change data: their request runs in one write transaction.
WRITE_METHODS = frozenset({"DELETE", "PATCH", "PUT", "POST"})


class ApiError(Exception):
    """An error answer: HTTP status and a JSON body."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None
                  ) -> Response:
    """A JSON answer (UTF-8, accents kept)."""
    return Response(json.dumps(body, ensure_ascii=False, separators=(",", ":")), status=status,
                    headers=headers, content_type="application/json; charset=utf-8")


def same_secret(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented secret with the expected one."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


class SqliteApi:
    """Base of the demo APIs: routes to handlers, opens the database per request (nothing
    shared between threads; read-only unless the method changes data), turns
    :class:`ApiError` into JSON. A handler returns a JSON value or a ready Response."""

    routes: Map

    def __init__(self, db_path: Path):
        self.db_path = Path(db_path).resolve()
        if not self.db_path.is_file():
            raise FileNotFoundError(f"no database at {self.db_path} (generate the demo first)")
        self.uri = f"{self.db_path.as_uri()}?mode=ro"

    @contextmanager
    def database(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        """A read-only connection, or with ``write`` one write transaction (committed when the
        handler returns, rolled back when it raises); closed at the end of the request."""
        if not write:
            with closing(sqlite3.connect(self.uri, uri=True)) as con:
                con.row_factory = sqlite3.Row
                yield con
            return
        with closing(sqlite3.connect(self.db_path, timeout=10, isolation_level=None)) as con:
            con.row_factory = sqlite3.Row
            con.execute("PRAGMA foreign_keys = ON")
            con.execute("BEGIN IMMEDIATE")  # the write lock now: no upgrade deadlock later
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    def authorised(self, request: Request) -> Response | None:
        """None when the request carries the right secret, else the 401 answer."""
        raise NotImplementedError

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        request = Request(environ)
        try:
            denied = self.authorised(request)
            if denied is not None:
                response = denied
            else:
                endpoint, args = self.routes.bind_to_environ(environ).match()
                with self.database(write=request.method in WRITE_METHODS) as con:
                    result = getattr(self, endpoint)(con, request, **args)
                response = result if isinstance(result, Response) else json_response(result)
        except ApiError as exc:
            response = json_response({"code": exc.code, "message": exc.message}, exc.status)
        except HTTPException as exc:
            response = json_response({"code": exc.name.lower().replace(" ", "_"),
                                      "message": exc.description}, exc.code or 500)
        return response(environ, start_response)


def json_object(request: Request) -> dict[str, Any]:
    """The request's JSON object body, or a 400."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not body:
        raise ApiError(400, "invalid_body", "send a JSON object of the fields to change")
    return body


def delete_row(con: sqlite3.Connection, table: str, row_id: int,
               children: tuple[tuple[str, str], ...] = ()) -> sqlite3.Row:
    """Delete one row (the caller's transaction), returned as it was: 404 when absent, 409
    while rows of ``children`` ((table, column) pairs) still point to it. Deleting children
    along would destroy what an erasure plan may keep (a retained note, say)."""
    row = con.execute(f"SELECT * FROM {table} WHERE id = ?", (row_id,)).fetchone()  # noqa: S608
    if row is None:
        raise ApiError(404, "not_found", "no such record")
    for child, column in children:
        if con.execute(f"SELECT 1 FROM {child} WHERE {column} = ? LIMIT 1",  # noqa: S608
                       (row_id,)).fetchone():
            raise ApiError(409, "has_related_records",
                           f"delete its {child} first (they point to this record)")
    con.execute(f"DELETE FROM {table} WHERE id = ?", (row_id,))  # noqa: S608
    return row


def update_row(con: sqlite3.Connection, table: str, row_id: int, changes: dict[str, Any],
               writable: tuple[str, ...], stamp: tuple[str, str]) -> sqlite3.Row:
    """Set ``changes`` (only ``writable`` columns; the caller's transaction) and the
    ``stamp`` (column, time) on one row; returns the row as it was before. 404 when absent,
    400 for another column or a value the schema refuses."""
    for name, value in changes.items():
        if name not in writable:
            raise ApiError(400, "invalid_field", f"{name} cannot be changed")
        if isinstance(value, dict | list):
            raise ApiError(400, "invalid_value", f"{name} must be text, a number or null")
    row = con.execute(f"SELECT * FROM {table} WHERE id = ?", (row_id,)).fetchone()  # noqa: S608
    if row is None:
        raise ApiError(404, "not_found", "no such record")
    columns = {**changes, stamp[0]: stamp[1]}
    assignments = ", ".join(f"{name} = ?" for name in columns)
    try:
        con.execute(f"UPDATE {table} SET {assignments} WHERE id = ?",  # noqa: S608
                    (*columns.values(), row_id))
    except sqlite3.IntegrityError:
        raise ApiError(400, "invalid_value", "a required field cannot be emptied") from None
    return row


def whole(request: Request, name: str, default: int, low: int, high: int) -> int:
    """A whole-number query parameter within bounds, or a 400."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "invalid_parameter", f"{name} must be a whole number") from None
    if not low <= value <= high:
        raise ApiError(400, "invalid_parameter", f"{name} must be from {low} to {high}")
    return value


def encode_cursor(last_id: int) -> str:
    """An opaque cursor: where the next page starts."""
    return base64.urlsafe_b64encode(f"after:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The id after which to continue (0: from the start), or a 400 for a forged cursor."""
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, number = text.partition(":")
        if prefix != "after":
            raise ValueError(prefix)
        return int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiError(400, "invalid_parameter", "cursor is not valid") from None


class _QuietHandler(WSGIRequestHandler):
    """No access log: the query strings carry e-mail addresses."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


def make_quiet_server(app: Callable, host: str, port: int) -> BaseWSGIServer:
    """A threaded Werkzeug server for ``app`` that logs no request line."""
    return make_server(host, port, app, threaded=True, request_handler=_QuietHandler)


def serve(app: Callable, host: str = "127.0.0.1", port: int = 0
          ) -> tuple[BaseWSGIServer, threading.Thread, int]:
    """Start ``app`` in a background thread; returns (server, thread, port). Stop it with
    ``server.shutdown(); server.server_close(); thread.join()``."""
    server = make_quiet_server(app, host, port)
    thread = threading.Thread(target=server.serve_forever, name=f"demo-api-{server.port}",
                              daemon=True)
    thread.start()
    return server, thread, server.port
