"""Direct transmission of a portability package (Art. 20(2)) to a real HTTPS receiver on
127.0.0.1, with a throwaway CA: sent when allowed, refused for private and loopback addresses
outside test configuration, failed (and recorded) on error answers and untrusted certificates."""

from __future__ import annotations

import base64
import json
import logging
import os
import tracemalloc
import zipfile
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from dsar.core import storage
from dsar.delivery.transmit import (
    Destination,
    TransmissionRefused,
    check_destination,
    post_package,
    transmit,
)
from dsar.extensions import db
from dsar.models import (
    AuditEvent,
    CaseKind,
    CaseStatus,
    ExportPackage,
    PackageStatus,
    Transmission,
    TransmissionStatus,
)
from dsar.models.types import utcnow
from tests.support.pki import make_pki
from tests.support.ports import free_port
from tests.support.staff import make_case

TOKEN = "acct-7f3a9c"  # an account token in the endpoint's query: it must never be kept


@pytest.fixture
def test_config(app, pki):
    """The test configuration: private addresses allowed, the local CA trusted."""
    app.config.update(TRANSMIT_ALLOW_PRIVATE=True, TRANSMIT_CA_FILE=str(pki.ca_file))
    return app


def make_package(app, *, status=PackageStatus.RELEASED, scope="portability",
                 payload_bytes=300_000, raw: bytes | None = None) -> dict:
    """A portability case and its package: a real ZIP (several storage segments) written to an
    encrypted streamed blob, as the build job does. Returns ids, reference and the ZIP's sum."""
    case = make_case(app, kind=CaseKind.PORTABILITY, status=CaseStatus.REVIEW)
    with app.app_context():
        with storage.writer() as out:
            if raw is not None:
                out.write(raw)
            else:
                with zipfile.ZipFile(out, "w") as archive:
                    archive.writestr("export.json", json.dumps({"reference": case.reference}))
                    archive.writestr("random.bin", os.urandom(payload_bytes))
        released = status is not PackageStatus.READY
        package = ExportPackage(
            case_id=case.id, status=status, blob_id=out.blob.blob_id, size=out.blob.size,
            sha256=out.blob.sha256, results_digest="0" * 64, scope=scope,
            released_at=utcnow() if released else None,
            expires_at=utcnow() + timedelta(days=30) if released else None)
        db.session.add(package)
        db.session.commit()
        return {"id": package.id, "case_id": case.id, "reference": case.reference,
                "sha256": out.blob.sha256, "size": out.blob.size}


def events(app, case_id: int) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(
            AuditEvent.case_id == case_id, AuditEvent.action == "package.transmitted")))


def rows(app, package_id: int) -> list[Transmission]:
    with app.app_context():
        return list(db.session.scalars(select(Transmission).where(
            Transmission.package_id == package_id)))


def test_sends_the_released_package_and_records_it(test_config, receiver, caplog):
    app = test_config
    package = make_package(app)
    caplog.set_level(logging.DEBUG)
    with app.app_context():
        row = transmit(package["id"], receiver.url(f"/inbox?token={TOKEN}"), actor_id="job-1")
        assert (row.status, row.http_status, row.detail) == (TransmissionStatus.SENT, 200, None)
        assert row.host == "localhost"

    [got] = receiver.requests
    assert got.path == f"/inbox?token={TOKEN}"
    assert (got.size, got.sha256) == (package["size"], package["sha256"])
    assert got.headers["content-type"] == "application/zip"
    assert got.headers["x-content-sha256"] == package["sha256"]
    digest = base64.b64encode(bytes.fromhex(package["sha256"])).decode()
    assert got.headers["content-digest"] == f"sha-256=:{digest}:"
    assert got.headers["x-dsar-reference"] == package["reference"]
    assert "transfer-encoding" not in got.headers  # a plain Content-Length body
    # Connected by the checked address, the name kept for TLS and Host.
    assert got.server_name == "localhost"
    assert got.headers["host"] == f"localhost:{receiver.port}"

    [event] = events(app, package["case_id"])
    assert event.payload == {"package_id": package["id"], "transmission_id": row.id,
                             "status": "sent", "http_status": 200, "detail": None}
    [stored] = rows(app, package["id"])
    assert TOKEN not in json.dumps([stored.host, stored.detail, event.payload])
    assert TOKEN not in caplog.text and "/inbox" not in caplog.text


def test_a_package_sent_to_a_host_is_not_sent_again(test_config, receiver):
    app = test_config
    package = make_package(app)
    with app.app_context():
        first = transmit(package["id"], receiver.url("/inbox"))
        again = transmit(package["id"], receiver.url("/other-path"))
        assert again.id == first.id
    assert len(receiver.requests) == 1
    assert len(rows(app, package["id"])) == 1
    assert len(events(app, package["case_id"])) == 1


def test_connects_to_the_checked_address_not_a_new_lookup(test_config, receiver):
    """No second DNS lookup at connection time (a rebinding answer would be obeyed):
    ``receiver.test`` resolves nowhere, yet the package reaches the checked address, under
    that name for TLS and Host."""
    app = test_config
    package = make_package(app, payload_bytes=1000)
    url = f"https://receiver.test:{receiver.port}/inbox"
    with app.app_context():
        with pytest.raises(TransmissionRefused) as refused:
            check_destination(url, allow_private=True)
        assert refused.value.code == "unresolvable"
        stored = db.session.get(ExportPackage, package["id"])
        pinned = Destination(httpx.URL(url), ("127.0.0.1",))
        assert post_package(pinned, stored, package["reference"]) == 200
    [got] = receiver.requests
    assert got.server_name == "receiver.test"
    assert got.headers["host"] == f"receiver.test:{receiver.port}"
    assert got.sha256 == package["sha256"]


REFUSED = [
    ("https://127.0.0.1:{port}/inbox", "private-address"),
    ("https://localhost:{port}/inbox", "private-address"),
    ("https://[::1]:{port}/inbox", "private-address"),
    ("https://2130706433:{port}/inbox", "private-address"),  # 127.0.0.1 written as a number
    ("https://10.0.0.1/", "private-address"),
    ("https://172.16.5.4/", "private-address"),
    ("https://192.168.1.10/", "private-address"),
    ("https://169.254.169.254/latest/meta-data/", "private-address"),
    ("https://100.64.0.1/", "private-address"),  # carrier-grade NAT
    ("https://0.0.0.0/", "private-address"),
    ("https://224.0.0.1/", "private-address"),
    ("https://[fe80::1]/", "private-address"),
    ("https://[fc00::1]/", "private-address"),
    ("https://[::ffff:127.0.0.1]/", "private-address"),  # IPv4-mapped loopback
    ("https://[2002:a00:1::]/", "private-address"),  # 6to4 of 10.0.0.1
    ("https://[64:ff9b::a9fe:a9fe]/", "private-address"),  # NAT64 of 169.254.169.254
    ("http://localhost:{port}/inbox", "not-https"),
    ("ftp://example.org/", "not-https"),
    ("https://user:secret@localhost:{port}/inbox", "credentials-in-url"),
    ("https://receiver.invalid/", "unresolvable"),
]


@pytest.mark.parametrize(("url", "code"), REFUSED)
def test_refused_outside_test_configuration(app, receiver, url, code):
    package = make_package(app, payload_bytes=1000)
    with app.app_context():
        row = transmit(package["id"], url.format(port=receiver.port))
        assert (row.status, row.detail, row.http_status) == (
            TransmissionStatus.REFUSED, code, None)
    assert receiver.connections == 0 and receiver.requests == []
    [event] = events(app, package["case_id"])
    assert event.payload["status"] == "refused" and event.payload["detail"] == code


@pytest.mark.parametrize(("url", "code"), [
    ("http://localhost/", "not-https"),
    ("https://user:secret@localhost/", "credentials-in-url"),
    ("https://", "invalid-url"),
    ("not a url", "not-https"),
])
def test_test_configuration_still_requires_https_without_credentials(url, code):
    with pytest.raises(TransmissionRefused) as refused:
        check_destination(url, allow_private=True)
    assert refused.value.code == code


def test_public_addresses_pass_the_check():
    assert check_destination("https://93.184.216.34/in", allow_private=False).addresses == (
        "93.184.216.34",)
    assert check_destination("https://[2606:4700::1111]/", allow_private=False).addresses == (
        "2606:4700::1111",)


def test_error_answer_is_a_failure(test_config, receiver):
    app = test_config
    receiver.status = 500
    package = make_package(app)
    with app.app_context():
        row = transmit(package["id"], receiver.url("/inbox"))
        assert (row.status, row.http_status, row.detail) == (
            TransmissionStatus.FAILED, 500, "http-500")
    assert len(receiver.requests) == 1
    [event] = events(app, package["case_id"])
    assert event.payload["status"] == "failed" and event.payload["http_status"] == 500


def test_a_redirect_is_not_followed(test_config, receiver):
    app = test_config
    receiver.status, receiver.location = 302, receiver.url("/elsewhere")
    package = make_package(app)
    with app.app_context():
        row = transmit(package["id"], receiver.url("/inbox"))
        assert (row.status, row.http_status, row.detail) == (
            TransmissionStatus.FAILED, 302, "http-302")
    assert [r.path for r in receiver.requests] == ["/inbox"]


def test_an_untrusted_certificate_fails_before_anything_is_sent(app, pki, receiver,
                                                                tmp_path):
    other = make_pki(tmp_path / "other")  # a CA that did not sign the receiver's certificate
    app.config.update(TRANSMIT_ALLOW_PRIVATE=True, TRANSMIT_CA_FILE=str(other.ca_file))
    package = make_package(app)
    with app.app_context():
        row = transmit(package["id"], receiver.url("/inbox"))
        assert (row.status, row.detail) == (TransmissionStatus.FAILED, "ConnectError")
    assert receiver.requests == [] and receiver.failed_handshakes == 1


def test_a_closed_port_fails(test_config):
    app = test_config
    package = make_package(app, payload_bytes=1000)
    with app.app_context():
        row = transmit(package["id"], f"https://localhost:{free_port()}/inbox")
        assert (row.status, row.detail) == (TransmissionStatus.FAILED, "ConnectError")
    [event] = events(app, package["case_id"])
    assert event.payload["status"] == "failed"


@pytest.mark.parametrize(("status", "scope", "code"), [
    (PackageStatus.READY, "portability", "not-released"),
    (PackageStatus.RELEASED, "access", "not-portability"),
])
def test_only_a_released_portability_package_is_sent(test_config, receiver, status, scope,
                                                      code):
    app = test_config
    package = make_package(app, status=status, scope=scope, payload_bytes=1000)
    with app.app_context():
        row = transmit(package["id"], receiver.url("/inbox"))
        assert (row.status, row.detail) == (TransmissionStatus.REFUSED, code)
    assert receiver.connections == 0
    assert len(events(app, package["case_id"])) == 1


def test_an_expired_download_period_is_refused(test_config, receiver):
    app = test_config
    package = make_package(app, payload_bytes=1000)
    with app.app_context():
        db.session.get(ExportPackage, package["id"]).expires_at = utcnow() - timedelta(1)
        db.session.commit()
        row = transmit(package["id"], receiver.url("/inbox"))
        assert (row.status, row.detail) == (TransmissionStatus.REFUSED, "expired")
    assert receiver.connections == 0


def test_the_package_is_streamed_not_held_in_memory(test_config, receiver):
    app = test_config
    size = 8 * 1024 * 1024
    package = make_package(app, raw=os.urandom(size))
    with app.app_context():
        tracemalloc.start()
        try:
            row = transmit(package["id"], receiver.url("/inbox"))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert row.status is TransmissionStatus.SENT
    assert receiver.requests[0].sha256 == package["sha256"]
    assert peak < size / 4, f"peak {peak} bytes for an {size}-byte package"
