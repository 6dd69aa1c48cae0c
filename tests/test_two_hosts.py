"""Two hosts without a shared disk (``STORAGE_URL = "database:"``): one PostgreSQL, one Redis,
an instance folder each (its own copy of the master key). Host A serves the portal through
``dsar serve``, reached over HTTP; host B runs the back office and the ``dsar worker``
processes. A request filed on A with its identity
document is decided on B, which deletes the document; B's workers search and build the answer;
the person downloads it through A. Neither host's storage folder ever holds a file."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from dsar import create_app
from dsar.core import storage
from dsar.extensions import db
from dsar.models import Case, IdentityProof, PackageStatus
from tests.support.app import app_config, dispose, reset_state
from tests.support.casework import PDF
from tests.support.delivery import latest_package, release
from tests.support.fault_harness import Processes, case_facts, wait_for
from tests.support.forms import access_form, csrf_from, path_of
from tests.support.gathering import EMAIL, SHOP_SOURCE, build_databases, write_config
from tests.support.served import app_env, served
from tests.support.staff import login, make_staff, post_action

POSTGRES = (os.environ.get("DSAR_TEST_DATABASE_URL") or "").startswith("postgresql")
needs_postgres = pytest.mark.skipif(
    not POSTGRES, reason="several hosts share PostgreSQL: set DSAR_TEST_DATABASE_URL")

CODE = re.compile(r"^\s+(\d{6})\s*$", re.M)


def host(folder: Path, key_file: str, database_url: str, redis_url: str, smtp_port: int,
         storage_url: str | None = "database:"):
    """The app of a host whose instance folder is ``folder`` (the organisation's sources
    file there, its own copy of the key), its blobs where ``storage_url`` says (by default
    in the database)."""
    shutil.copy(key_file, folder / "dsar.key")
    (folder / "dsar.key").chmod(0o600)
    config = app_config(database_url, redis_url, str(folder / "dsar.key"), folder / "storage",
                        smtp_port)
    config.update(STORAGE_URL=storage_url, GATHER_RETRY_INTERVALS=[])
    return create_app(config)


def next_mail(smtp_server, since: int, what: str):
    """The first e-mail to the person after the ``since`` first e-mails (sent by a worker of
    host B)."""
    def found():
        return next((m for m in smtp_server.messages()[since:] if m["To"] == EMAIL), None)
    return wait_for(found, 60, what)


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def host_env(app, folder: Path, redis_url: str, smtp_port: int) -> dict[str, str]:
    """The environment of a host's ``dsar`` processes: its own folder and key, blobs in the
    database."""
    return app_env(app, folder, REDIS_URL=redis_url, SMTP_PORT=smtp_port,
                   STORAGE_URL="database:", GATHER_RETRY_INTERVALS="[]", LOG_LEVEL="INFO")


def portal_request(portal: httpx.Client) -> None:
    """The person files an access request with an identity document on host A's portal."""
    page = portal.get("/request/access")
    fields = {key: (None, value) for key, value in access_form().items()}
    fields["csrf_token"] = (None, csrf_from(page.text))
    fields["proof"] = ("piece-identite.pdf", PDF, "application/pdf")
    assert portal.post("/request/access", files=fields).status_code == 302


def confirm(portal: httpx.Client, link: str) -> None:
    """The person confirms from the e-mailed link (a button, on host A)."""
    page = portal.get(link)
    assert portal.post(link, data={"csrf_token": csrf_from(page.text)}).status_code == 302


@needs_postgres
def test_filed_on_one_host_decided_gathered_and_built_on_another(
        schema, database_url, redis_url, key_file, smtp_server, tmp_path):
    # The organisation's systems, which host B's workers reach; host A never opens them.
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
    build_databases(tmp_path / "b")
    write_config(tmp_path / "b", {"shop": SHOP_SOURCE})
    for name in ("sources.toml", "register.toml"):
        shutil.copy(tmp_path / "b" / name, tmp_path / "a" / name)
    portal_host = host(tmp_path / "a", key_file, database_url, redis_url, smtp_server.port)
    office_host = host(tmp_path / "b", key_file, database_url, redis_url, smtp_server.port)
    (tmp_path / "logs").mkdir()
    workers = Processes(host_env(office_host, tmp_path / "b", redis_url, smtp_server.port),
                        tmp_path / "logs")
    try:
        with served(host_env(portal_host, tmp_path / "a", redis_url, smtp_server.port),
                    tmp_path / "logs" / "a", "--workers", "2") as web_a, \
                httpx.Client(base_url=web_a.base_url, timeout=30) as portal:
            for _ in range(2):
                workers.start("worker", "--queues", "mail,gather,build")

            # Host A's web server: the request, with an identity document, confirmed.
            portal_request(portal)
            confirm_mail = next_mail(smtp_server, 0, "the confirmation e-mail")
            confirm(portal, path_of(next(u for u in smtp_server.links(confirm_mail)
                                         if "/confirm/" in u)))
            with portal_host.app_context():
                case = db.session.scalars(select(Case).where(
                    Case.email_normalized == EMAIL)).one()
                blob_id = db.session.scalars(select(IdentityProof.blob_id).where(
                    IdentityProof.case_id == case.id)).one()
                db.session.expunge_all()
            with office_host.app_context():  # stored through A, readable on B
                assert storage.get(blob_id) == PDF

            # Host B: the identity decision deletes the document A stored; the search starts.
            office = office_host.test_client()
            login(office, make_staff(office_host, "agent"))
            assert post_action(office, case.reference, "verify", {
                "method": "document", "note": "Pièce d'identité conforme."}).status_code == 302
            with portal_host.app_context():
                assert not storage.exists(blob_id)
            assert post_action(office, case.reference, "start").status_code == 302

            # Host B's workers gather and build.
            wait_for(lambda: case_facts(office_host, case.id).answered, 90,
                     "the case searched and its package built by host B's workers",
                     details=workers.log_tail)
            package = latest_package(office_host, case.id)
            assert package.status is PackageStatus.READY
            sent_before = len(smtp_server.messages())
            assert release(office_host, case).status_code == 302

            # Host A's web server: the person downloads what B built, with an e-mailed code.
            ready = next_mail(smtp_server, sent_before, "the e-mail saying the answer is ready")
            status = path_of(next(u for u in smtp_server.links(ready) if "/status/" in u))
            assert portal.get(status).status_code == 302
            sent_before = len(smtp_server.messages())
            page = portal.get(f"/status/{case.reference}/download")
            assert portal.post(f"/status/{case.reference}/download/code",
                               data={"csrf_token": csrf_from(page.text)}).status_code == 302
            code_mail = next_mail(smtp_server, sent_before, "the download code")
            code = CODE.search(code_mail.get_body(preferencelist=("plain",)).get_content())[1]
            page = portal.get(f"/status/{case.reference}/download?sent=1")
            download = portal.post(f"/status/{case.reference}/download",
                                   data={"csrf_token": csrf_from(page.text), "code": code})
            assert download.status_code == 200, download.text[:300]
            assert hashlib.sha256(download.content).hexdigest() == package.sha256
    finally:
        workers.close()
        dispose(portal_host)
        reset_state(office_host, redis_url, smtp_server)
    # No blob ever touched either host's disk.
    assert files_under(tmp_path / "a" / "storage") == []
    assert files_under(tmp_path / "b" / "storage") == []


@pytest.mark.parametrize("storage_url", [
    None, pytest.param("database:", marks=needs_postgres)])
def test_only_the_database_backend_shares_blobs_between_hosts(
        schema, database_url, redis_url, key_file, smtp_server, tmp_path, storage_url):
    hosts = []
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        app = host(tmp_path / folder, key_file, database_url, redis_url, smtp_server.port,
                   storage_url)
        hosts.append(app)
    try:
        with hosts[0].app_context():
            blob = storage.put(PDF)
        with hosts[1].app_context():
            # Local folders: the other host's document is simply not there.
            assert storage.exists(blob.blob_id) is (storage_url is not None)
            storage.delete(blob.blob_id)
    finally:
        dispose(hosts[0])
        reset_state(hosts[1], redis_url, smtp_server)
