"""Staff sign-in: password (scrypt), then a TOTP code (mandatory for DPO and admin, enrolled
by QR code), lock-out after repeated failures, idle timeout checked on the server."""

from __future__ import annotations

import time
from datetime import timedelta

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import format_datetime
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select
from werkzeug.security import check_password_hash

from .. import totp
from ..audit import record_event
from ..extensions import db, limiter, login_manager
from ..i18n import current_language, safe_next
from ..models import ActorType, StaffUser
from ..models.types import utcnow
from . import bp
from .forms import CodeForm, LoginForm

PENDING = "staff_pending"  # user id between the password and the code steps
SEEN = "staff_seen"  # last activity, for the idle timeout
NEXT = "staff_next"  # the back-office page asked for before signing in
# Checked when the address is unknown, so that a wrong address costs the same time as a
# wrong password (no account enumeration by timing).
_DUMMY_HASH = "scrypt:32768:8:1$0000000000000000$" + "0" * 128

login_manager.login_view = "staff.login"
login_manager.login_message = _l("Please sign in.")


@bp.before_app_request
def enforce_idle_timeout():
    """End a staff session idle for longer than ``STAFF_SESSION_MINUTES``."""
    if not current_user.is_authenticated:
        return None
    limit = current_app.config["STAFF_SESSION_MINUTES"] * 60
    seen = session.get(SEEN, 0)
    if time.time() - seen > limit:
        _end_session("staff.session_expired")
        flash(_l("Your session has expired. Please sign in again."))
        return redirect(url_for("staff.login"))
    session[SEEN] = time.time()
    return None


def _end_session(action: str) -> None:
    user_id = current_user.id
    logout_user()
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    record_event(action, actor_type=ActorType.STAFF, actor_id=user_id)
    db.session.commit()


def _is_locked(user: StaffUser) -> bool:
    return user.locked_until is not None and user.locked_until > utcnow()


def _register_failure(user: StaffUser, step: str) -> None:
    user.failed_logins += 1
    payload = {"staff_id": user.id, "step": step, "failures": user.failed_logins}
    record_event("staff.login_failed", actor_type=ActorType.STAFF, actor_id=user.id,
                 payload=payload)
    if user.failed_logins >= current_app.config["STAFF_LOCKOUT_ATTEMPTS"]:
        user.locked_until = utcnow() + timedelta(minutes=current_app.config[
            "STAFF_LOCKOUT_MINUTES"])
        user.failed_logins = 0
        record_event("staff.locked", actor_type=ActorType.STAFF, actor_id=user.id)
    db.session.commit()


def _locked_message(user: StaffUser):
    return _l("This account is locked after too many failed attempts, until %(time)s. An "
              "administrator can unlock it sooner.",
              time=format_datetime(user.locked_until, "short"))


def _complete_login(user: StaffUser):
    next_url = session.get(NEXT)
    lang = session.get("lang")
    session.clear()  # a fresh session at sign-in: nothing carried over from before
    if lang:
        session["lang"] = lang
    session.permanent = True
    session[SEEN] = time.time()
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = utcnow()
    user.language = current_language()  # staff e-mails follow the language they work in
    login_user(user)
    record_event("staff.login", actor_type=ActorType.STAFF, actor_id=user.id)
    db.session.commit()
    target = safe_next(next_url)
    return redirect(target if target.startswith("/staff/") else url_for("staff.dashboard"))


def _pending_user() -> StaffUser | None:
    pending = session.get(PENDING)
    if not pending or time.time() - pending.get("at", 0) > 300:
        return None
    user = db.session.get(StaffUser, pending["id"])
    return user if user is not None and user.is_active else None


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("30 per minute", methods=["POST"])
def login():
    """Step one: e-mail address and password."""
    if current_user.is_authenticated:
        return redirect(url_for("staff.dashboard"))
    if request.method == "GET" and request.args.get("next"):
        session[NEXT] = safe_next(request.args["next"])
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        user = db.session.scalar(
            select(StaffUser).where(StaffUser.email == form.email.data.strip().lower()))
        if user is None or not user.is_active:
            check_password_hash(_DUMMY_HASH, form.password.data)
            error = _l("E-mail address or password incorrect.")
        elif _is_locked(user):
            error = _locked_message(user)
        elif not user.check_password(form.password.data):
            _register_failure(user, "password")
            error = _locked_message(user) if _is_locked(user) else _l(
                "E-mail address or password incorrect.")
        elif user.totp_required:
            session[PENDING] = {"id": user.id, "at": time.time()}
            if user.totp_enabled:
                return redirect(url_for("staff.login_code"))
            return redirect(url_for("staff.enrol"))
        else:
            return _complete_login(user)
    status = 400 if (error or form.errors) else 200
    return render_template("staff/login.html", form=form, error=error), status


@bp.route("/login/code", methods=["GET", "POST"])
@limiter.limit("30 per minute", methods=["POST"])
def login_code():
    """Step two: the authenticator code."""
    user = _pending_user()
    if user is None or not user.totp_enabled:
        return redirect(url_for("staff.login"))
    form = CodeForm()
    error = None
    if form.validate_on_submit():
        if _is_locked(user):
            error = _locked_message(user)
        elif totp.verify(user, form.code.data):
            session.pop(PENDING, None)
            return _complete_login(user)
        else:
            _register_failure(user, "code")
            error = _locked_message(user) if _is_locked(user) else _l(
                "This code is not valid. Check your device's time and try the next code.")
    status = 400 if (error or form.errors) else 200
    return render_template("staff/code.html", form=form, error=error), status


@bp.route("/enrol", methods=["GET", "POST"])
def enrol():
    """Enrolment of the second factor: scan the QR code, type a code to prove it works. Reached
    after the password (mandatory roles) or from the account menu (anyone)."""
    user = current_user if current_user.is_authenticated else _pending_user()
    if user is None:
        return redirect(url_for("staff.login"))
    secret = totp.pending_secret(user)
    if secret is None:
        secret = totp.start_enrolment(user)
        db.session.commit()
    form = CodeForm()
    error = None
    if form.validate_on_submit():
        if totp.verify(user, form.code.data):
            user.totp_confirmed_at = utcnow()
            record_event("staff.totp_enrolled", actor_type=ActorType.STAFF, actor_id=user.id)
            db.session.commit()
            if current_user.is_authenticated:
                flash(_l("Two-step sign-in is now on for your account."))
                return redirect(url_for("staff.dashboard"))
            session.pop(PENDING, None)
            return _complete_login(user)
        error = _l("This code is not valid. Check your device's time and try the next code.")
    uri = totp.provisioning_uri(user, secret, current_app.config["ORGANISATION_NAME"])
    status = 400 if (error or form.errors) else 200
    return render_template("staff/enrol.html", form=form, error=error, secret=secret,
                           qr=totp.qr_data_uri(uri)), status


@bp.post("/logout")
@login_required
def logout():
    """Sign out (a POST with CSRF token, so that no link can sign someone out)."""
    _end_session("staff.logout")
    flash(_l("You are signed out."))
    return redirect(url_for("staff.login"))

