"""The empty request forms, rendered once per kind and language and kept by the process.

A request form shown empty is the same page for every visitor but for one thing, its CSRF
token. Rendering its dozen fields (WTForms widgets, labels, help texts, Jinja macros) was most
of what it cost to show it; here it is rendered once, with a placeholder where the token goes,
and each visitor gets the kept page with their own token put in its place.

Only the plain case is kept: a GET without a query string, no message waiting to be shown
(a flash), not in debug. A form shown again with its errors, or with anything the visitor
typed, is rendered as before. The key holds everything else the page reads: the kind, the
language, the path the site is served under and the settings the page prints.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from flask import current_app, request, session
from flask_wtf.csrf import generate_csrf

from dsar.i18n import current_language

#: Stands for the CSRF token in a kept page (random per process: nothing a page prints can
#: be mistaken for it).
TOKEN_PLACEHOLDER = f"csrf-{secrets.token_hex(16)}"

#: The settings an empty form page prints (the footer, the upload limits).
PRINTED_SETTINGS = ("ORGANISATION_NAME", "DPO_EMAIL", "MAX_UPLOAD_BYTES", "MAX_CONTENT_LENGTH")


def keepable() -> bool:
    """Whether this request may be answered with a kept page."""
    return (request.method == "GET" and not request.query_string
            and current_app.config.get("WTF_CSRF_ENABLED", True)
            and "_flashes" not in session and not current_app.debug
            and not current_app.config.get("TEMPLATES_AUTO_RELOAD"))


def empty_form_page(kind: str, render: Callable[[str], str]) -> str:
    """The empty form page of ``kind`` with this visitor's CSRF token; ``render(token)``
    renders it (with ``token`` as the form's token) when this process has not yet."""
    config = current_app.config
    key = (kind, current_language(), request.script_root,
           *(config.get(name) for name in PRINTED_SETTINGS))
    pages = current_app.extensions.setdefault("dsar.form_pages", {})
    page = pages.get(key)
    if page is None:
        page = pages[key] = render(TOKEN_PLACEHOLDER)
    return page.replace(TOKEN_PLACEHOLDER, generate_csrf())
