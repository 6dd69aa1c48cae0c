"""Requests from every channel (issue 16, D1): staff file a request received by post, e-mail,
telephone or in person with its real date of receipt, which the clock runs from; a past date
needs a note and its evidence; the person without an e-mail address gets a printable letter."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
from flask_babel import force_locale, format_date
from sqlalchemy import select

from dsar import deadlines
from dsar.cases.clock import today_in_paris
from dsar.core import storage
from dsar.core.uploads import EMAIL_TYPE, UploadRejected, check_upload
from dsar.extensions import db
from dsar.models import (
    AuditEvent,
    Case,
    CaseKind,
    CaseStatus,
    Channel,
    MailTemplate,
    OutboundEmail,
    ProofKind,
    StaffRole,
)
from tests.support.casework import EXE, PDF
from tests.support.forms import csrf_from
from tests.support.portal import nothing_stored
from tests.support.staff import login, make_staff
from tests.test_certificate import read, squeeze

#: A letter's scan (any real PDF will do: the content is sniffed, never the name).
SCAN = PDF.replace(b"trailer", b"%SCANNED-LETTER-MARKER\ntrailer")
EML = (b"Return-Path: <camille.martin@example.fr>\r\n"
       b"From: Camille Martin <camille.martin@example.fr>\r\n"
       b"To: dpo@example.org\r\n"
       b"Subject: Demande d'acces a mes donnees\r\n"
       b"Date: Mon, 3 Mar 2025 09:14:00 +0100\r\n"
       b"Message-ID: <abc@example.fr>\r\n"
       b"Content-Type: text/plain; charset=utf-8\r\n"
       b"\r\n"
       b"Bonjour, je souhaite acceder a mes donnees.\r\n")


@pytest.fixture
def agent(app, client):
    """An agent signed in, in English (the messages' source strings)."""
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    staff = make_staff(app, StaffRole.AGENT)
    login(client, staff)
    return staff


def form(client, **changes) -> dict:
    """The filing form as staff fill it for a letter received last week, with its scan."""
    token = csrf_from(client.get("/staff/cases/new").get_data(as_text=True))
    data = {
        "csrf_token": token, "kind": "access", "channel": "post",
        "received_on": (today_in_paris() - timedelta(days=7)).isoformat(),
        "channel_note": "Lettre recommandée reçue au siège",
        "evidence": (io.BytesIO(SCAN), "scan.pdf"),
        "requester_name": "Camille Martin", "requester_email": "",
        "postal_address": "12 rue des Lilas\n69003 Lyon", "language": "fr",
        "message": "Je demande la copie de mes données.",
        "documents": [(io.BytesIO(PDF), "piece-identite.pdf")],
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def post(client, data):
    return client.post("/staff/cases/new", data=data, content_type="multipart/form-data")


def the_case() -> Case:
    return db.session.scalars(select(Case)).one()


def test_a_letter_received_last_week_runs_from_its_date_with_its_scan_and_a_letter(
        app, client, agent):
    received = today_in_paris() - timedelta(days=7)
    resp = post(client, form(client))
    assert resp.status_code == 302, resp.get_data(as_text=True)
    with app.app_context():
        case = the_case()
        assert resp.location.endswith(f"/staff/cases/{case.reference}")
        assert (case.channel, case.status) == (Channel.POST, CaseStatus.SUBMITTED)
        assert case.received_on == received
        assert case.due_on == deadlines.effective_due_date(received, today=received,
                                                         calendar=case.calendar)
        assert case.due_on < deadlines.effective_due_date(today_in_paris(), today=received,
                                                          calendar=case.calendar)
        assert case.message == "Je demande la copie de mes données."
        assert case.details["postal_address"] == "12 rue des Lilas\n69003 Lyon"
        # The scan: labelled as the evidence, stored encrypted; the enclosure as a document.
        proofs = {p.kind: p for p in case.proofs}
        assert set(proofs) == {ProofKind.EVIDENCE, ProofKind.OTHER}
        evidence = proofs[ProofKind.EVIDENCE]
        assert storage.get(evidence.blob_id) == SCAN
        files = [p for p in Path(app.config["STORAGE_DIR"]).rglob("*") if p.is_file()]
        assert len(files) == 2
        assert not any(b"SCANNED-LETTER-MARKER" in f.read_bytes() for f in files)
        [event] = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "case.filed_by_staff")).all()
        assert event.payload == {"channel": "post", "backdated_days": 7}
        assert (event.actor_id, event.case_id) == (str(agent.id), case.id)
        # No address: nothing is e-mailed; staff may verify the identity by other means.
        assert db.session.scalars(select(OutboundEmail)).all() == []
        reference, due_on = case.reference, case.due_on
        with app.test_request_context(), force_locale("fr"):
            due_fr, received_fr = format_date(due_on, "long"), format_date(received, "long")

    page = client.get(f"/staff/cases/{reference}").get_data(as_text=True)
    assert "Evidence of the date of receipt" in page

    pdf = client.get(f"/staff/cases/{reference}/acknowledgement.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    _, text = read(pdf.data)
    assert squeeze(reference) in text
    assert squeeze(due_fr) in text and squeeze(received_fr) in text
    assert squeeze("69003 Lyon") in text
    with app.app_context():
        viewed = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "acknowledgement.viewed")).all()
        assert [(e.case_id, e.actor_id) for e in viewed] == [(the_case().id, str(agent.id))]

    # Verified by other means, straight from submitted (there is no link to confirm).
    token = csrf_from(page)
    resp = client.post(f"/staff/cases/{reference}/verify", data={
        "csrf_token": token, "method": "document", "note": "Pièce d'identité jointe au courrier"})
    assert resp.status_code == 302
    with app.app_context():
        assert the_case().status is CaseStatus.VERIFIED
        # The identity decided, the enclosure goes; the evidence of the date of receipt
        # (when the clock started) stays, until the retention period's purge.
        kept = {p.kind: p.blob_id for p in the_case().proofs}
        assert kept[ProofKind.OTHER] is None
        assert storage.get(kept[ProofKind.EVIDENCE]) == SCAN


def test_an_emailed_request_is_confirmed_by_the_usual_link(app, client, agent, run_jobs,
                                                           smtp_server):
    received = today_in_paris() - timedelta(days=2)
    resp = post(client, form(client, channel="email", received_on=received.isoformat(),
                             channel_note="Reçu sur dpo@example.org",
                             evidence=(io.BytesIO(EML), "demande.eml"),
                             requester_email="camille.martin@example.fr"))
    assert resp.status_code == 302, resp.get_data(as_text=True)
    with app.app_context():
        case = the_case()
        assert (case.channel, case.received_on) == (Channel.EMAIL, received)
        evidence = next(p for p in case.proofs if p.kind is ProofKind.EVIDENCE)
        assert evidence.content_type == EMAIL_TYPE
        assert [m.template for m in db.session.scalars(select(OutboundEmail))] == [
            MailTemplate.CONFIRM_EMAIL]
    assert run_jobs() == 0
    message = smtp_server.last_to("camille.martin@example.fr")
    confirm = next(u for u in smtp_server.links(message) if "/confirm/" in u)
    path = confirm.removeprefix("http://localhost")
    requester = app.test_client()
    page = requester.get(path)
    requester.post(path, data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    with app.app_context():
        assert the_case().status is CaseStatus.CONFIRMED
    # Not verifiable before its address is confirmed, as a portal request.
    with app.app_context():
        from dsar.cases.workflow import move_allowed
        case = the_case()
        case.status = CaseStatus.SUBMITTED
        assert not move_allowed(case, CaseStatus.VERIFIED)
        db.session.rollback()


def test_filed_today_needs_no_note_nor_evidence(app, client, agent):
    resp = post(client, form(client, received_on=today_in_paris().isoformat(),
                             channel="phone", channel_note="", evidence=None))
    assert resp.status_code == 302
    with app.app_context():
        case = the_case()
        assert (case.received_on, case.channel) == (today_in_paris(), Channel.PHONE)


@pytest.mark.parametrize(("changes", "field"), [
    ({"received_on": (today_in_paris() + timedelta(days=1)).isoformat()}, "received_on"),
    ({"received_on": "14/03/2025"}, "received_on"),
    ({"channel_note": ""}, "channel_note"),
    ({"evidence": None}, "evidence"),
    ({"evidence": (io.BytesIO(EXE), "scan.pdf")}, "evidence"),
    ({"evidence": (io.BytesIO(b"From: x\r\nno date header\r\n\r\nbody"), "mail.eml")},
     "evidence"),
    ({"documents": [(io.BytesIO(PDF), "a.pdf"), (io.BytesIO(EML), "b.eml")]}, "documents"),
    ({"channel": "email", "requester_email": ""}, "requester_email"),
    ({"requester_name": ""}, "requester_name"),
    ({"channel": "portal"}, "channel"),
])
def test_bad_input_is_refused_at_its_field_with_nothing_stored(app, client, agent, changes,
                                                               field):
    resp = post(client, form(client, **changes))
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert f'id="{field}-error"' in html
    assert nothing_stored(app)
    assert not any(p.is_file() for p in Path(app.config["STORAGE_DIR"]).rglob("*"))


def test_an_eml_is_evidence_only_where_staff_attach_it():
    assert check_upload(EML, max_bytes=10_000, email=True) == EMAIL_TYPE
    assert check_upload(EML.replace(b"\r\n", b"\n"), max_bytes=10_000, email=True) == EMAIL_TYPE
    with pytest.raises(UploadRejected):
        check_upload(EML, max_bytes=10_000)  # the portal's check: never an e-mail
    with pytest.raises(UploadRejected) as too_large:
        check_upload(EML, max_bytes=100, email=True)
    assert too_large.value.code == "too_large"
    with pytest.raises(UploadRejected):
        check_upload(b"Hello: world\n\nno From nor Date", max_bytes=10_000, email=True)


def test_the_dashboard_filters_by_channel(app, client, agent):
    assert post(client, form(client)).status_code == 302
    assert post(client, form(client, channel="in_person", channel_note="Remise à l'accueil",
                             requester_name="Jean Dupont")).status_code == 302
    with app.app_context():
        by_channel = {c.channel: c.reference for c in db.session.scalars(select(Case))}
    page = client.get("/staff/").get_data(as_text=True)
    assert 'id="file-request-link"' in page
    assert all(reference in page for reference in by_channel.values())
    page = client.get("/staff/?channel=in_person").get_data(as_text=True)
    assert by_channel[Channel.IN_PERSON] in page and by_channel[Channel.POST] not in page
    page = client.get("/staff/?channel=portal").get_data(as_text=True)
    assert 'id="no-cases"' in page
    # The case page of a request handed over in person opens (its channel is known).
    assert client.get(f"/staff/cases/{by_channel[Channel.IN_PERSON]}").status_code == 200



def test_a_request_without_an_address_is_neither_searched_nor_questioned_by_e_mail(app):
    """Without an e-mail address there is nothing to search our systems by (an empty search
    would read as "we hold nothing about you") and no link to answer a question by (the
    clock would stay paused): both are refused, and not offered; the extension stays."""
    from dsar.cases.workflow import create_case
    from tests.support.staff import post_action

    with app.app_context():
        case = create_case(kind=CaseKind.ACCESS, requester_name="Paul Durand",
                           requester_email="", language="fr", channel=Channel.POST)
        db.session.commit()
        reference = case.reference
    dpo = app.test_client()
    login(dpo, make_staff(app, "dpo", email="dpo-noaddress@staff.example"))
    assert post_action(dpo, reference, "verify", {"method": "document",
                                                  "note": "Pièce jointe au courrier"}
                       ).status_code == 302
    page = dpo.get(f"/staff/cases/{reference}").get_data(as_text=True)
    assert 'id="start"' not in page and 'id="ask"' not in page and 'id="extend"' in page
    assert post_action(dpo, reference, "start", {}).status_code == 400
    assert post_action(dpo, reference, "ask", {"question": "Quel contrat ?",
                                               "doubt": "Nom différent"}).status_code == 400
    with app.app_context():
        assert db.session.scalar(select(Case).where(
            Case.reference == reference)).status is CaseStatus.VERIFIED
