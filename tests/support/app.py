"""The test app's configuration, and returning the database, Redis and the mailbox to a new
deployment's state after a test."""

from __future__ import annotations

from pathlib import Path

from redis import Redis

from dsar.extensions import db
from tests.support.mailbox import Mailbox


def app_config(database_url: str, redis_url: str, key_file: str, storage, smtp_port: int) -> dict:
    """The configuration of a test app: its blobs under ``storage``, no sources unless a test
    writes ``sources.toml`` and ``register.toml`` next to ``storage``."""
    return {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "RATELIMIT_STORAGE_URI": redis_url,
        "MASTER_KEY_FILE": key_file,
        "STORAGE_DIR": str(storage),
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": smtp_port,
        "BASE_URL": "http://localhost",
        "ORGANISATION_NAME": "Organisation de test",
        "DPO_EMAIL": "dpo@test.example",
        "MAIL_FROM": "dsar@test.example",
        # No sources unless a test declares some (instance/ may hold the demo's).
        "SOURCES_FILE": str(Path(storage).parent / "sources.toml"),
        "REGISTER_FILE": str(Path(storage).parent / "register.toml"),
    }


def start_audit_chain(app) -> None:
    """The signed empty head ``dsar init`` writes on a new database: every test starts from
    a deployment's state."""
    from dsar.core.audit import start_chain

    with app.app_context():
        start_chain()
        db.session.commit()
        db.session.remove()


def reset_state(app, redis_url: str, smtp_server: Mailbox) -> None:
    """Empty every table, Redis and the mailbox after a test."""
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
        start_audit_chain(app)
        db.engine.dispose()
    Redis.from_url(redis_url).flushdb()
    smtp_server.clear()


def dispose(app) -> None:
    """Close the pooled database connections of an app a test made for itself."""
    with app.app_context():
        db.engine.dispose()


def detached_rows(app, model, *conditions) -> list:
    """The rows of ``model`` meeting ``conditions``, oldest first, detached from the session so
    a test can read them after the app context is gone."""
    from sqlalchemy import select

    with app.app_context():
        rows = db.session.scalars(select(model).where(*conditions).order_by(model.id)).all()
        db.session.expunge_all()
        return rows
