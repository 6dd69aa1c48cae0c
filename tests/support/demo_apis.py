"""The demo organisation's two APIs (CRM, newsletter) served on 127.0.0.1 over a private copy
of its data, for the ``http`` connector's tests that change data."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from dsar.demo.org import generate, write_config
from dsar.demo.services import crm_app, newsletter_app, serve
from dsar.sources.catalog import connector_classes
from dsar.sources.config import load_sources
from dsar.sources.http import HttpConnector

SECRETS = {"HORIZON_CRM_TOKEN": "crm-secret", "HORIZON_NEWSLETTER_API_KEY": "nl-secret"}


@contextmanager
def demo_apis(tmp_path: Path) -> Iterator[tuple[Callable[[str], HttpConnector], Path, dict]]:
    """The demo organisation (50 people, its own copy) with both APIs served; yields
    (connect(source) -> connector, the data folder, the sources read). Every connector and
    server is closed afterwards."""
    org = generate(tmp_path / "demo-org", 50).target_dir
    servers = [serve(crm_app(org / "crm.sqlite", SECRETS["HORIZON_CRM_TOKEN"])),
               serve(newsletter_app(org / "newsletter.sqlite",
                                    SECRETS["HORIZON_NEWSLETTER_API_KEY"]))]
    write_config(tmp_path, crm_url=f"http://127.0.0.1:{servers[0][2]}",
                 newsletter_url=f"http://127.0.0.1:{servers[1][2]}")
    sources = load_sources(tmp_path / "sources.toml", connector_classes(), tmp_path)
    opened = []

    def connect(name: str) -> HttpConnector:
        connector = HttpConnector(sources[name], instance_path=tmp_path, environ=SECRETS)
        opened.append(connector)
        return connector

    try:
        yield connect, org, sources
    finally:
        for connector in opened:
            connector.close()
        for server, thread, _ in servers:
            server.shutdown()
            server.server_close()
            thread.join()
