"""The demo organisation, served for real (its CRM and newsletter APIs over HTTP on
127.0.0.1), for the tests that search it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask

from dsar import create_app
from dsar.demo.org import generate, write_config
from dsar.demo.services import crm_app, newsletter_app, serve
from tests.support.app import app_config, dispose

CRM_TOKEN, NEWSLETTER_KEY = "crm-secret", "newsletter-secret"


@contextmanager
def demo_app(demo_data: Path, tmp_path: Path, monkeypatch, database_url, redis_url, key_file,
             smtp_server) -> Iterator[Flask]:
    """An app configured with the demo organisation's six sources (``demo_data`` is a folder
    written by ``generate``); the two APIs run until the block ends."""
    (tmp_path / "demo-org").symlink_to(demo_data)
    monkeypatch.setenv("HORIZON_CRM_TOKEN", CRM_TOKEN)
    monkeypatch.setenv("HORIZON_NEWSLETTER_API_KEY", NEWSLETTER_KEY)
    monkeypatch.setenv("DSAR_INSTANCE_PATH", str(tmp_path))  # {instance} in sources.toml
    servers = [serve(crm_app(demo_data / "crm.sqlite", CRM_TOKEN)),
               serve(newsletter_app(demo_data / "newsletter.sqlite", NEWSLETTER_KEY))]
    write_config(tmp_path, crm_url=f"http://127.0.0.1:{servers[0][2]}",
                 newsletter_url=f"http://127.0.0.1:{servers[1][2]}")
    config = app_config(database_url, redis_url, key_file, tmp_path / "storage",
                        smtp_server.port)
    config.update(SOURCES_FILE=str(tmp_path / "sources.toml"),
                  REGISTER_FILE=str(tmp_path / "register.toml"), GATHER_RETRY_INTERVALS=[])
    app = create_app(config)
    try:
        yield app
    finally:
        dispose(app)
        for server, thread, _ in servers:
            server.shutdown()
            server.server_close()
            thread.join(10)


def make_demo_data(tmp_path_factory) -> Path:
    """The demo organisation's data for 120 people."""
    target = tmp_path_factory.mktemp("org") / "demo-org"
    generate(target, 120)
    return target
