"""The account page of every staff member: change the password, change the authenticator,
sign out everywhere. Every change is a POST with the CSRF token; each one ends the account's
other sessions and keeps this one."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from dsar.accounts import lockout
from dsar.accounts.management import choose_password, password_rules
from dsar.core import totp
from dsar.core.audit import record_event
from dsar.extensions import db, limiter
from dsar.models import ActorType
from dsar.staff.auth import WRONG_CODE, end_session, keep_session
from dsar.staff.blueprint import bp
from dsar.staff.factor import accept, offer, offered, render_offer
from dsar.staff.forms import CodeForm, PasswordChangeForm, RekeyForm

WRONG_PROOF = _l("Password or code incorrect. After too many failed attempts the account is "
                 "locked for a while.")


def _me():
    return current_user._get_current_object()


def _page(password_form=None, rekey_form=None, error=None, rekey_error=None):
    password_form = password_form or PasswordChangeForm()
    password_form.new_password.description = password_rules()
    status = 400 if (error or rekey_error or password_form.errors
                     or (rekey_form and rekey_form.errors)) else 200
    return render_template("staff/account.html", password_form=password_form,
                           rekey_form=rekey_form or RekeyForm(), error=error,
                           rekey_error=rekey_error), status


@bp.get("/account")
@login_required
def account():
    """The account page."""
    return _page()


def _proof_refused(user, step: str, proof_holds) -> bool:
    """Whether the signed-in user's own proof (password, code) fails here: on a locked account
    it is refused uncounted, a wrong one counts as a failed sign-in (the same lock-out as the
    sign-in page). The audit event is committed either way."""
    if lockout.is_locked(user.id):
        lockout.record_refusal(user.id, step)
    elif not proof_holds():
        lockout.register_failure(user.id, step)
    else:
        return False
    db.session.commit()
    return True


@bp.post("/account/password")
@login_required
@limiter.limit("10 per minute")
def change_password():
    """A new password, given the current one; the other sessions end."""
    user = _me()
    form = PasswordChangeForm()
    if not form.validate_on_submit():
        return _page(password_form=form)
    if _proof_refused(user, "password_change",
                      lambda: user.check_password(form.current_password.data)):
        return _page(password_form=form, error=WRONG_PROOF)
    problem = choose_password(user, form.new_password.data, action="staff.password_changed")
    if problem:
        form.new_password.errors.append(problem)
        return _page(password_form=form)
    keep_session(user)
    flash(_l("Your password is changed. Your other sessions are signed out."))
    return redirect(url_for("staff.account"))


@bp.post("/account/authenticator")
@login_required
@limiter.limit("10 per minute")
def start_rekey():
    """Change of authenticator, step one: the password and a code from the current one. The
    current factor stays in force until a code from the new one confirms it."""
    user = _me()
    if not user.totp_enabled:
        return redirect(url_for("staff.enrol"))
    form = RekeyForm()
    if not form.validate_on_submit():
        return _page(rekey_form=form)
    if _proof_refused(user, "authenticator_change",
                      lambda: user.check_password(form.rekey_password.data)
                      and totp.verify(user, form.rekey_code.data)):
        return _page(rekey_form=form, rekey_error=WRONG_PROOF)
    offer(user, replacing=user.totp_secret_encrypted)
    record_event("staff.totp_change_started", actor_type=ActorType.STAFF, actor_id=user.id)
    db.session.commit()  # with the code's step spent
    return redirect(url_for("staff.new_authenticator"))


@bp.get("/account/authenticator")
@login_required
def new_authenticator():
    """Step two: the new QR code (shown only after step one, in this session)."""
    user = _me()
    secret = offered(user, replacing=user.totp_secret_encrypted) if user.totp_enabled else None
    if secret is None:
        return redirect(url_for("staff.account"))
    return render_offer(user, secret, CodeForm(), None, title=_l("Change authenticator"),
                        action=url_for("staff.confirm_authenticator"))


@bp.post("/account/authenticator/confirm")
@login_required
@limiter.limit("10 per minute")
def confirm_authenticator():
    """Step three: a code from the new authenticator makes it the factor; the old one stops
    working and the other sessions end."""
    user = _me()
    replacing = user.totp_secret_encrypted
    secret = offered(user, replacing=replacing) if user.totp_enabled else None
    if secret is None:
        return redirect(url_for("staff.account"))
    form = CodeForm()
    error = None
    if form.validate_on_submit():
        if accept(user, secret, form.code.data, replacing=replacing):
            record_event("staff.totp_rekeyed", actor_type=ActorType.STAFF, actor_id=user.id)
            db.session.commit()
            keep_session(user)
            flash(_l("Your new authenticator is in use; the previous one no longer works. "
                     "Your other sessions are signed out."))
            return redirect(url_for("staff.account"))
        error = WRONG_CODE
    return render_offer(user, secret, form, error, title=_l("Change authenticator"),
                        action=url_for("staff.confirm_authenticator"))


@bp.post("/account/sign-out-everywhere")
@login_required
def sign_out_everywhere():
    """End every session of the account, this one included (a lost laptop, a shared
    computer)."""
    end_session("staff.signed_out_everywhere", everywhere=True)
    flash(_l("All your sessions are signed out."))
    return redirect(url_for("staff.login"))
