"""What both demo APIs share: a read-only SQLite connection per request, JSON answers,
secret checks, opaque cursors, and a server that logs no request line (query strings hold
e-mail addresses)."""

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
    """Base of the demo APIs: routes to handlers, opens the database read-only per request
    (nothing shared between threads), turns :class:`ApiError` into JSON."""

    routes: Map

    def __init__(self, db_path: Path):
        self.db_path = Path(db_path).resolve()
        if not self.db_path.is_file():
            raise FileNotFoundError(f"no database at {self.db_path} (generate the demo first)")
        self.uri = f"{self.db_path.as_uri()}?mode=ro"

    @contextmanager
    def database(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection, closed at the end of the request."""
        with closing(sqlite3.connect(self.uri, uri=True)) as con:
            con.row_factory = sqlite3.Row
            yield con

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
                with self.database() as con:
                    response = json_response(getattr(self, endpoint)(con, request, **args))
        except ApiError as exc:
            response = json_response({"code": exc.code, "message": exc.message}, exc.status)
        except HTTPException as exc:
            response = json_response({"code": exc.name.lower().replace(" ", "_"),
                                      "message": exc.description}, exc.code or 500)
        return response(environ, start_response)


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
