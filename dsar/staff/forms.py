"""Staff forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

required = DataRequired(message=_l("This field is required."))


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mail address"), validators=[required, Length(max=254)])
    password = PasswordField(_l("Password"), validators=[required, Length(max=200)])


class CodeForm(FlaskForm):
    code = StringField(_l("6-digit code from your authenticator app"),
                       validators=[required, Length(max=12)])
