"""The back office: staff authentication, the dashboard, the case page and its actions."""

from flask import Blueprint

bp = Blueprint("staff", __name__, url_prefix="/staff")

from . import admin, auth, cases, dashboard  # noqa: E402,F401  (routes register on bp)


@bp.app_context_processor
def staff_helpers() -> dict:
    """``staff_can('extend')`` and role names for the templates."""
    from flask_babel import lazy_gettext as _l
    from flask_login import current_user

    from ..models import StaffRole
    from ..permissions import Action, allowed

    labels = {StaffRole.AGENT: _l("agent"), StaffRole.DPO: _l("DPO"),
              StaffRole.AUDITOR: _l("auditor"), StaffRole.ADMIN: _l("administrator")}

    def staff_can(action: str) -> bool:
        return current_user.is_authenticated and allowed(current_user.role, Action(action))

    from ..models.types import utcnow

    return {"staff_can": staff_can, "role_label": lambda role: labels[StaffRole(role)],
            "now": utcnow}
