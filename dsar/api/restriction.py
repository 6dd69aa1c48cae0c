"""``POST /api/restriction/check``: the organisation's tools ask whether a person's data is
restricted (GDPR Art. 18) before processing it: an e-mail address or phone number in the
restriction register, by a case whose restriction is not lifted.

The same contract as the suppression list's check (:mod:`dsar.api.checks`): the bearer token
``SUPPRESSION_API_TOKEN``, the token of the registers' checks (404 without the setting, 401
without the token), body ``{"email": "..."}`` or ``{"phone": "..."}``, answer
``{"restricted": true|false}`` (400 for anything else); no CSRF token, no address logged.
"""

from __future__ import annotations

from flask import Blueprint

from dsar.api.checks import answer_check
from dsar.changes.restriction_register import is_restricted
from dsar.extensions import csrf

bp = Blueprint("restriction_api", __name__, url_prefix="/api/restriction")


@bp.post("/check")
@csrf.exempt
def check():
    """Answer whether the address in the body is restricted."""
    return answer_check("dsar-restriction", "restricted", is_restricted)
