"""The back office: staff authentication, the dashboard, the case page and its actions."""

from flask import Blueprint

bp = Blueprint("staff", __name__, url_prefix="/staff")

from . import account, admin, auth, cases, dashboard, factor, setup  # noqa: E402,F401  (routes)


@bp.app_context_processor
def staff_helpers() -> dict:
    """``staff_can('extend')`` and role names for the templates."""
    from flask_login import current_user

    from ..accounts import role_label
    from ..permissions import Action, allowed

    def staff_can(action: str) -> bool:
        return current_user.is_authenticated and allowed(current_user.role, Action(action))

    from ..models.types import utcnow

    return {"staff_can": staff_can, "role_label": role_label, "now": utcnow}
