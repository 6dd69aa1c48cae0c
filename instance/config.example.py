# Copy to instance/config.py and adapt. Every setting can also be given as an environment
# variable prefixed with DSAR_ (DSAR_SMTP_HOST=...), which wins over this file.
# All settings and their defaults: dsar/config.py.

# Shown on every page and e-mail.
ORGANISATION_NAME = "Académie Horizon Formation"
DPO_EMAIL = "dpo@horizon-formation.example"
MAIL_FROM = "droits-rgpd@horizon-formation.example"

# Where the links in e-mails point (the public address of the portal).
BASE_URL = "https://droits.horizon-formation.example"

# Database: SQLite in instance/ by default. PostgreSQL:
# DATABASE_URL = "postgresql+psycopg://dsar:secret@127.0.0.1/dsar"

# Redis: give it a password (requirepass), and TLS when it is on another machine. Prefer the
# DSAR_REDIS_URL environment variable, since the URL holds the password.
REDIS_URL = "redis://127.0.0.1:6379/0"
# REDIS_URL = "rediss://:password@redis.internal:6380/0"
# REDIS_CA_FILE = "/etc/dsar/redis-ca.pem"   # a private CA for rediss://, if needed

# Mail: STARTTLS on port 587, or implicit TLS on port 465 (SMTP_SSL = True instead), never
# both. The server's certificate and name are always checked.
SMTP_HOST = "smtp.horizon-formation.example"
SMTP_PORT = 587
SMTP_STARTTLS = True
# SMTP_SSL = True; SMTP_PORT = 465
# SMTP_CA_FILE = "/etc/dsar/smtp-ca.pem"     # a private CA, if the server uses one
# SMTP_USERNAME / SMTP_PASSWORD: prefer the DSAR_SMTP_PASSWORD environment variable.

# Staff accounts: a new account's set-up link is valid this many hours; minimum password length.
STAFF_SETUP_LINK_HOURS = 48
STAFF_PASSWORD_MIN_LENGTH = 12

# "FR" (metropolitan France) or "FR-ALSACE-MOSELLE" (adds Good Friday and 26 December).
LEGAL_CALENDAR = "FR"

# Behind HTTPS (always in production):
SESSION_COOKIE_SECURE = True

# The answer package: days it stays downloadable after the DPO releases it (then deleted),
# and the one-time download codes (minutes valid, wrong tries, codes a case may ask per hour).
EXPORT_DAYS = 30
DOWNLOAD_CODE_MINUTES = 10
DOWNLOAD_CODE_ATTEMPTS = 5
DOWNLOAD_CODES_PER_HOUR = 3

# Years a closed case keeps what proves compliance (its dates, decisions and audit trail)
# together with the person's data; after that, a daily job removes the personal data.
CASE_RETENTION_YEARS = 5

# Direct transmission to another controller (portability): https only; private, loopback and
# link-local addresses are always refused in production (TRANSMIT_ALLOW_PRIVATE is for tests).
TRANSMIT_TIMEOUT = 60
# TRANSMIT_CA_FILE = "/etc/ssl/certs/extra-ca.pem"   # an extra CA to trust, if needed
# Behind a reverse proxy (nginx, a load balancer): how many of them set X-Forwarded-For, so
# that rate limits count each visitor, not the proxy.
# PROXY_FIX_X_FOR = 1

# Workers (docs/queue.md): each job in a forked child (more isolation, 30-60 ms more per job)
# or in the worker's own process (warm connections); what the dsar commands log (each line on
# stderr, a job's lines tagged with its id).
# WORKER_FORK = False
# LOG_LEVEL = "INFO"
# Recovery after a fault (docs/architecture.md, "How a job stays exactly-once"): a worker
# beats every 5 s and is dead after three missed beats; dsar scheduler sweeps every 15 s; work
# whose job ended or vanished without doing it is queued again after 60 s (at once when Redis
# lost its data or the job's worker died).
# WORKER_HEARTBEAT_SECONDS = 5
# SWEEP_INTERVAL_SECONDS = 15
# REQUEUE_GRACE_SECONDS = 60

# The registers' checks for the organisation's own tools (docs/erasure.md, docs/rights.md):
# POST /api/suppression/check and POST /api/restriction/check with this bearer token; unset,
# the endpoints do not exist.
# (a long random string: python -c 'import secrets; print(secrets.token_urlsafe(32))')
# SUPPRESSION_API_TOKEN = "…"

# Production (docs/deploy.md). Where the encrypted blobs live: a local folder by default
# (STORAGE_DIR, instance/storage); the application's PostgreSQL database when web servers and
# workers run on several machines without a shared disk (docs/storage.md).
# STORAGE_URL = "file:///var/lib/dsar/storage"
# STORAGE_URL = "database:"
# `dsar serve`: the address gunicorn listens on (nginx in front) and its worker processes
# (0: one per CPU core, plus one).
# SERVE_BIND = "127.0.0.1:8000"
# SERVE_WORKERS = 0
# /metrics for a Prometheus server, with this bearer token; unset, /metrics does not exist
# (docs/metrics.md).
# METRICS_TOKEN = "…"
