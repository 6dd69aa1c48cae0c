"""Setting up an instance: its folder, the master key, the storage folder and the database schema.
``dsar init`` and ``dsar demo`` both call :func:`set_up_instance`; running it again changes
nothing that exists."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import inspect

from dsar.config import set_secret_key
from dsar.core.audit import start_chain
from dsar.core.keys import create_master_key
from dsar.extensions import db


def set_up_instance(app: Flask, say: Callable[[str], object]) -> None:
    """Create what the instance ``app`` (its context pushed) lacks, telling ``say`` what was
    done. Idempotent."""
    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    key_file = app.config["MASTER_KEY_FILE"]
    if create_master_key(key_file):
        say(f"Created the master key {key_file} (keep it safe and backed up).")
    set_secret_key(app)
    Path(app.config["STORAGE_DIR"]).mkdir(parents=True, exist_ok=True, mode=0o700)
    # Only a database created now gets a signed empty head: re-running init must never
    # re-create a head that was deleted (that would hide a wiped trail).
    new_database = not inspect(db.engine).has_table("audit_head")
    upgrade()
    if new_database and start_chain():
        db.session.commit()
    say("Database schema is up to date.")
