"""Setting up the second factor: a first enrolment (after the password, or by a signed-in
person who wants one), and the QR page shared with the change of authenticator (account.py).

A new secret waits in the person's session, sealed, until a code from it proves their app has
it: showing the page writes nothing to the database, and a factor in force stays in force
until then. An account with a confirmed factor never reaches the enrolment: changing it takes
the password and a current code, from the account page."""

from __future__ import annotations

import time

from flask import current_app, flash, redirect, render_template, session, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from dsar.core import totp
from dsar.core.audit import record_event
from dsar.extensions import db, limiter
from dsar.models import ActorType, StaffUser
from dsar.staff.auth import PENDING, WRONG_CODE, complete_login, keep_session, pending_user
from dsar.staff.blueprint import bp
from dsar.staff.forms import CodeForm

OFFER = "staff_new_factor"  # the secret being set up, sealed, with whose it is and for what
OFFER_SECONDS = 600


def offer(user: StaffUser, *, replacing: str | None) -> str:
    """A new secret for ``user``, kept sealed in the session. ``replacing``: the sealed factor
    it is to replace (None for a first enrolment)."""
    secret = totp.new_secret()
    session[OFFER] = {"user": user.id, "sealed": totp.seal(secret, user.id),
                      "replacing": replacing, "at": time.time()}
    return secret


def offered(user: StaffUser, *, replacing: str | None) -> str | None:
    """The secret offered to ``user`` in this session for this purpose, if still fresh."""
    held = session.get(OFFER)
    if (not held or held.get("user") != user.id or held.get("replacing") != replacing
            or time.time() - held.get("at", 0) > OFFER_SECONDS):
        return None
    return totp.unseal(held["sealed"], user.id)


def accept(user: StaffUser, secret: str, code: str, *, replacing: str | None) -> bool:
    """Install the offered ``secret`` if ``code`` comes from it (the caller audits, commits and
    keeps its session: every other session of the account ends)."""
    step = totp.matching_step(secret, code)
    if step is None or not totp.install(user, secret, step, replacing=replacing):
        return False
    session.pop(OFFER, None)
    return True


def render_offer(user: StaffUser, secret: str, form: CodeForm, error, *, action: str,
                 title):
    """The QR code page (``staff/enrol.html``) posting its code to ``action``."""
    uri = totp.provisioning_uri(user, secret, current_app.config["ORGANISATION_NAME"])
    status = 400 if (error or form.errors) else 200
    return render_template("staff/enrol.html", form=form, error=error, secret=secret,
                           qr=totp.qr_data_uri(uri), action=action, title=title), status


@bp.route("/enrol", methods=["GET", "POST"])
@limiter.limit("30 per minute", methods=["POST"])
def enrol():
    """First enrolment: scan the QR code, type a code to prove it works. Reached after the
    password (mandatory for DPO and admin) or from the account page (anyone without one)."""
    if current_user.is_authenticated:
        user = current_user._get_current_object()
        if user.totp_enabled:
            return redirect(url_for("staff.account"))
    else:
        user = pending_user()
        if user is None:
            return redirect(url_for("staff.login"))
        if user.totp_enabled:
            # Past the password only: the factor in force is the way in, not a new one.
            return redirect(url_for("staff.login_code"))
    secret = offered(user, replacing=None) or offer(user, replacing=None)
    form = CodeForm()
    error = None
    if form.validate_on_submit():
        if accept(user, secret, form.code.data, replacing=None):
            record_event("staff.totp_enrolled", actor_type=ActorType.STAFF, actor_id=user.id)
            db.session.commit()
            if current_user.is_authenticated:
                keep_session(user)
                flash(_l("Two-step sign-in is now on for your account."))
                return redirect(url_for("staff.account"))
            session.pop(PENDING, None)
            response = complete_login(user)
            if response is not None:
                return response
        error = WRONG_CODE
    return render_offer(user, secret, form, error, action=url_for("staff.enrol"),
                        title=_l("Set up two-step sign-in"))
