"""What the registers' checks share (``POST /api/suppression/check``,
``POST /api/restriction/check``): the organisation's tools ask whether an e-mail address or a
phone number is on a register, and get a yes or no.

- Authentication: ``Authorization: Bearer <SUPPRESSION_API_TOKEN>`` (one token for the
  registers' checks), compared in constant time; a missing or wrong token answers 401.
  Without the setting the endpoints do not exist (404, the page any unknown address gets).
- Body: ``{"email": "..."}`` or ``{"phone": "..."}`` (one of them); answer
  ``{"<answer key>": true|false}``, or 400 ``{"error": ...}`` for anything else.
- No CSRF token (each view is exempted): the caller is a program holding a bearer token, not
  a browser with a session cookie, so there is no ambient credential to forge a request with.
- The address travels in the body, never in the URL, so no server's request line carries
  it; nothing here logs it.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from flask import abort, current_app, jsonify, request

from dsar.changes.suppression import InvalidAddress
from dsar.models.suppression import SuppressionKind

#: Larger bodies are refused before parsing: one address is well under this.
MAX_BODY_BYTES = 4096


def _token_matches(expected: str) -> bool:
    """Whether the request carries ``Authorization: Bearer <expected>`` (constant time)."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), expected.encode())


def _answer(body: dict, status: int = 200, headers: dict | None = None):
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers or {})
    response.headers["Cache-Control"] = "no-store"
    return response


def _asked() -> tuple[SuppressionKind, str] | None:
    """The kind and value asked about: a JSON object with exactly one of ``email`` and
    ``phone``, a string."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or len(body) != 1:
        return None
    (name, value), = body.items()
    if name not in {kind.value for kind in SuppressionKind} or not isinstance(value, str):
        return None
    return SuppressionKind(name), value


def answer_check(realm: str, answer_key: str,
                 is_listed: Callable[[SuppressionKind, str], bool]):
    """The response to a register's check: 404 without the token setting, 401 (with a
    ``WWW-Authenticate`` naming ``realm``) without the right bearer token, 400 for a body
    that is not one address, else ``{answer_key: is_listed(kind, value)}``."""
    # One token for every register's check (the setting predates the restriction register).
    expected = current_app.config.get("SUPPRESSION_API_TOKEN")
    if not expected or not isinstance(expected, str):
        abort(404)
    if not _token_matches(expected):
        return _answer({"error": "unauthorized"}, 401,
                       {"WWW-Authenticate": f'Bearer realm="{realm}"'})
    request.max_content_length = MAX_BODY_BYTES
    asked = _asked()
    if asked is None:
        return _answer({"error": 'send {"email": "..."} or {"phone": "..."}'}, 400)
    try:
        return _answer({answer_key: is_listed(*asked)})
    except InvalidAddress:
        return _answer({"error": f"not a valid {asked[0].value}"}, 400)
