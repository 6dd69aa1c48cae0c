"""The checks ``/readyz`` and ``dsar doctor`` share: the database answers, Redis answers, the
storage keeps a blob, each queue has a worker seen within a minute, the scheduler is alive.

Each check runs in an application context and returns a :class:`CheckResult` in plain words,
within a few seconds whatever the network does: the database and Redis are probed on
connections of their own that give up after :data:`PROBE_TIMEOUT` seconds (the app's own may
wait far longer for a host that never answers, and are not retried here). A message never
carries a password: whatever a library says is passed through
:func:`scrub`, which removes the configured passwords and the credentials of any URL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote, urlsplit

from flask import current_app
from redis import ConnectionPool, Redis
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, RedisError
from redis.retry import Retry
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

OK, WARN, FAULT = "ok", "warn", "fault"

#: Seconds a probe of the database or Redis waits for an answer (to connect, then to each
#: reply) before calling it down: a host that accepts connections but never answers must not
#: hold a web worker for the minutes of a TCP timeout.
PROBE_TIMEOUT = 3
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


def reason(exc: BaseException, config: Mapping | None = None) -> str:
    """An exception in a few words: its class and first line, secrets removed (those of
    ``config``, by default the app's). A database error speaks through the driver's exception
    it wraps (its first line names the fault)."""
    inner = getattr(exc, "orig", None) or exc
    first = first_line(str(inner))
    words = f"{type(inner).__name__}: {first}" if first else type(inner).__name__
    return scrub(words, config)[:300]


def first_line(message: str) -> str:
    """The first line of ``message`` (a database's report runs over several)."""
    stripped = message.strip()
    return stripped.splitlines()[0] if stripped else ""


def redis_target(url: str) -> str:
    """Where a Redis URL points, without its credentials: ``host:port/db`` (a socket's
    path)."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    database = parts.path.lstrip("/") or "0"
    tls = " (TLS)" if parts.scheme == "rediss" else ""
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}/{database}{tls}"


# --------------------------------------------------------------------------- the probes

#: The libpq drivers, which take ``connect_timeout`` (whole seconds, 2 at least) and
#: ``tcp_user_timeout`` (ms: a host gone silent on an open connection).
_LIBPQ_DRIVERS = ("psycopg", "psycopg2")


def probe_engine() -> Engine:
    """The engine ``SELECT 1`` goes through. For PostgreSQL, one of the probe's own: a new
    connection each time (NullPool: never one left hanging from a host gone away), giving up
    after :data:`PROBE_TIMEOUT` seconds to connect or to answer. SQLite, a local file, goes
    through the app's engine."""
    from dsar.extensions import db

    url = db.engine.url
    if url.get_backend_name() != "postgresql" or url.get_driver_name() not in _LIBPQ_DRIVERS:
        return db.engine
    probes = current_app.extensions.setdefault("dsar_probe_engines", {})
    key = url.render_as_string(hide_password=False)
    if key not in probes:
        milliseconds = PROBE_TIMEOUT * 1000
        limits = {"connect_timeout": max(2, PROBE_TIMEOUT), "tcp_user_timeout": milliseconds}
        if "options" not in url.query:  # never override the deployment's own options
            limits["options"] = f"-c statement_timeout={milliseconds}"
        probes[key] = create_engine(url, poolclass=NullPool, hide_parameters=True,
                                    connect_args=limits)
    return probes[key]


def probe_redis() -> Redis:
    """A client of ``REDIS_URL`` (its password, its TLS) for the probes: it gives up after
    :data:`PROBE_TIMEOUT` seconds to connect or to answer, and does not retry (the app's
    client retries, which is right for a job, not for a health check polled every second)."""
    from dsar.pipeline.queues import redis_connection

    probes = current_app.extensions.setdefault("dsar_probe_redis", {})
    url = current_app.config["REDIS_URL"]
    if url not in probes:
        pool = redis_connection().connection_pool
        kwargs = {**pool.connection_kwargs, "socket_timeout": PROBE_TIMEOUT,
                  "socket_connect_timeout": PROBE_TIMEOUT, "retry": Retry(NoBackoff(), 0)}
        probes[url] = Redis(connection_pool=ConnectionPool(
            connection_class=pool.connection_class, max_connections=4, **kwargs))
    return probes[url]


# --------------------------------------------------------------------------- the checks


def check_database() -> CheckResult:
    """The database answers ``SELECT 1`` within :data:`PROBE_TIMEOUT` seconds."""
    from dsar.extensions import db

    try:
        with probe_engine().connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # any driver's error: said, not raised
        return CheckResult("database", FAULT, f"the database does not answer ({reason(exc)})",
                           "the database does not answer")
    return CheckResult("database", OK, f"{db.engine.url.get_backend_name()} answers")


def check_redis(connection: Redis | None = None) -> CheckResult:
    """Redis answers a PING (with the password of ``REDIS_URL``) within
    :data:`PROBE_TIMEOUT` seconds."""
    target = redis_target(current_app.config["REDIS_URL"])
    try:
        (connection or probe_redis()).ping()
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
    except storage.BlobError as exc:  # plain words, but maybe a database's report after them
        return CheckResult("storage", FAULT,
                           f"cannot keep a blob: {scrub(first_line(str(exc)))[:300]}",
                           "the storage cannot keep a blob")
    except Exception as exc:  # a bad STORAGE_URL, anything else: said in a line
        return CheckResult("storage", FAULT, f"cannot keep a blob ({reason(exc)})",
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

    from dsar.pipeline.queues import QUEUES, SERIALIZER, queue_on

    connection = connection or probe_redis()
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

    connection = connection or probe_redis()
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
