"""Running dsar in production: the web server (``dsar serve``), health and readiness
(``/healthz``, ``/readyz``), Prometheus metrics, ``dsar doctor``, ``dsar backup`` and
``dsar restore``. docs/deploy.md walks a server through them."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the health endpoints and the metrics endpoint on ``app``."""
    from dsar.ops import health, metrics

    health.init_app(app)
    metrics.init_app(app)
