"""Staff accounts (admin) and the audit trail (auditor, DPO)."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from dsar.accounts import management
from dsar.cases.permissions import Action
from dsar.core.audit import record_event, verify_chain
from dsar.extensions import db
from dsar.models import ActorType, AuditEvent, StaffRole, StaffUser
from dsar.staff.access import require
from dsar.staff.blueprint import bp
from dsar.staff.history import actor_names, actor_words, case_references, sentence

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
    names = actor_names(events)
    return render_template("staff/audit.html", events=events, report=report,
                           sentences={e.id: sentence(e, names) for e in events},
                           actors={e.id: actor_words(e, names) for e in events},
                           references=case_references(events),
                           next_before=events[-1].id if len(events) == AUDIT_PAGE else None)


@bp.get("/users")
@require(Action.MANAGE_STAFF)
def users():
    """Staff management. No password is ever shown: a new account gets a set-up link by e-mail."""
    accounts = db.session.scalars(select(StaffUser).order_by(StaffUser.email)).all()
    return render_template("staff/users.html", accounts=accounts, roles=list(StaffRole))


@bp.post("/users")
@require(Action.MANAGE_STAFF)
def create_user():
    """Create an account; its owner chooses the password from an e-mailed link."""
    try:
        user = management.create_account(request.form.get("email"), request.form.get("name"),
                                          _role(request.form.get("role")), by=current_user.id)
    except management.AccountRefused as refused:
        flash(refused.message)
        return redirect(url_for("staff.users"))
    flash(_l("Account created. A link to choose a password was e-mailed to %(email)s; it works "
             "once, for %(hours)d hours.", email=user.email,
             hours=current_app.config["STAFF_SETUP_LINK_HOURS"]))
    return redirect(url_for("staff.users"))


@bp.post("/users/<int:user_id>/role")
@require(Action.MANAGE_STAFF)
def change_role(user_id: int):
    """Give an account another role (not one's own); a raise is e-mailed to every DPO."""
    user = db.session.get(StaffUser, user_id)
    role = _role(request.form.get("role"))
    if user is None or role is None:
        return redirect(url_for("staff.users"))
    try:
        management.change_role(user, role, by=current_user.id)
    except management.AccountRefused as refused:
        flash(refused.message)
    return redirect(url_for("staff.users"))


@bp.post("/users/<int:user_id>/setup-link")
@require(Action.MANAGE_STAFF)
def send_setup_link(user_id: int):
    """E-mail the account a new link to choose a password (a forgotten password)."""
    user = db.session.get(StaffUser, user_id)
    if user is None or not management.send_setup_link(user, by=current_user.id):
        return redirect(url_for("staff.users"))
    flash(_l("A link to choose a password was e-mailed to %(email)s.", email=user.email))
    return redirect(url_for("staff.users"))


@bp.post("/users/<int:user_id>/<change>")
@require(Action.MANAGE_STAFF)
def change_user(user_id: int, change: str):
    """Unlock, deactivate or reactivate an account. Deactivating ends its sessions."""
    user = db.session.get(StaffUser, user_id)
    if user is not None and change in management.STATE_CHANGES:
        management.change_state(user, change, by=current_user.id)
    return redirect(url_for("staff.users"))


def _role(value: str | None) -> StaffRole | None:
    try:
        return StaffRole(value)
    except ValueError:
        return None
