"""Staff sign-in: password (scrypt), then a TOTP code (mandatory for DPO and admin, enrolled
by QR code), lock-out after repeated failures (dsar/accounts/lockout.py), idle timeout
checked on the server, and a session generation that ends every session of an account at once."""

from __future__ import annotations

import time

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select
from werkzeug.security import check_password_hash

from dsar.accounts import lockout
from dsar.core import totp
from dsar.core.audit import record_event
from dsar.extensions import db, limiter, login_manager
from dsar.i18n import current_language, safe_next
from dsar.models import ActorType, StaffUser
from dsar.models.types import utcnow
from dsar.staff.blueprint import bp
from dsar.staff.forms import CodeForm, LoginForm

PENDING = "staff_pending"  # user id between the password and the code steps
SEEN = "staff_seen"  # last activity, for the idle timeout
NEXT = "staff_next"  # the back-office page asked for before signing in
#: The account's session generation when this session opened; checked on every request (the
#: user loader in dsar/__init__.py): once the account's differs, the session is over.
GENERATION = "staff_generation"
# Checked when the address is unknown, so that a wrong address costs the same time as a
# wrong password (no account enumeration by timing).
_DUMMY_HASH = "scrypt:32768:8:1$0000000000000000$" + "0" * 128

#: One answer for an unknown address, a wrong password and a locked account: none of them
#: may tell an outsider which addresses have accounts or which are locked.
WRONG_CREDENTIALS = _l("E-mail address or password incorrect. After too many failed attempts "
                       "the account is locked for a while: try again later or ask an "
                       "administrator.")
WRONG_CODE = _l("This code is not valid. Check your device's time and try the next code. After "
                "too many failed attempts the account is locked for a while.")

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
        end_session("staff.session_expired", everywhere=False)
        flash(_l("Your session has expired. Please sign in again."))
        return redirect(url_for("staff.login"))
    session[SEEN] = time.time()
    return None


def end_session(action: str, *, everywhere: bool) -> None:
    """Sign this browser out and audit ``action``; with ``everywhere``, every other session of
    the account ends too (the session generation moves on, so a copy of this cookie is dead)."""
    user = current_user._get_current_object()
    if everywhere:
        user.end_sessions()
    logout_user()
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    record_event(action, actor_type=ActorType.STAFF, actor_id=user.id)
    db.session.commit()


def keep_session(user: StaffUser) -> None:
    """After a change that ended the account's sessions (committed), keep this one open."""
    session[GENERATION] = user.session_generation


def complete_login(user: StaffUser):
    """Open the session once every step passed; None if the account got locked meanwhile
    (the caller then answers as for a wrong password or code)."""
    if not lockout.clear_failures(user.id):
        db.session.rollback()
        return None
    next_url = session.get(NEXT)
    lang = session.get("lang")
    session.clear()  # a fresh session at sign-in: nothing carried over from before
    if lang:
        session["lang"] = lang
    session.permanent = True
    session[SEEN] = time.time()
    user.last_login_at = utcnow()
    user.language = current_language()  # staff e-mails follow the language they work in
    login_user(user)
    record_event("staff.login", actor_type=ActorType.STAFF, actor_id=user.id)
    db.session.commit()
    keep_session(user)
    target = safe_next(next_url)
    return redirect(target if target.startswith("/staff/") else url_for("staff.dashboard"))


def pending_user() -> StaffUser | None:
    """The account whose password was just checked, for the five minutes of the code step."""
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
            lockout.register_no_account(user.id if user else None)
            db.session.commit()
            error = WRONG_CREDENTIALS
        elif not user.check_password(form.password.data):
            lockout.register_failure(user.id, "password")
            db.session.commit()
            error = WRONG_CREDENTIALS
        elif lockout.is_locked(user.id):
            # The right password on a locked account: refused, in the same words.
            lockout.record_refusal(user.id, "password")
            db.session.commit()
            error = WRONG_CREDENTIALS
        elif user.totp_required:
            session[PENDING] = {"id": user.id, "at": time.time()}
            if user.totp_enabled:
                return redirect(url_for("staff.login_code"))
            return redirect(url_for("staff.enrol"))
        else:
            response = complete_login(user)
            if response is not None:
                return response
            lockout.record_refusal(user.id, "password")  # locked meanwhile
            db.session.commit()
            error = WRONG_CREDENTIALS
    status = 400 if (error or form.errors) else 200
    return render_template("staff/login.html", form=form, error=error), status


@bp.route("/login/code", methods=["GET", "POST"])
@limiter.limit("30 per minute", methods=["POST"])
def login_code():
    """Step two: the authenticator code."""
    user = pending_user()
    if user is None or not user.totp_enabled:
        return redirect(url_for("staff.login"))
    form = CodeForm()
    error = None
    if form.validate_on_submit():
        if totp.verify(user, form.code.data):
            response = complete_login(user)
            if response is not None:
                return response
            lockout.record_refusal(user.id, "code")
            db.session.commit()
        else:
            lockout.register_failure(user.id, "code")
            db.session.commit()
        error = WRONG_CODE
    status = 400 if (error or form.errors) else 200
    return render_template("staff/code.html", form=form, error=error), status


@bp.post("/logout")
@login_required
def logout():
    """Sign out (a POST with CSRF token, so that no link can sign someone out). The session
    generation moves on, so a copy of the cookie taken before is worthless."""
    end_session("staff.logout", everywhere=True)
    flash(_l("You are signed out."))
    return redirect(url_for("staff.login"))

