"""The application's own SQLite database (the demo's, and any small deployment's): written
ahead (``journal_mode=WAL``), so the web server's readers never wait on a worker's write and a
commit is one append to the log instead of a rewritten journal (``bench/portal.py``: about a
quarter more form submissions per second). ``synchronous`` stays FULL: a request the person
was told is filed survives a power cut. SQLite keeps the log beside the database
(``dsar.sqlite3-wal``, ``-shm``). Only the app's engine is tuned; the organisation's SQLite
sources are opened as they are."""

from __future__ import annotations

import sqlite3

from flask import Flask
from sqlalchemy import event


def _on_connect(dbapi_connection, _record) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
        finally:
            cursor.close()


def init_app(app: Flask) -> None:
    """Tune every connection of ``app``'s SQLite engine (nothing on PostgreSQL)."""
    from dsar.extensions import db

    with app.app_context():
        engine = db.engine
    if engine.url.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _on_connect)
