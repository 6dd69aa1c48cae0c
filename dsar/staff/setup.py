"""The e-mailed set-up link: a new staff member (or one an administrator sent a new link to)
chooses a password.

The link's token moves at once from the URL into the session (as the requesters' status links
do), so it does not stay in the address bar, the history or a Referer. The token works until
the password is chosen (``dsar.accounts.management``), then signing in goes on as usual: DPO
and admin accounts set up their second factor at their first sign-in."""

from __future__ import annotations

from flask import flash, redirect, render_template, session, url_for
from flask_babel import lazy_gettext as _l
from flask_login import logout_user

from dsar.accounts.management import account_for_setup, choose_password, password_rules
from dsar.extensions import limiter
from dsar.staff.blueprint import bp
from dsar.staff.forms import NewPasswordForm

SETUP = "staff_setup"  # the link's token, out of the URL


@bp.get("/setup/<token>")
def setup_link(token: str):
    """The link in the e-mail: keep the token in the session, show the page without it."""
    if account_for_setup(token) is None:
        return render_template("staff/setup_invalid.html"), 404
    session[SETUP] = token
    return redirect(url_for("staff.setup"))


@bp.route("/setup", methods=["GET", "POST"])
@limiter.limit("30 per minute", methods=["POST"])
def setup():
    """Choose a password (the policy of ``dsar.accounts.management.password_problem``)."""
    token = session.get(SETUP)
    user = account_for_setup(token) if token else None
    if user is None:
        session.pop(SETUP, None)
        return render_template("staff/setup_invalid.html"), 404
    form = NewPasswordForm()
    form.new_password.description = password_rules()
    if form.validate_on_submit():
        # Once chosen, the link is spent: the hash it was bound to changed.
        problem = choose_password(user, form.new_password.data, action="staff.password_set")
        if problem:
            form.new_password.errors.append(problem)
        else:
            # Whoever was signed in in this browser is not: the next step is signing in.
            logout_user()
            lang = session.get("lang")
            session.clear()
            if lang:
                session["lang"] = lang
            flash(_l("Your password is set. You can now sign in with it."))
            return redirect(url_for("staff.login"))
    status = 400 if form.errors else 200
    return render_template("staff/setup.html", form=form, user=user), status
