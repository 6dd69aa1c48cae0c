"""Staff forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

required = DataRequired(message=_l("This field is required."))


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mail address"), validators=[required, Length(max=254)])
    password = PasswordField(_l("Password"), validators=[required, Length(max=200)])


class CodeForm(FlaskForm):
    code = StringField(_l("6-digit code from your authenticator app"),
                       validators=[required, Length(max=12)])


class NewPasswordForm(FlaskForm):
    """Choosing a password (from the set-up link); the policy is ``accounts.password_problem``."""

    new_password = PasswordField(_l("New password"), validators=[required, Length(max=200)])
    new_password_again = PasswordField(_l("New password, again"), validators=[
        required, EqualTo("new_password", message=_l("The two passwords differ."))])


class PasswordChangeForm(NewPasswordForm):
    """Changing one's password: the current one first."""

    current_password = PasswordField(_l("Current password"),
                                     validators=[required, Length(max=200)])


class RekeyForm(FlaskForm):
    """Changing one's authenticator: the password and a code from the current one."""

    rekey_password = PasswordField(_l("Password"), validators=[required, Length(max=200)])
    rekey_code = StringField(_l("6-digit code from your current authenticator app"),
                             validators=[required, Length(max=12)])
