"""HTTP security headers on every response, no caching of anything private, and no link
secret in the servers' logs (``dsar.web.access_log``)."""

from __future__ import annotations

from flask import Flask, request

from dsar.web import access_log

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)

#: Pages that show a requester's case or a secret link, and every back-office page (case
#: files, documents, the audit trail), must not stay in any cache, shared or the browser's.
PRIVATE_PREFIXES = ("/status/", "/confirm/", "/request/sent", "/demo/", "/staff/")


def init_app(app: Flask) -> None:
    """Register the header hook and the log filter that hides link tokens."""
    access_log.init_app(app)

    @app.after_request
    def set_security_headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if (request.path.startswith(PRIVATE_PREFIXES) or request.path == "/staff"
                or response.status_code >= 400):
            headers["Cache-Control"] = "no-store"
        if app.config.get("SESSION_COOKIE_SECURE"):
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response
