"""Error pages in the visitor's language: a clear message, never a stack trace."""

from __future__ import annotations

import logging
import traceback

from flask import Flask, render_template
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

logger = logging.getLogger(__name__)

MESSAGES = {
    400: (_l("This request could not be understood"),
          _l("Something in what was sent is not valid. Please go back and try again.")),
    403: (_l("Access refused"), _l("You are not allowed to do this.")),
    404: (_l("Page not found"),
          _l("This page does not exist, or the link you followed is incomplete or no longer "
             "valid. Please use the latest link we sent you by e-mail.")),
    405: (_l("Not allowed"), _l("This action cannot be done this way.")),
    413: (_l("The file is too large"),
          _l("What you sent is larger than we accept (10 MB per document). Please go back, "
             "choose a smaller file (a scan in lower resolution, or a PDF) and send again.")),
    429: (_l("Too many attempts"),
          _l("You have sent too many requests in a short time. Please wait a little and try "
             "again.")),
    500: (_l("Something went wrong on our side"),
          _l("Nothing you entered is wrong. Please try again in a few minutes; if the problem "
             "persists, write to our data protection officer.")),
}

CSRF_MESSAGE = (
    _l("Your form has expired"),
    _l("For your security, forms are valid for a limited time and only in the window where "
       "they were opened. Please go back, reload the page and send it again."),
)


def render_error(code: int, title=None, message=None):
    """Render the error page for HTTP ``code``."""
    default_title, default_message = MESSAGES.get(code, MESSAGES[500])
    return (
        render_template("errors/error.html", error_page=True, code=code,
                        title=title or default_title, message=message or default_message),
        code,
    )


def init_app(app: Flask) -> None:
    """Register the handlers."""

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return render_error(400, *CSRF_MESSAGE)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if error.code and error.code < 400:
            return error
        return render_error(error.code or 500)

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        if isinstance(error, HTTPException):
            return http_error(error)
        # Type and frames only: an exception's message can carry personal data (PostgreSQL's
        # DETAIL repeats a duplicate e-mail address, for instance).
        logger.error("unhandled %s\n%s", type(error).__name__,
                     "".join(traceback.format_tb(error.__traceback__)))
        from dsar.extensions import db

        db.session.rollback()  # a half-done transaction must not leak into the error page
        try:
            return render_error(500)
        except Exception:
            return InternalServerError().get_response()
