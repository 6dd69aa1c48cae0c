"""``POST /api/suppression/check``: the organisation's tools (a newsletter's sign-up, a CRM
import) ask whether an e-mail address or phone number is on the suppression list.

- Authentication: ``Authorization: Bearer <SUPPRESSION_API_TOKEN>``, compared in constant
  time; a missing or wrong token answers 401. Without the setting the endpoint does not
  exist (404, the page any unknown address gets).
- Body: ``{"email": "..."}`` or ``{"phone": "..."}`` (one of them); answer
  ``{"suppressed": true|false}``, or 400 ``{"error": ...}`` for anything else.
- No CSRF token: the caller is a program holding a bearer token, not a browser with a
  session cookie, so there is no ambient credential to forge a request with.
- The address travels in the body, never in the URL, so no server's request line carries
  it; nothing here logs it.
"""

from __future__ import annotations

import hmac

from flask import Blueprint, abort, current_app, jsonify, request

from dsar.changes.suppression import InvalidAddress, is_suppressed
from dsar.extensions import csrf
from dsar.models.suppression import SuppressionKind

bp = Blueprint("suppression_api", __name__, url_prefix="/api/suppression")

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


@bp.post("/check")
@csrf.exempt
def check():
    """Answer whether the address in the body is on the suppression list."""
    expected = current_app.config.get("SUPPRESSION_API_TOKEN")
    if not expected or not isinstance(expected, str):
        abort(404)
    if not _token_matches(expected):
        return _answer({"error": "unauthorized"}, 401,
                       {"WWW-Authenticate": 'Bearer realm="dsar-suppression"'})
    request.max_content_length = MAX_BODY_BYTES
    asked = _asked()
    if asked is None:
        return _answer({"error": 'send {"email": "..."} or {"phone": "..."}'}, 400)
    try:
        return _answer({"suppressed": is_suppressed(*asked)})
    except InvalidAddress:
        return _answer({"error": f"not a valid {asked[0].value}"}, 400)
