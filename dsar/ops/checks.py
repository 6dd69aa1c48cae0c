"""The checks ``/readyz`` and ``dsar doctor`` share: the database answers, Redis answers, the
storage keeps a blob, each queue has a worker seen within a minute, the scheduler is alive.

Each check runs in an application context and returns a :class:`CheckResult` in plain words.
A message never carries a password: whatever a library says is passed through
:func:`scrub`, which removes the configured passwords and the credentials of any URL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote, urlsplit

from flask import current_app
from redis import Redis
from redis.exceptions import AuthenticationError, RedisError
from sqlalchemy import text

OK, WARN, FAULT = "ok", "warn", "fault"

#: A queue is served when one of its workers beat within this long (workers beat every
#: WORKER_HEARTBEAT_SECONDS, 5 s by default).
WORKER_SEEN_SECONDS = 60
#: The scheduler beats once per loop, and its loop sleeps until the next periodic job is due,
#: 60 s at most: a minute and a half leaves it a late beat.
SCHEDULER_SEEN_SECONDS = 90

#: What stops when a queue has no worker, for the operator reading the fault.
QUEUE_DUTIES = {
    "mail": "e-mails are not sent",
    "gather": "searches in the sources do not run",
    "build": "answer packages are not built",
    "maintenance": "the periodic jobs (sweep of lost work, reminders, purges) do not run",
    "default": "jobs queued by older versions wait",
}


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome: ``status`` is ``ok``, ``warn`` (acceptable but worth knowing) or
    ``fault``; ``message`` says what was found, in plain words and without secrets.
    ``public`` says it in a few words for ``/readyz``, which anyone may read: no host name,
    path or library message there."""

    name: str
    status: str
    message: str
    public: str = ""

    @property
    def ok(self) -> bool:
        """Whether nothing is wrong (a warning is not a fault)."""
        return self.status != FAULT


# --------------------------------------------------------------------------- secrets out

_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)[^/@\s]*@")


def configured_secrets(config: Mapping) -> list[str]:
    """The passwords the configuration holds (in URLs or on their own), longest first."""
    found = []
    for key in ("DATABASE_URL", "REDIS_URL", "RATELIMIT_STORAGE_URI"):
        value = config.get(key)
        if isinstance(value, str) and "://" in value:
            password = urlsplit(value).password
            if password:
                found += [password, unquote(password)]
    for key in ("SMTP_PASSWORD", "SUPPRESSION_API_TOKEN", "METRICS_TOKEN", "SECRET_KEY"):
        value = config.get(key)
        if isinstance(value, str) and value:
            found.append(value)
    return sorted({s for s in found if s}, key=len, reverse=True)


def without_credentials(text: str) -> str:
    """``text`` with the user and password of every URL in it replaced by ``***``."""
    return _URL_CREDENTIALS.sub(r"\g<scheme>***@", text)


def scrub(message: str, config: Mapping | None = None) -> str:
    """``message`` (a library's words) without the credentials of any URL in it nor any
    configured password."""
    message = without_credentials(message)
    for secret in configured_secrets(config if config is not None else current_app.config):
        message = message.replace(secret, "***")
    return message


def reason(exc: BaseException) -> str:
    """An exception in a few words: its class and first line, secrets removed. A database
    error speaks through the driver's exception it wraps (its first line names the fault)."""
    inner = getattr(exc, "orig", None) or exc
    first = str(inner).strip().splitlines()[0] if str(inner).strip() else ""
    words = f"{type(inner).__name__}: {first}" if first else type(inner).__name__
    return scrub(words)[:300]


def redis_target(url: str) -> str:
    """Where a Redis URL points, without its credentials: ``host:port/db`` (a socket's
    path)."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    database = parts.path.lstrip("/") or "0"
    tls = " (TLS)" if parts.scheme == "rediss" else ""
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}/{database}{tls}"


# --------------------------------------------------------------------------- the checks


def check_database() -> CheckResult:
    """The database answers ``SELECT 1``."""
    from dsar.extensions import db

    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # any driver's error: said, not raised
        return CheckResult("database", FAULT, f"the database does not answer ({reason(exc)})",
                           "the database does not answer")
    return CheckResult("database", OK, f"{db.engine.url.get_backend_name()} answers")


def check_redis(connection: Redis | None = None) -> CheckResult:
    """Redis answers a PING (with the password of ``REDIS_URL``)."""
    from dsar.pipeline.queues import redis_connection

    target = redis_target(current_app.config["REDIS_URL"])
    try:
        (connection or redis_connection()).ping()
    except AuthenticationError:
        return CheckResult("redis", FAULT, f"Redis at {target} refused the password of "
                                           "REDIS_URL (or asks for one it does not give)",
                           "Redis refused the password")
    except RedisError as exc:
        return CheckResult("redis", FAULT, f"Redis at {target} does not answer ({reason(exc)})",
                           "Redis does not answer")
    return CheckResult("redis", OK, f"Redis at {target} answers")


def check_storage() -> CheckResult:
    """The storage keeps a small blob: written, read back and deleted."""
    from dsar.core import storage

    try:
        where = storage.backend().describe()
        storage.check_writable()
    except Exception as exc:  # BlobError in plain words; anything else said the same way
        return CheckResult("storage", FAULT, f"cannot keep a blob: {scrub(str(exc))}",
                           "the storage cannot keep a blob")
    return CheckResult("storage", OK, f"writable ({where})")


def _ago(then: datetime, now: datetime) -> str:
    return f"{max(0, int((now - then).total_seconds()))} s ago"


def check_workers(connection: Redis | None = None,
                  now: datetime | None = None) -> list[CheckResult]:
    """One result per queue: served when a worker listening to it beat within
    :data:`WORKER_SEEN_SECONDS` (RQ's ``last_heartbeat``, which dsar's heartbeat thread
    refreshes every ``WORKER_HEARTBEAT_SECONDS`` even while a long job runs). The ``default``
    queue, where nothing new is queued, needs no worker while it is empty."""
    from rq import Worker

    from dsar.pipeline.queues import QUEUES, SERIALIZER, queue_on, redis_connection

    connection = connection or redis_connection()
    now = now or datetime.now(UTC)
    results = []
    for name in QUEUES:
        check = f"worker:{name}"
        try:
            queue = queue_on(name, connection)
            beats = [w.last_heartbeat for w in Worker.all(queue=queue, serializer=SERIALIZER)
                     if w.last_heartbeat is not None]
            waiting = queue.count if name == "default" else 0
        except RedisError as exc:
            results.append(CheckResult(check, FAULT, f"cannot read the workers from Redis "
                                                     f"({reason(exc)})",
                                       "cannot read the workers: Redis does not answer"))
            continue
        fresh = [b for b in beats if now - b <= timedelta(seconds=WORKER_SEEN_SECONDS)]
        if fresh:
            workers = f"{len(fresh)} worker{'s' if len(fresh) > 1 else ''}"
            results.append(CheckResult(check, OK, f"{workers}, last seen {_ago(max(fresh), now)}"))
        elif name == "default" and not waiting:
            results.append(CheckResult(check, OK, "no worker, and nothing waits there (nothing "
                                                  "new is queued on default)"))
        else:
            last = f" (the last one seen {_ago(max(beats), now)})" if beats else ""
            results.append(CheckResult(
                check, FAULT, f"no worker seen within a minute{last}: {QUEUE_DUTIES[name]}; "
                              f"start `dsar worker --queues {name}` (or a group of queues "
                              "including it)", "no worker seen within a minute"))
    return results


def check_scheduler(connection: Redis | None = None,
                    now: datetime | None = None) -> CheckResult:
    """``dsar scheduler`` beat within :data:`SCHEDULER_SEEN_SECONDS`. RQ's CronScheduler
    records each beat as its score in a sorted set (``rq:cron_schedulers``), and removes
    itself when it stops cleanly."""
    from rq.cron_scheduler_registry import get_registry_key

    from dsar.pipeline.queues import redis_connection

    connection = connection or redis_connection()
    now = now or datetime.now(UTC)
    try:
        beats = [score for _, score in connection.zrange(get_registry_key(), 0, -1,
                                                         withscores=True)]
    except RedisError as exc:
        return CheckResult("scheduler", FAULT, f"cannot read the scheduler's heartbeat from "
                                               f"Redis ({reason(exc)})")
    last = datetime.fromtimestamp(max(beats), UTC) if beats else None
    if last is not None and now - last <= timedelta(seconds=SCHEDULER_SEEN_SECONDS):
        return CheckResult("scheduler", OK, f"alive, last seen {_ago(last, now)}")
    seen = f" (last seen {_ago(last, now)})" if last else ""
    return CheckResult("scheduler", FAULT,
                       f"no scheduler seen within {SCHEDULER_SEEN_SECONDS} s{seen}: the sweep "
                       "of lost work, reminders and purges are never queued; start one "
                       "`dsar scheduler` for the whole deployment")
