"""Configuration layers: defaults, then ``instance/config.py``, then ``DSAR_*`` environment
variables, then the test config. Nothing here runs at import time but constants."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

from flask import Flask

from dsar.core.blob_backends import check_storage_url, storage_dir_of
from dsar.core.keys import MissingKeyError, derived_key

#: Settings every deployment gets unless a later layer overrides them.
DEFAULTS: dict[str, object] = {
    # None means "the SQLite file in instance/" (filled in by ``load_config``).
    "DATABASE_URL": None,
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    # A CA bundle to trust for a rediss:// REDIS_URL (a private CA); the certificate and host
    # name are always checked. A password goes in the URL: redis://:password@host:6379/0.
    "REDIS_CA_FILE": None,
    # The master key file; sub-keys (Flask secret, storage, audit chain, tokens) derive from it.
    "MASTER_KEY_FILE": None,
    "STORAGE_DIR": None,
    # Where the encrypted blobs live: None or "file:///path" for a local folder (STORAGE_DIR),
    # "database:" for the application's own database, which every web server and worker of a
    # deployment on several machines reaches without a shared disk (docs/storage.md).
    "STORAGE_URL": None,
    # Where the requester-facing links point (used in e-mails sent by workers).
    "BASE_URL": "http://127.0.0.1:5000",
    "ORGANISATION_NAME": "Organisation",
    "DPO_EMAIL": "dpo@example.org",
    "MAIL_FROM": "dsar@example.org",
    "SMTP_HOST": "127.0.0.1",
    "SMTP_PORT": 8025,
    "SMTP_USERNAME": None,
    "SMTP_PASSWORD": None,
    # TLS to the SMTP server, always with the certificate and host name checked: STARTTLS on
    # the plain port (587), or implicit TLS from the first byte (SMTP_SSL, port 465).
    "SMTP_STARTTLS": False,
    "SMTP_SSL": False,
    # A CA bundle to trust for the SMTP server besides the system's (a private CA).
    "SMTP_CA_FILE": None,
    "SMTP_TIMEOUT": 10,
    # Which public-holiday calendar the legal clock uses ("FR" or "FR-ALSACE-MOSELLE").
    "LEGAL_CALENDAR": "FR",
    "CONFIRMATION_DAYS": 7,
    "MAX_UPLOAD_BYTES": 10 * 1024 * 1024,
    # Requests larger than this are cut off before parsing (a friendly 413 page); files between
    # MAX_UPLOAD_BYTES and this get a message at the field with the rest of the form kept.
    # The rights of a deceased person take up to four documents (three proofs and a general
    # one) of MAX_UPLOAD_BYTES each, with the form around them.
    "MAX_CONTENT_LENGTH": 45 * 1024 * 1024,
    "RATELIMIT_INTAKE_PER_ADDRESS": "20 per hour",
    # Above this many requests from one e-mail address in 24 hours, a request is still filed
    # but flagged "possibly excessive" for the DPO (never refused: Art. 12(5) is their call).
    "RATELIMIT_INTAKE_PER_EMAIL_PER_DAY": 5,
    # Per client address, on the download pages (the per-case code limits are separate).
    "RATELIMIT_DOWNLOAD_CODE_PER_ADDRESS": "10 per hour",
    "RATELIMIT_DOWNLOAD_PER_ADDRESS": "30 per hour",
    # How many reverse proxies in front of the app set X-Forwarded-For (0: none). Without
    # it behind a proxy, every visitor shares the proxy's address and its rate limits.
    "PROXY_FIX_X_FOR": 0,
    "LANGUAGES": ["fr", "en"],
    "BABEL_DEFAULT_LOCALE": "fr",
    "BABEL_DEFAULT_TIMEZONE": "Europe/Paris",
    # Demo only: the directory the demo's SMTP catcher writes to; enables /demo/mailbox.
    "DEMO_MAILBOX_DIR": None,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    # None: Secure cookies whenever BASE_URL is https (always in production; the local demo
    # runs on http://127.0.0.1, where a Secure cookie would never be sent back).
    "SESSION_COOKIE_SECURE": None,
    "WTF_CSRF_TIME_LIMIT": 3600 * 4,
    # Database errors must not carry the bound values (names, e-mail addresses) into messages
    # and logs.
    "SQLALCHEMY_ENGINE_OPTIONS": {"hide_parameters": True},
    # Staff sessions end after this many idle minutes (checked on the server).
    "STAFF_SESSION_MINUTES": 30,
    "STAFF_LOCKOUT_ATTEMPTS": 5,
    "STAFF_LOCKOUT_MINUTES": 15,
    # A new staff account chooses its password through a one-time e-mailed link valid this long.
    "STAFF_SETUP_LINK_HOURS": 48,
    "STAFF_PASSWORD_MIN_LENGTH": 12,
    "DASHBOARD_PAGE_SIZE": 50,
    # Where the person's data lives and why it is held (docs/sources.md); None means the
    # file of that name in instance/.
    "SOURCES_FILE": None,
    "REGISTER_FILE": None,
    # A gather job's time limit. The lease (timeout + margin) is only the last resort when a
    # search's worker is gone: the sweep sees a dead worker by its heartbeat first.
    "GATHER_TIMEOUT": 300,
    "GATHER_LEASE_MARGIN": 60,
    # Waits between the retries of a failed search (seconds); then staff may run it again.
    "GATHER_RETRY_INTERVALS": [10, 60, 300],
    # Rounds of following the person from source to source (new identifiers found).
    "GATHER_MAX_ROUNDS": 5,
    # What the dsar commands log (DEBUG, INFO, WARNING…): dsar's lines and RQ's, one line each
    # on stderr, those written by a job tagged with its id.
    "LOG_LEVEL": "INFO",
    # ``dsar worker`` runs jobs in its own process (warm connections) unless this is true
    # (a forked child per job: more isolation, about 30-60 ms more per job).
    "WORKER_FORK": False,
    # Exactly-once under faults (docs/architecture.md): each worker beats every this many
    # seconds (a key in Redis naming the job it runs) and is dead after three missed beats;
    # its job is then queued again at the next sweep.
    "WORKER_HEARTBEAT_SECONDS": 5,
    # Work the database still owes whose job is missing, finished or failed is queued again
    # this long after its last activity (at once when Redis lost its data).
    "REQUEUE_GRACE_SECONDS": 60,
    # How often ``dsar scheduler`` runs the sweep of lost work.
    "SWEEP_INTERVAL_SECONDS": 15,
    # export.json is attached inside report.pdf up to this size; WeasyPrint holds an
    # attachment whole in memory, so a larger one stays next to the report in the package.
    "PDF_ATTACHMENT_MAX_BYTES": 32 * 1024 * 1024,
    # Days a released answer package stays downloadable; then the purge job deletes it.
    "EXPORT_DAYS": 30,
    # Years a closed case keeps what proves compliance (dates, decisions, the audit trail)
    # with the person's data; then a daily job removes that data (dsar.cases.retention,
    # docs/legal-rules.md §6). Counted from the day the case closed.
    "CASE_RETENTION_YEARS": 5,
    # The one-time code that opens a download: minutes valid, wrong tries before it locks,
    # and how many codes a case may ask for per hour.
    "DOWNLOAD_CODE_MINUTES": 10,
    "DOWNLOAD_CODE_ATTEMPTS": 5,
    "DOWNLOAD_CODES_PER_HOUR": 3,
    # Direct transmission to another controller (Art. 20(2)): https only, and never to a
    # private, loopback or link-local address unless this is true (tests only).
    "TRANSMIT_ALLOW_PRIVATE": False,
    # A CA bundle to trust for transmissions besides the system's (tests: a local CA).
    "TRANSMIT_CA_FILE": None,
    "TRANSMIT_TIMEOUT": 60,
    # The bearer token of the registers' checks for the organisation's own tools,
    # POST /api/suppression/check and POST /api/restriction/check (a long random string:
    # secrets.token_urlsafe(32)). None: the endpoints do not exist (404).
    "SUPPRESSION_API_TOKEN": None,
    # The bearer token that opens /metrics to a Prometheus server (a long random string).
    # None: /metrics does not exist (404) on the web server (docs/metrics.md).
    "METRICS_TOKEN": None,
    # `dsar serve`: the address gunicorn listens on, and how many worker processes it runs
    # (0: one per CPU core, plus one).
    "SERVE_BIND": "127.0.0.1:8000",
    "SERVE_WORKERS": 0,
    # An ISO date that replaces "today" for the legal clock: tests and demonstrations only.
    "CLOCK_TODAY": None,
}

_TRUTHY = {"1", "true", "yes", "on"}
_BOOLEAN_WORDS = _TRUTHY | {"0", "false", "no", "off"}


def _coerce(raw: str, current: object) -> object:
    """Turn an environment string into the type of the setting it overrides."""
    # A setting whose default is None (decided later, like SESSION_COOKIE_SECURE) takes a
    # yes/no word as a boolean too.
    is_boolean_word = current is None and raw.strip().lower() in _BOOLEAN_WORDS
    if isinstance(current, bool) or is_boolean_word:
        return raw.strip().lower() in _TRUTHY
    if isinstance(current, int):
        return int(raw)
    if isinstance(current, list):
        return json.loads(raw) if raw.startswith("[") else [p.strip() for p in raw.split(",")]
    return raw


def load_config(app: Flask, test_config: dict | None) -> None:
    """Apply the four configuration layers to ``app.config`` (a contract: docs/architecture.md)."""
    app.config.from_mapping(DEFAULTS)
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        for name, raw in os.environ.items():
            if name.startswith("DSAR_"):
                key = name.removeprefix("DSAR_")
                app.config[key] = _coerce(raw, app.config.get(key))
    else:
        app.config.from_mapping(test_config)

    instance = Path(app.instance_path)
    if not app.config["DATABASE_URL"]:
        app.config["DATABASE_URL"] = f"sqlite:///{instance / 'dsar.sqlite3'}"
    app.config.setdefault("SQLALCHEMY_DATABASE_URI", app.config["DATABASE_URL"])
    app.config["SQLALCHEMY_DATABASE_URI"] = app.config["DATABASE_URL"]
    if not app.config["MASTER_KEY_FILE"]:
        app.config["MASTER_KEY_FILE"] = str(instance / "dsar.key")
    check_storage_url(app.config["STORAGE_URL"], app.config["DATABASE_URL"])
    app.config["STORAGE_DIR"] = (storage_dir_of(app.config["STORAGE_URL"])
                                 or app.config["STORAGE_DIR"] or str(instance / "storage"))
    if app.config["SESSION_COOKIE_SECURE"] is None:
        app.config["SESSION_COOKIE_SECURE"] = str(app.config["BASE_URL"]).startswith("https://")
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(
        minutes=int(app.config["STAFF_SESSION_MINUTES"]))
    if str(app.config["DATABASE_URL"]).startswith("postgresql"):
        # An unreachable database fails in seconds, not after the system's TCP timeout: a
        # request, a job or /readyz never hangs on it for minutes.
        options = app.config["SQLALCHEMY_ENGINE_OPTIONS"] = dict(
            app.config["SQLALCHEMY_ENGINE_OPTIONS"])
        options["connect_args"] = {"connect_timeout": 10, **options.get("connect_args", {})}
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"])
    if app.config.get("REDIS_CA_FILE"):
        # The rate limits live in the same Redis: without the private CA they could not reach
        # it over rediss:// and would quietly fall back to per-process memory.
        app.config.setdefault("RATELIMIT_STORAGE_OPTIONS",
                              {"ssl_ca_certs": app.config["REDIS_CA_FILE"]})
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", False)


def set_secret_key(app: Flask) -> None:
    """Derive the session secret from the master key unless one was configured. Before
    ``dsar init`` there is no key; only the CLI can run then."""
    if app.config.get("SECRET_KEY"):
        return
    try:
        app.config["SECRET_KEY"] = derived_key("flask-secret", app.config["MASTER_KEY_FILE"])
    except MissingKeyError:
        if not _command_creates_key():
            app.logger.warning("no master key yet: run `dsar init`")


#: The ``dsar`` commands that create the master key themselves, right after the app is made
#: (``restore`` brings the archive's, or is given the key apart: ``dsar init`` would make a
#: new one that opens nothing).
KEY_CREATING_COMMANDS = frozenset({"init", "demo", "restore"})


def _command_creates_key() -> bool:
    """Whether the app is being made for a command that creates the master key itself
    (``dsar init``, ``dsar demo``): telling its user to run ``dsar init`` would be wrong. A
    ``dsar run`` or ``dsar worker`` without a key is still warned."""
    import click

    context = click.get_current_context(silent=True)
    # A top-level command only: ``dsar db init`` (Flask-Migrate's) creates no key.
    return (context is not None and context.info_name in KEY_CREATING_COMMANDS
            and context.parent is not None and context.parent.parent is None)
