"""What ``dsar doctor`` checks besides readiness: how the deployment is configured (https and
secure cookies, PostgreSQL, the migrations, a Redis that demands a password, SMTP over
verified TLS, the master key's mode and place, the sources) and whether the scheduler runs.

Every check returns a :class:`~dsar.ops.checks.CheckResult` saying, in plain words, what is
wrong and how to put it right; docs/monitoring.md lists them.
"""

from __future__ import annotations

import ipaddress
import os
import smtplib
import ssl
import stat
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, current_app
from redis import ConnectionPool, Redis
from redis.exceptions import AuthenticationError, RedisError, ResponseError

from dsar.ops.checks import (
    FAULT,
    OK,
    WARN,
    CheckResult,
    check_database,
    check_redis,
    check_scheduler,
    check_storage,
    check_workers,
    probe_engine,
    probe_redis,
    reason,
    redis_target,
    without_credentials,
)
from dsar.pipeline.queues import QUEUES


def check_base_url(config: Mapping) -> CheckResult:
    """``BASE_URL`` is https: the links e-mailed to requesters carry their tokens."""
    parts = urlsplit(str(config["BASE_URL"]))
    shown = without_credentials(str(config["BASE_URL"]))
    if parts.scheme == "https" and parts.hostname:
        return CheckResult("base URL", OK, f"{shown} is https")
    return CheckResult("base URL", FAULT,
                       f"BASE_URL {shown} is not https: the links e-mailed to "
                       "requesters (confirmation, status, download) and the staff's sign-in "
                       "would cross the network in clear; set BASE_URL=https://your.host")


def check_cookies(config: Mapping) -> CheckResult:
    """The session cookie is sent over https only (``SESSION_COOKIE_SECURE``)."""
    if config.get("SESSION_COOKIE_SECURE"):
        return CheckResult("cookies", OK, "session cookies are Secure (sent over https only)")
    return CheckResult("cookies", FAULT,
                       "session cookies are not Secure: a staff session could be read on a "
                       "plain http request; use an https BASE_URL (SESSION_COOKIE_SECURE then "
                       "follows) and do not set SESSION_COOKIE_SECURE=false")


def check_database_kind(reachable: CheckResult | None = None) -> CheckResult:
    """The database answers (``reachable``, :func:`~dsar.ops.checks.check_database`'s
    result, if already known), and is PostgreSQL."""
    from dsar.extensions import db

    reachable = reachable or check_database()
    if not reachable.ok:
        return reachable
    backend = db.engine.url.get_backend_name()
    if backend == "postgresql":  # the probe's engine connected: its dialect knows the server
        version = ".".join(str(n) for n in (probe_engine().dialect.server_version_info or ())[:2])
        return CheckResult("database", OK, f"PostgreSQL {version} answers".replace("  ", " "))
    if backend == "sqlite":
        return CheckResult("database", FAULT,
                           "SQLite answers, but it is the demo's database: one writer at a "
                           "time, on one machine; use PostgreSQL "
                           "(DATABASE_URL=postgresql+psycopg://user:password@host/dsar)")
    return CheckResult("database", WARN, f"{backend} answers; dsar is tested on PostgreSQL "
                                         "and SQLite only")


def check_migrations() -> CheckResult:
    """The database schema is at the latest migration this version of dsar ships."""
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from dsar.paths import MIGRATIONS_DIR

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    script = ScriptDirectory.from_config(config)
    expected = set(script.get_heads())
    try:
        with probe_engine().connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
    except Exception as exc:  # the database's fault is said by its own line
        return CheckResult("migrations", FAULT, f"cannot read the schema's revision "
                                                f"({reason(exc)})")
    shown = ", ".join(sorted(current)) or "none"
    latest = ", ".join(sorted(expected))
    if current == expected:
        return CheckResult("migrations", OK, f"schema at {latest}, the latest")
    if not current:
        return CheckResult("migrations", FAULT,
                           "the database has no dsar schema: run `dsar init`")
    unknown = [rev for rev in current if _revision(script, rev) is None]
    if unknown:
        return CheckResult("migrations", FAULT,
                           f"schema at {shown}, a revision this version of dsar does not know "
                           f"(it expects {latest}): a newer dsar migrated this database; run "
                           "that version")
    return CheckResult("migrations", FAULT,
                       f"schema at {shown}, behind this version's {latest}: back the database "
                       "up, then run `dsar db upgrade`")


def _revision(script, rev: str):
    try:
        return script.get_revision(rev)
    except Exception:  # alembic's "no such revision" errors vary by version
        return None


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` names this machine over loopback (``localhost``, 127.0.0.0/8,
    ``::1``): traffic to it never leaves the machine. Names are not resolved: a name that
    happens to resolve to 127.0.0.1 today is not taken on trust."""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_redis_password() -> CheckResult:
    """Redis refuses a client without the password: whoever can write to Redis chooses
    what the workers run. Tried for real, with the transport of ``REDIS_URL`` but no
    credentials (a password in the URL alone proves nothing: redis-py connects to a server
    without one all the same). A Redis reached over a unix socket or loopback without a
    password is a warning, not a fault: only this machine's accounts reach it (if it
    listens there only, which the message asks to check)."""
    url = current_app.config["REDIS_URL"]
    target = redis_target(url)
    pool = probe_redis().connection_pool
    kwargs = {k: v for k, v in pool.connection_kwargs.items()
              if k not in ("password", "username", "credential_provider")}
    anonymous_pool = ConnectionPool(connection_class=pool.connection_class, **kwargs)
    try:
        Redis(connection_pool=anonymous_pool).ping()
    except AuthenticationError:
        return CheckResult("redis password", OK, "Redis refuses clients without the password")
    except ResponseError as exc:
        if "NOAUTH" in str(exc):
            return CheckResult("redis password", OK,
                               "Redis refuses clients without the password")
        return CheckResult("redis password", FAULT, f"unexpected answer ({reason(exc)})")
    except RedisError as exc:
        return CheckResult("redis password", FAULT,
                           f"cannot tell: Redis does not answer ({reason(exc)})")
    finally:
        anonymous_pool.disconnect()
    parts = urlsplit(url)
    if parts.scheme == "unix" or is_loopback(parts.hostname or "localhost"):
        how = "a unix socket" if parts.scheme == "unix" else "loopback"
        return CheckResult("redis password", WARN,
                           f"Redis at {target} answers without a password; reached over "
                           f"{how}, which does not cross the network, so only accounts on "
                           "this machine can queue jobs for the workers: check that redis.conf "
                           "binds 127.0.0.1 / ::1 only (or the socket's unixsocketperm lets "
                           "only dsar's account in) and that no untrusted account runs here; "
                           "a `requirepass` password closes it for good")
    return CheckResult("redis password", FAULT,
                       f"Redis at {target} answers without a password: anyone who reaches it "
                       "can queue jobs for the workers and read what they carry; set "
                       "`requirepass` in redis.conf and put the password in REDIS_URL "
                       "(redis://:password@host:6379/0)")


def check_smtp(config: Mapping) -> CheckResult:
    """The SMTP server is reached over TLS, its certificate and host name verified (and the
    login, if configured, accepted). Connects for real; nothing is sent."""
    from dsar.mail.smtp_tls import SmtpConfigError

    where = f"{config['SMTP_HOST']}:{config['SMTP_PORT']}"
    plain = not (config.get("SMTP_STARTTLS") or config.get("SMTP_SSL"))
    if plain and is_loopback(str(config["SMTP_HOST"])):
        return _check_local_relay(config, where)
    if plain:
        return CheckResult("smtp", FAULT,
                           f"SMTP to {where} without TLS: e-mails carrying requesters' links "
                           "cross the network in clear; set SMTP_STARTTLS=true (port 587) or "
                           "SMTP_SSL=true (port 465)")
    how = "implicit TLS" if config.get("SMTP_SSL") else "STARTTLS"
    try:
        _greet_and_log_in(config)
    except SmtpConfigError as exc:
        return CheckResult("smtp", FAULT, str(exc))
    except ssl.SSLCertVerificationError as exc:
        return CheckResult("smtp", FAULT,
                           f"the certificate of {where} was refused ({exc.verify_message}): "
                           "use the server's own name as SMTP_HOST, or trust a private CA "
                           "with SMTP_CA_FILE")
    except smtplib.SMTPNotSupportedError:
        return CheckResult("smtp", FAULT, f"{where} does not offer STARTTLS: use its TLS "
                                          "port (SMTP_SSL, 465) or another server")
    except smtplib.SMTPAuthenticationError:
        return _login_refused(where)
    except (OSError, smtplib.SMTPException) as exc:
        return CheckResult("smtp", FAULT, f"cannot talk {how} with {where} "
                                          f"({reason(exc, config)})")
    login = ", login accepted" if config.get("SMTP_USERNAME") else ""
    return CheckResult("smtp", OK, f"{how} to {where}, certificate verified{login}")


def _login_refused(where: str) -> CheckResult:
    return CheckResult("smtp", FAULT, f"{where} refused the login of SMTP_USERNAME "
                                      "(check SMTP_USERNAME and SMTP_PASSWORD)")


def _greet_and_log_in(config: Mapping) -> None:
    """Connect as the mail job does (TLS as configured, certificate checked), say EHLO and log
    in if a user is set; no message is sent."""
    from dsar.mail.smtp_tls import open_smtp

    smtp = open_smtp(config)
    try:
        smtp.ehlo()
        if config.get("SMTP_USERNAME"):
            smtp.login(config["SMTP_USERNAME"], config.get("SMTP_PASSWORD") or "")
    finally:
        _quit(smtp)


def _check_local_relay(config: Mapping, where: str) -> CheckResult:
    """SMTP without TLS to this machine (a local relay, postfix say, forwarding the mail):
    reached for real; a warning, since the relay's way onward is not visible from here."""
    try:
        _greet_and_log_in(config)
    except smtplib.SMTPAuthenticationError:
        return _login_refused(where)
    except (OSError, smtplib.SMTPException) as exc:
        return CheckResult("smtp", FAULT, f"cannot talk with the relay at {where} "
                                          f"({reason(exc, config)})")
    return CheckResult("smtp", WARN,
                       f"SMTP to {where} without TLS: a relay on this machine answers "
                       "(loopback traffic does not cross the network); check that it sends "
                       "the e-mails onward over verified TLS (postfix: "
                       "smtp_tls_security_level = verify), as they carry requesters' links")


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()


def check_master_key(config: Mapping) -> CheckResult:
    """The master key file is readable by its owner only (mode 0600 or 0400) and lies
    outside the storage folder (a copy of the blobs must not carry the key that opens
    them)."""
    from dsar.core import storage

    path = Path(config["MASTER_KEY_FILE"])
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return CheckResult("master key", FAULT, f"no master key at {path}: run `dsar init` "
                                                "on a new instance, or restore the key")
    except OSError as exc:
        return CheckResult("master key", FAULT, f"cannot read {path} ({reason(exc)})")
    problems = []
    if mode & 0o077:
        problems.append(f"its mode is {mode:04o}, other accounts on this machine can read "
                        f"it: `chmod 600 {path}`")
    if not os.access(path, os.R_OK):
        problems.append("this account cannot read it")
    try:
        backend = storage.backend()
    except Exception:  # a bad STORAGE_URL: the storage line says so
        backend = None
    root = getattr(backend, "root", None)
    if root is not None and path.resolve().is_relative_to(Path(root).resolve()):
        problems.append(f"it lies inside the storage folder {root}: whoever copies the "
                        "storage (a backup, a synchronisation) carries the key that opens it; "
                        "move it out and set MASTER_KEY_FILE")
    if problems:
        return CheckResult("master key", FAULT, f"{path}: " + "; ".join(problems))
    return CheckResult("master key", OK, f"{path}, mode {mode:04o}, outside the storage")


def check_sources() -> CheckResult:
    """The sources and the register were read and agree (the app refuses to start
    otherwise: ``dsar doctor`` then never runs, and the command says which file is wrong);
    says how many there are."""
    from dsar.sources.catalog import get_catalog

    catalog = get_catalog()
    register = catalog.register
    processing = len(register.processing)
    entries = f"{processing} processing entr{'ies' if processing != 1 else 'y'}"
    if not catalog.sources:
        return CheckResult("sources", WARN, f"no source declared ({entries}): nothing is "
                                            "searched; declare them in sources.toml "
                                            "(docs/sources.md)")
    names = ", ".join(sorted(catalog.sources))
    count = len(catalog.sources)
    return CheckResult("sources", OK, f"{count} source{'s' * (count > 1)} ({names}) and "
                                      f"{entries}, both files valid")


def diagnose(app: Flask) -> list[CheckResult]:
    """Every check of ``dsar doctor``, in the order an operator fixes them."""
    with app.app_context():
        config = app.config
        reachable = check_database()
        results = [check_base_url(config), check_cookies(config),
                   check_database_kind(reachable)]
        if reachable.ok:
            results.append(check_migrations())
        else:  # reading the schema would only wait on the database again
            results.append(CheckResult("migrations", FAULT,
                                       "unknown: the database does not answer"))
        redis = check_redis()
        results += [redis, check_redis_password()]
        results += [check_smtp(config), check_master_key(config), check_storage()]
        if redis.ok:
            results += [*check_workers(), check_scheduler()]
        else:
            results += [CheckResult(name, FAULT, "unknown: Redis does not answer")
                        for name in (*(f"worker:{q}" for q in QUEUES), "scheduler")]
        results.append(check_sources())
        return results
