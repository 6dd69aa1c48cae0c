"""``POST /api/suppression/check``: the organisation's tools (a newsletter's sign-up, a CRM
import) ask whether an e-mail address or phone number is on the suppression list.

Bearer token ``SUPPRESSION_API_TOKEN`` (404 without the setting, 401 without the token), body
``{"email": "..."}`` or ``{"phone": "..."}``, answer ``{"suppressed": true|false}``: see
:mod:`dsar.api.checks`, which this check shares with the restriction register's.
"""

from __future__ import annotations

from flask import Blueprint

from dsar.api.checks import answer_check
from dsar.changes.suppression import is_suppressed
from dsar.extensions import csrf

bp = Blueprint("suppression_api", __name__, url_prefix="/api/suppression")


@bp.post("/check")
@csrf.exempt
def check():
    """Answer whether the address in the body is on the suppression list."""
    return answer_check("dsar-suppression", "suppressed", is_suppressed)
