"""``GET /metrics``: Prometheus metrics for the IT team (docs/metrics.md).

- Only with ``METRICS_TOKEN`` set: without it the path does not exist (404, the page any
  unknown address gets). A scrape carries ``Authorization: Bearer <METRICS_TOKEN>``, compared
  in constant time; a missing or wrong token answers 401.
- Not rate limited (Prometheus scrapes every few seconds from one address) and no CSRF token:
  a GET that changes nothing, asked by a program holding a bearer token, not a browser.
- The values are computed at each scrape from the database and Redis
  (:mod:`dsar.ops.metrics_collect`), in a registry of the app's own: never the library's
  global one, whose per-process counters would differ between gunicorn's processes.
"""

from __future__ import annotations

import hmac

from flask import Blueprint, Flask, Response, abort, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from dsar.extensions import csrf, limiter
from dsar.ops.metrics_collect import DsarCollector

bp = Blueprint("metrics", __name__)

#: Where the app keeps its registry (``app.extensions``).
EXTENSION = "dsar_metrics"


def init_app(app: Flask) -> None:
    """Register ``/metrics`` and the app's registry, holding the one collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DsarCollector())
    app.extensions[EXTENSION] = registry
    app.register_blueprint(bp)


def _token_matches(expected: str) -> bool:
    """Whether the request carries ``Authorization: Bearer <expected>`` (constant time)."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), expected.encode())


@bp.get("/metrics")
@limiter.exempt
@csrf.exempt
def metrics():
    """The metrics in Prometheus' text format, to a scraper holding the token."""
    expected = current_app.config.get("METRICS_TOKEN")
    if not expected or not isinstance(expected, str):
        abort(404)
    if not _token_matches(expected):
        return Response("unauthorized\n", 401, mimetype="text/plain",
                        headers={"WWW-Authenticate": 'Bearer realm="dsar-metrics"',
                                 "Cache-Control": "no-store"})
    body = generate_latest(current_app.extensions[EXTENSION])
    return Response(body, 200, headers={"Content-Type": CONTENT_TYPE_LATEST,
                                        "Cache-Control": "no-store"})
