"""Demo-only page listing the e-mails the catcher received, with clickable links. Registered
only when ``DEMO_MAILBOX_DIR`` is set, which the demo command does and production never does."""

from __future__ import annotations

import re

from flask import Blueprint, current_app, render_template
from flask_babel import format_datetime
from markupsafe import Markup, escape

from dsar.demo.mailcatcher import read_messages

bp = Blueprint("demo_mailbox", __name__, url_prefix="/demo")

URL_PATTERN = re.compile(r"https?://[^\s<>\"]+")


def linkify(text: str) -> Markup:
    """Escape ``text`` and turn its URLs into links."""
    escaped = str(escape(text))
    # Safe: the text was escaped above; only our own <a> tags are added.
    return Markup(URL_PATTERN.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', escaped))  # noqa: S704


@bp.get("/mailbox")
def mailbox():
    """Newest message first."""
    messages = []
    for message in reversed(read_messages(current_app.config["DEMO_MAILBOX_DIR"])):
        body = message.get_body(preferencelist=("plain",))
        messages.append({
            "subject": message["Subject"], "to": message["To"],
            "date": format_datetime(message["Date"].datetime, "medium") if message["Date"] else "",
            "body_html": linkify(body.get_content() if body else ""),
        })
    return render_template("demo/mailbox.html", messages=messages)
