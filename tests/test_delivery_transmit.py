"""A portability answer goes, on release, straight to the receiving controller the person named
(Art. 20(2)): through the real queue to a real HTTPS receiver, or refused when the address is a
local one outside the test configuration."""

from __future__ import annotations

from dsar.extensions import db
from dsar.models import Case, CaseKind, Transmission, TransmissionStatus
from tests.support.app import detached_rows
from tests.support.delivery import latest_package, release, requester
from tests.support.gathering import start, verified_case
from tests.support.staff import login, make_staff, post_action
from tests.support.workers import run_queued_jobs


def portability_case_in_review(app, endpoint: str) -> Case:
    case = verified_case(app, kind=CaseKind.PORTABILITY)
    with app.app_context():
        row = db.session.get(Case, case.id)
        row.details = {"receiving_controller": "Autre Organisme",
                       "receiving_endpoint": endpoint}
        db.session.commit()
    start(app, case.id)
    assert run_queued_jobs(app) == 0
    return case


def transmissions(app, case_id: int) -> list[Transmission]:
    return detached_rows(app, Transmission, Transmission.case_id == case_id)


def test_on_release_the_package_is_sent_to_the_receiving_controller(
        gather_app, pki, receiver):
    gather_app.config.update(TRANSMIT_ALLOW_PRIVATE=True, TRANSMIT_CA_FILE=str(pki.ca_file))
    case = portability_case_in_review(gather_app, receiver.url("/import?account=42"))
    package = latest_package(gather_app, case.id)
    assert package.scope == "portability"
    assert release(gather_app, case).status_code == 302
    assert run_queued_jobs(gather_app) == 0

    [received] = receiver.requests
    assert received.sha256 == package.sha256 and received.size == package.size
    [sent] = transmissions(gather_app, case.id)
    assert (sent.status, sent.http_status, sent.host) == (TransmissionStatus.SENT, 200,
                                                          "localhost")

    # The DPO sees the outcome; sending again does not send twice.
    dpo = make_staff(gather_app, "dpo", email="dpo-transmit@staff.example")
    client = gather_app.test_client()
    login(client, dpo)
    page = client.get(f"/staff/cases/{case.reference}").get_data(as_text=True)
    assert f'id="transmission-{sent.id}" data-status="sent"' in page
    assert post_action(client, case.reference, "transmit").status_code == 302
    assert run_queued_jobs(gather_app) == 0
    assert len(receiver.requests) == 1 and len(transmissions(gather_app, case.id)) == 1


def test_a_local_receiving_address_is_refused_outside_test_configuration(
        gather_app, receiver, smtp_server):
    case = portability_case_in_review(gather_app, receiver.url("/import"))
    assert release(gather_app, case).status_code == 302
    assert run_queued_jobs(gather_app) == 0
    assert receiver.connections == 0
    [refused] = transmissions(gather_app, case.id)
    assert (refused.status, refused.detail) == (TransmissionStatus.REFUSED, "private-address")
    # The person learns it on their status page, and can still download the answer.
    browser = requester(gather_app, smtp_server)
    page = browser.get(f"/status/{case.reference}").get_data(as_text=True)
    assert "n’ont pas pu être transmises" in page and 'id="download-link"' in page
