"""Login and role checks for staff views; every refusal is audited."""

from __future__ import annotations

from functools import wraps

from flask import abort
from flask_login import current_user
from sqlalchemy import select

from dsar.cases.permissions import Action, allowed
from dsar.core.audit import record_event
from dsar.extensions import db, login_manager
from dsar.models import ActorType, Case


def deny(action: Action, case: Case | None = None):
    """Audit a refused action and answer 403."""
    record_event("access.denied", case=case, actor_type=ActorType.STAFF,
                 actor_id=current_user.id, payload={"action": str(action)})
    db.session.commit()
    abort(403)


def case_or_404(reference: str) -> Case:
    """The case with this reference (staff URLs carry the reference, never personal data)."""
    case = db.session.scalar(select(Case).where(Case.reference == reference))
    if case is None:
        abort(404)
    return case


def require(action: Action):
    """View decorator: a logged-in staff member whose role allows ``action``. For views with a
    ``reference`` argument the refusal is audited on that case."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not allowed(current_user.role, action):
                reference = kwargs.get("reference")
                case = None
                if reference:
                    case = db.session.scalar(select(Case).where(Case.reference == reference))
                deny(action, case)
            return view(*args, **kwargs)

        return wrapped

    return decorator
