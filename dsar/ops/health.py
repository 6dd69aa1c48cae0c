"""``/healthz`` (the process is up) and ``/readyz`` (it can do its work: the database, Redis
and the storage answer, and every queue has a worker seen within a minute).

Both are for load balancers, orchestrators and monitoring, polled every few seconds, so
``/readyz`` is cheap and quick: its result is kept :data:`CACHE_SECONDS` per process (one probe
at a time, however many requests ask; the others wait at most :data:`WAIT_SECONDS`, then get
the last result, or ``503 {"status": "checking"}`` before the first), each probe gives up after
:data:`~dsar.ops.checks.PROBE_TIMEOUT` seconds, and the storage probe, which writes, reads
back and deletes a small blob, runs at most every :data:`STORAGE_PROBE_SECONDS` while it
succeeds. Neither endpoint says anything about a person; ``/readyz`` names what is wrong in a
few words, the details being ``dsar doctor``'s. No rate limit applies to them (a monitor
polling every second must not be locked out) and ``/healthz`` touches neither the database
nor Redis.
"""

from __future__ import annotations

import threading
import time

from flask import Blueprint, Flask, Response, current_app, jsonify

from dsar.ops.checks import (
    FAULT,
    CheckResult,
    check_database,
    check_redis,
    check_storage,
    check_workers,
)
from dsar.pipeline.queues import QUEUES

#: How long one process reuses its last readiness result.
CACHE_SECONDS = 2.0
#: How long a request waits for another one's probe before answering with the last result.
WAIT_SECONDS = 1.0
#: The body before any probe finished, while one runs.
CHECKING = {"status": "checking", "checks": {}}
#: How long a successful storage probe is trusted (a failed one is tried again each time).
STORAGE_PROBE_SECONDS = 30.0

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """The process is up and answers: ``200 ok``, with no dependency consulted (a database
    outage must not get every web server restarted)."""
    return _no_store(Response("ok\n", mimetype="text/plain"))


@bp.get("/readyz")
def readyz() -> Response:
    """``200 {"status": "ready", ...}`` when the database, Redis, the storage and a worker
    per queue answer; ``503 {"status": "not ready", ...}`` naming each check that failed
    (``503 {"status": "checking", "checks": {}}`` while the process's first probe runs)."""
    body = _readiness().current()
    response = jsonify(body)
    response.status_code = 200 if body["status"] == "ready" else 503
    return _no_store(response)


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


class Readiness:
    """One process's readiness, recomputed at most every :data:`CACHE_SECONDS`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._body: dict | None = None
        self._at = float("-inf")
        self._storage: CheckResult | None = None
        self._storage_at = float("-inf")

    def current(self) -> dict:
        """The body of ``/readyz``: recomputed if older than :data:`CACHE_SECONDS`. Requests
        arriving while it is computed wait for it :data:`WAIT_SECONDS` at most rather than
        probing again, then take the last result: a database that never answers must not
        pile every web worker up behind one probe."""
        if not self._lock.acquire(timeout=WAIT_SECONDS):
            return self._body or CHECKING
        try:
            if self._body is None or time.monotonic() - self._at >= CACHE_SECONDS:
                self._body = self._compute()
                self._at = time.monotonic()
            return self._body
        finally:
            self._lock.release()

    def _compute(self) -> dict:
        database = check_database()
        redis = check_redis()
        results = [database, redis]
        if database.ok or not _storage_in_database():
            results.append(self._storage_result())
        else:  # the probe would wait on the database again, with the app's patience
            results.append(CheckResult("storage", FAULT, "",
                                       "unknown: the database does not answer"))
        if redis.ok:
            results += check_workers()
        else:  # one failed connection is enough to know; five more would only be slower
            results += [CheckResult(f"worker:{q}", FAULT, "", "unknown: Redis does not answer")
                        for q in QUEUES]
        ready = all(result.ok for result in results)
        return {"status": "ready" if ready else "not ready",
                "checks": {r.name: "ok" if r.ok else f"fault: {r.public or r.message}"
                           for r in results}}

    def _storage_result(self) -> CheckResult:
        fresh = time.monotonic() - self._storage_at < STORAGE_PROBE_SECONDS
        if self._storage is None or not self._storage.ok or not fresh:
            self._storage = check_storage()
            self._storage_at = time.monotonic()
        return self._storage


def _storage_in_database() -> bool:
    """Whether the blobs are kept in the database (``STORAGE_URL=database:``)."""
    from dsar.core import storage

    try:
        return storage.backend().kind == "database"
    except Exception:  # a bad STORAGE_URL: the storage probe says so
        return False


def _readiness() -> Readiness:
    return current_app.extensions["dsar_readiness"]


def init_app(app: Flask) -> None:
    """Register ``/healthz`` and ``/readyz``, exempt from the rate limits."""
    from dsar.extensions import limiter

    app.extensions["dsar_readiness"] = Readiness()
    app.register_blueprint(bp)
    limiter.exempt(bp)
