"""Staff accounts (admin) and the audit trail (auditor, DPO)."""

from __future__ import annotations

import secrets

from flask import flash, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from ..audit import record_event, verify_chain
from ..extensions import db
from ..models import ActorType, AuditEvent, StaffRole, StaffUser
from ..permissions import Action
from . import bp
from .access import require

AUDIT_PAGE = 200


@bp.get("/audit")
@require(Action.VIEW_AUDIT)
def audit_trail():
    """The newest audit events, and the result of a full chain check on request."""
    before = request.args.get("before", type=int)
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(AUDIT_PAGE)
    if before:
        query = query.where(AuditEvent.id < before)
    events = db.session.scalars(query).all()
    report = verify_chain() if request.args.get("verify") else None
    record_event("audit.viewed", actor_type=ActorType.STAFF, actor_id=current_user.id,
                 payload={"verified": bool(report)})
    db.session.commit()
    return render_template("staff/audit.html", events=events, report=report,
                           next_before=events[-1].id if len(events) == AUDIT_PAGE else None)


@bp.get("/users")
@require(Action.MANAGE_STAFF)
def users():
    """Staff accounts."""
    accounts = db.session.scalars(select(StaffUser).order_by(StaffUser.email)).all()
    return render_template("staff/users.html", accounts=accounts, roles=list(StaffRole),
                           new_password=None)


@bp.post("/users")
@require(Action.MANAGE_STAFF)
def create_user():
    """Create an account; its first password is shown once."""
    email = (request.form.get("email") or "").strip().lower()
    try:
        role = StaffRole(request.form.get("role"))
    except ValueError:
        role = None
    if not email or "@" not in email or len(email) > 254 or role is None:
        flash(_l("Please give a valid e-mail address and a role."))
        return redirect(url_for("staff.users"))
    if db.session.scalar(select(StaffUser.id).where(StaffUser.email == email)):
        flash(_l("A staff account with this address already exists."))
        return redirect(url_for("staff.users"))
    password = secrets.token_urlsafe(12)
    user = StaffUser(email=email, role=role, name=(request.form.get("name") or "")[:200])
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    record_event("staff.created", actor_type=ActorType.STAFF, actor_id=current_user.id,
                 payload={"staff_id": user.id, "role": str(role)})
    db.session.commit()
    accounts = db.session.scalars(select(StaffUser).order_by(StaffUser.email)).all()
    return render_template("staff/users.html", accounts=accounts, roles=list(StaffRole),
                           new_password=password, new_user=user)


@bp.post("/users/<int:user_id>/<change>")
@require(Action.MANAGE_STAFF)
def change_user(user_id: int, change: str):
    """Unlock, deactivate or reactivate an account."""
    user = db.session.get(StaffUser, user_id)
    if user is None or change not in ("unlock", "deactivate", "activate"):
        return redirect(url_for("staff.users"))
    if change == "unlock":
        user.locked_until = None
        user.failed_logins = 0
    elif change == "deactivate" and user.id != current_user.id:
        user.is_active_account = False
    elif change == "activate":
        user.is_active_account = True
    record_event(f"staff.{change}", actor_type=ActorType.STAFF, actor_id=current_user.id,
                 payload={"staff_id": user.id})
    db.session.commit()
    return redirect(url_for("staff.users"))
