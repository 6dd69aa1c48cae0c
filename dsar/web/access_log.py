"""Secrets in link paths never reach a log: the requester's ``/confirm/<ref>/<token>`` and
``/status/<ref>/<token>``, and the staff set-up link ``/staff/setup/<token>``.

A logging filter rewrites each record's message (``msg`` and ``args`` together), so whatever
handler or format writes it afterwards sees ``/status/DSR-XXXX-XXXX/[redacted]``: the path stays
useful to whoever reads the log, the token is gone. It is installed on the loggers of every
server the app runs under (Werkzeug's, behind ``dsar run``; Gunicorn's access and error logs,
behind ``dsar serve``) and on the app's own logger (Flask logs the path of a request that
failed). Gunicorn's access record is a template and a dict of "atoms" (path, referrer, headers,
query string...): each atom the template names is redacted, and a query string or a cookie or
authorisation header is never written at all, whatever format an operator configures.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from urllib.parse import unquote

from flask import Flask

REDACTED = "[redacted]"

#: The loggers a request line reaches. Filters on a logger see only the records logged on it,
#: hence each by name.
SERVER_LOGGERS = ("werkzeug", "gunicorn.access", "gunicorn.error")

#: Anything that looks like a path (or a URL's path) in a message. Control characters end it:
#: Werkzeug colours the request line for a terminal.
_PATH = re.compile(r"/[^\s\"'\x00-\x1f\x7f]*")

#: The tokened part: all that follows ``/confirm/<ref>/`` or ``/status/<ref>/``, and
#: ``/setup/``, up to the query. Repeated slashes count as one (the router merges them). All
#: that follows, not one segment: ``/status/<ref>/download/../<token>`` still holds the token.
_SECRETS = (
    re.compile(r"(?P<keep>/+(?:confirm|status)/+[^/?#]+/+)(?P<secret>[^?#]+)", re.IGNORECASE),
    re.compile(r"(?P<keep>/+setup/+)(?P<secret>[^?#]+)", re.IGNORECASE),
    # An address mistakenly put in the query string of the suppression check.
    re.compile(r"(?P<keep>/+api/[^?#]*\?)(?P<secret>[^#]+)", re.IGNORECASE),
)

#: The case pages under ``/status/<ref>/`` that are not links: nothing secret to hide.
_NOT_SECRET = frozenset({"answer", "withdraw", "download", "download/code"})


def _normalised(path: str) -> str:
    """``path`` as a router or a proxy may read it: percent-decoded (twice-encoded too) and
    with backslashes as slashes."""
    for _ in range(3):
        decoded = unquote(path)
        if decoded == path:
            break
        path = decoded
    return path.replace("\\", "/")


def _redact_path(path: str) -> str:
    """``path`` with its secret part replaced. Matched on the normalised path, which is then
    the one logged (``/%73tatus/…`` is ``/status/…`` to the router); a path with no secret is
    left exactly as it came."""
    redacted, hits = _redact_once(_normalised(path))
    return redacted if hits else path


def _redact_once(path: str) -> tuple[str, int]:
    hits = 0

    def replace(match: re.Match) -> str:
        nonlocal hits
        if match.group("secret").strip("/").lower() in _NOT_SECRET:
            return match.group(0)
        hits += 1
        return match.group("keep") + REDACTED

    for pattern in _SECRETS:
        path = pattern.sub(replace, path)
    return path, hits


def redact(text: str) -> str:
    """``text`` (a log line) with the secret of every tokened path in it replaced."""
    return _PATH.sub(lambda match: _redact_path(match.group(0)), text)


#: Gunicorn's atoms that are a query string (``%(q)s``, ``%({query_string}e)s``), or that
#: carry a credential (a session cookie, a bearer token): written as ``[redacted]`` when an
#: access log format names them. A query holds whatever a visitor typed (an address...).
_HIDDEN_ATOMS = frozenset({"q", "{query_string}e", "{cookie}i", "{authorization}i",
                           "{http_cookie}e", "{http_authorization}e", "{set-cookie}o"})
#: Atoms that are a URL or a request line: their query string goes the same way.
_URL_ATOMS = frozenset({"r", "f", "{referer}i", "{http_referer}e", "{raw_uri}e",
                        "{request_uri}e"})
_QUERY = re.compile(r"\?[^\s\"#]*")

#: The names a ``%(name)s`` template refers to.
_TEMPLATE_KEYS = re.compile(r"%\(([^)]*)\)")


def _redact_atom(key: str, value: str) -> str:
    key = key.lower()
    if key in _HIDDEN_ATOMS:
        return value if value in ("", "-") else REDACTED
    if key in _URL_ATOMS:
        value = _QUERY.sub("?" + REDACTED, value)
    return redact(value)


def _redact_atoms(template: str, atoms: Mapping) -> dict | None:
    """Gunicorn's access record: ``template`` (its ``access_log_format``) formatted with a
    mapping of atoms. The atoms the template names, redacted; None if none needed it."""
    keys = set(_TEMPLATE_KEYS.findall(template))
    # Gunicorn's SafeAtoms: any case for headers, "-" when missing.
    values = {key: atoms[key] for key in keys}
    redacted = {key: _redact_atom(key, value) if isinstance(value, str) else value
                for key, value in values.items()}
    return redacted if redacted != values else None


class RedactLinkTokens(logging.Filter):
    """Rewrite a record whose message holds a link's secret; let every record through."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, Mapping) and isinstance(record.msg, str):
            # Gunicorn's access line: the template and a dict of atoms. The atoms are redacted
            # in place of the message, so a handler that reads them (a JSON formatter of the
            # operator's logging configuration) finds no secret either.
            try:
                atoms = _redact_atoms(record.msg, record.args)
            except Exception:  # a malformed record is the logging module's to report
                return True
            if atoms is not None:
                record.args = atoms
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the logging module's to report, not ours
            return True
        redacted = redact(message)
        if redacted != message:
            # The formatted text replaces the template and its arguments: a later handler
            # formats ``msg`` alone (no ``args``), so a "%" from the path stays as it is.
            record.msg, record.args = redacted, None
        return True


def init_app(app: Flask) -> None:
    """Install the filter on the servers' loggers and the app's (once per logger)."""
    for logger in (*map(logging.getLogger, SERVER_LOGGERS), app.logger):
        if not any(isinstance(f, RedactLinkTokens) for f in logger.filters):
            logger.addFilter(RedactLinkTokens())
