"""dsar: data-subject-rights requests, from the public portal to the answer."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from flask import Flask

from dsar.paths import MIGRATIONS_DIR, STATIC_DIR, TEMPLATES_DIR


def create_app(test_config: dict | None = None) -> Flask:
    """Build the application (a contract: docs/architecture.md). ``test_config`` replaces the
    instance file and the environment layers."""
    app = Flask(
        __name__,
        # DSAR_INSTANCE_PATH moves the whole instance folder (config, key, database, sources).
        instance_path=(os.path.abspath(os.environ["DSAR_INSTANCE_PATH"])
                       if os.environ.get("DSAR_INSTANCE_PATH") else None),
        instance_relative_config=True,
        template_folder=str(TEMPLATES_DIR),
        static_folder=str(STATIC_DIR),
    )
    from dsar.config import load_config, set_secret_key

    load_config(app, test_config)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    set_secret_key(app)
    if int(app.config["PROXY_FIX_X_FOR"]):
        # Behind reverse proxies: the client's address (rate limits) from X-Forwarded-For.
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = int(app.config["PROXY_FIX_X_FOR"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)

    from dsar import i18n, sqlite_tuning
    from dsar.extensions import csrf, db, limiter, login_manager, migrate
    from dsar.sources import catalog
    from dsar.web import errors, security

    db.init_app(app)
    sqlite_tuning.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR))
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    i18n.init_app(app)
    errors.init_app(app)
    security.init_app(app)
    # Before anything can run: a bad sources.toml or register.toml stops the app here, with
    # the file, the key and the fault (SourceConfigError).
    catalog.init_app(app)

    from dsar import models, ops  # noqa: F401  (models: register the tables)
    from dsar.api.restriction import bp as restriction_api_bp
    from dsar.api.suppression import bp as suppression_api_bp
    from dsar.portal import bp as portal_bp
    from dsar.staff import bp as staff_bp

    app.register_blueprint(portal_bp)
    app.register_blueprint(staff_bp)
    app.register_blueprint(suppression_api_bp)
    app.register_blueprint(restriction_api_bp)
    ops.init_app(app)
    if app.config.get("DEMO_MAILBOX_DIR"):
        from dsar.demo.mailbox import bp as mailbox_bp

        app.register_blueprint(mailbox_bp)

    @login_manager.user_loader
    def load_staff(user_id: str):
        """The signed-in staff member, if the session is still theirs: an account deactivated,
        or whose sessions were ended since this one opened (sign-out, password, factor or role
        change), is signed out whatever cookie the browser holds."""
        from flask import session

        from dsar.models import StaffUser
        from dsar.staff.auth import GENERATION

        user = db.session.get(StaffUser, int(user_id)) if user_id.isdigit() else None
        if user is None or not user.is_active:
            return None
        return user if session.get(GENERATION) == user.session_generation else None

    logging.getLogger("dsar").setLevel(app.config["LOG_LEVEL"])
    return app
