"""Project-wide contracts: job paths resolve, migrations match the models, config layers."""

from __future__ import annotations

import re
from pathlib import Path

from rq.utils import import_attribute

from dsar import create_app

ROOT = Path(__file__).resolve().parent.parent


def test_every_job_path_named_in_dsar_resolves():
    """``dsar`` names jobs by dotted path (it never imports ``workers``): each must exist."""
    from dsar.pipeline.periodic import PERIODIC_JOBS

    paths = set()
    for source in (ROOT / "dsar").rglob("*.py"):
        paths.update(re.findall(r"[\"'](workers\.jobs\.[a-z_]+)[\"']", source.read_text()))
    paths.update(job.func for job in PERIODIC_JOBS)
    assert paths, "no job path found"
    for path in paths:
        assert callable(import_attribute(path)), path


def test_dsar_never_imports_workers():
    offenders = [
        str(p.relative_to(ROOT)) for p in (ROOT / "dsar").rglob("*.py")
        if re.search(r"^\s*(from|import) workers", p.read_text(), re.M)
        and p.name != "cli.py"  # the CLI starts workers, it is their entry point
    ]
    assert offenders == []


def test_migrations_match_the_models(app):
    """Alembic sees no difference between the migrated schema and the models."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from dsar.extensions import db

    with app.app_context(), db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), db.metadata)
    assert diff == []


def test_config_layers(tmp_path, monkeypatch):
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "config.py").write_text('ORGANISATION_NAME = "Depuis le fichier"\n'
                                        'SMTP_PORT = 2525\n')
    monkeypatch.setenv("DSAR_SMTP_PORT", "2626")
    monkeypatch.setenv("DSAR_SMTP_STARTTLS", "true")
    from flask import Flask

    from dsar.config import load_config

    app = Flask("dsar_test", instance_path=str(instance), instance_relative_config=True)
    load_config(app, None)
    assert app.config["ORGANISATION_NAME"] == "Depuis le fichier"  # instance file
    assert app.config["SMTP_PORT"] == 2626  # environment beats the file, typed
    assert app.config["SMTP_STARTTLS"] is True
    assert app.config["DATABASE_URL"] == f"sqlite:///{instance / 'dsar.sqlite3'}"
    test_app = Flask("dsar_test2", instance_path=str(instance), instance_relative_config=True)
    load_config(test_app, {"SMTP_PORT": 1})
    assert test_app.config["SMTP_PORT"] == 1  # the test config replaces file and environment
    assert test_app.config["ORGANISATION_NAME"] == "Organisation"


def test_create_app_reads_nothing_at_import():
    import importlib

    import dsar.config

    importlib.reload(dsar.config)  # importing must not need an instance or a network


def test_instance_example_config_is_valid_python(tmp_path):
    example = ROOT / "instance" / "config.example.py"
    namespace: dict = {}
    exec(compile(example.read_text(), str(example), "exec"), namespace)  # noqa: S102
    from dsar.config import DEFAULTS

    unknown = {k for k in namespace if k.isupper()} - set(DEFAULTS) - {"SECRET_KEY"}
    assert unknown == set(), f"instance/config.example.py sets unknown settings: {unknown}"


def test_app_without_key_still_builds_for_init(tmp_path):
    app = create_app({"MASTER_KEY_FILE": str(tmp_path / "none.key"),
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}"})
    assert app.config.get("SECRET_KEY") is None


def test_session_cookie_is_secure_behind_https(tmp_path):
    https = create_app({"BASE_URL": "https://droits.example.fr",
                        "MASTER_KEY_FILE": str(tmp_path / "k")})
    local = create_app({"BASE_URL": "http://127.0.0.1:5000",
                        "MASTER_KEY_FILE": str(tmp_path / "k")})
    assert https.config["SESSION_COOKIE_SECURE"] is True
    assert local.config["SESSION_COOKIE_SECURE"] is False
    assert https.config["SESSION_COOKIE_HTTPONLY"] is True


def test_dashboard_query_repeats_the_partial_index_predicate(app):
    """SQLite uses a partial index only when the query writes its WHERE term literally: the
    model, the migration and the dashboard's SQL must name the same open statuses."""
    import importlib.util

    from dsar.extensions import db
    from dsar.models.case import OPEN_CASES_SQL
    from dsar.staff.dashboard import Filters, dashboard_query

    # The last migration that (re)built the partial indexes.
    path = ROOT / "dsar/migrations/versions/0010_change_plans.py"
    spec = importlib.util.spec_from_file_location("m0010", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    assert migration.OPEN_CASES_SQL == OPEN_CASES_SQL
    with app.app_context():
        sql = str(dashboard_query(Filters(), 1, 50).compile(
            db.engine, compile_kwargs={"literal_binds": True}))
    assert OPEN_CASES_SQL.removeprefix("status ") in sql


def test_unhandled_errors_are_logged_without_personal_data(app, caplog):
    """A 500 is logged with its type and location, never its message (which can hold an
    address, as PostgreSQL's duplicate-key DETAIL does); the visitor sees no trace of it."""

    from flask import request

    @app.get("/boom")
    def boom():  # the value comes at run time, as personal data does
        raise RuntimeError("duplicate key: " + request.headers["X-Who"])

    resp = app.test_client().get("/boom", headers={"X-Who": "camille.secret@example.fr"})
    assert resp.status_code == 500
    assert "camille.secret" not in resp.get_data(as_text=True)
    assert "RuntimeError" in caplog.text and "in boom" in caplog.text
    assert "camille.secret" not in caplog.text
