"""Cases, proofs, dates and the requester's side of a question, for the tests of staff
actions (the worked example: received Wednesday 2025-03-05, due Monday 2025-04-07)."""

from __future__ import annotations

from datetime import date
from io import BytesIO
from pathlib import Path

from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from dsar.core import storage
from dsar.extensions import db
from dsar.models import (
    Case,
    ClockPause,
    IdentityProof,
    InfoRequest,
    OutboundEmail,
    ProofKind,
    StaffRole,
)
from tests.support.app import detached_rows
from tests.support.forms import csrf_from, path_of
from tests.support.staff import login, make_staff, post_action

RECEIVED = date(2025, 3, 5)
DUE = date(2025, 4, 7)  # 2025-04-05 is a Saturday (D3, D4)
EXTENDED_DUE = date(2025, 6, 5)  # receipt + 3 months (D7), a Thursday
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + (
    b"This program cannot be run in DOS mode.\r\r\n$")
QUESTION = "Please give the contract number printed on your last invoice."


def staff_session(app, role: StaffRole | str):
    """A staff member of ``role`` signed in (in English) on a client of their own."""
    staff = make_staff(app, role)
    client = app.test_client()
    client.get("/language/en")
    login(client, staff)
    return staff, client


def fetch(app, case_id: int) -> Case:
    """The case as stored now (detached)."""
    with app.app_context():
        case = db.session.get(Case, case_id)
        db.session.expunge(case)
        return case


def case_state(app, case_id: int) -> dict:
    """Every column of the case, and how many notes, questions, pauses, proofs and e-mails it
    has: what "nothing changed" compares."""
    with app.app_context():
        case = db.session.get(Case, case_id)
        state = {c.key: getattr(case, c.key) for c in Case.__mapper__.column_attrs}
        for model in (InfoRequest, ClockPause, IdentityProof, OutboundEmail):
            state[model.__tablename__] = db.session.scalar(
                select(func.count()).select_from(model).where(model.case_id == case_id))
        return state


def set_today(app, day: str) -> None:
    """Pin the legal clock of ``app`` to ``day`` (ISO date)."""
    app.config["CLOCK_TODAY"] = day


def requester_emails(app, case_id: int) -> list[OutboundEmail]:
    """The e-mails to the requester about the case, oldest first (detached)."""
    return detached_rows(app, OutboundEmail, OutboundEmail.case_id == case_id,
                         OutboundEmail.recipient_staff_id.is_(None))


def add_proof(app, case_id: int, data: bytes = PDF,
              content_type: str = "application/pdf") -> tuple[int, str]:
    """An identity proof of ``data`` stored for the case, recorded as ``content_type``;
    returns its id and blob id."""
    with app.app_context():
        blob = storage.put(data)
        proof = IdentityProof(case_id=case_id, kind=ProofKind.IDENTITY, blob_id=blob.blob_id,
                              size=blob.size, sha256=blob.sha256, content_type=content_type)
        db.session.add(proof)
        db.session.commit()
        return proof.id, blob.blob_id


def blob_files(app) -> list[Path]:
    """Every file of the blob store."""
    root = Path(app.config["STORAGE_DIR"])
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def refused(resp, action: str) -> str:
    """The 400 case page of a refused action; returns its error message."""
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400, html[:500]
    marker = f'id="{action}-error">'
    assert marker in html, f"no error shown at the {action} form"
    return html.split(marker, 1)[1].split("</p>", 1)[0]


def open_status_link(app, url: str):
    """The requester follows the e-mailed link in a fresh browser (in English)."""
    requester = app.test_client()
    requester.get("/language/en")
    resp = requester.get(path_of(url))
    assert resp.status_code == 302
    return requester, resp.location


def post_answer(client, reference: str, answer: str, upload: tuple[bytes, str] | None = None):
    """Answer the open question from the status page: text and an optional file, multipart."""
    page = client.get(f"/status/{reference}")
    assert page.status_code == 200
    payload = {"csrf_token": csrf_from(page.get_data(as_text=True)), "answer": answer}
    if upload is not None:
        payload["proof"] = FileStorage(BytesIO(upload[0]), filename=upload[1])
    boundary, body = encode_multipart(payload)
    return client.post(f"/status/{reference}/answer", data=body,
                       content_type=f"multipart/form-data; boundary={boundary}")


#: Why staff doubt the requester's identity (what pauses the clock, D8).
DOUBT = "Le nom donné ne correspond pas à celui du compte client."


def ask(app, client, case, run_jobs, smtp_server, question: str = QUESTION,
        doubt: str | None = DOUBT) -> str:
    """Staff ask ``question`` — with a reasonable doubt about identity (``doubt``: the clock
    pauses) unless ``doubt`` is None; the requester's e-mail is sent. Returns its status
    link."""
    resp = post_action(client, case.reference, "ask", {"question": question,
                                                       **({"doubt": doubt} if doubt else {})})
    assert resp.status_code == 302
    assert run_jobs() == 0
    mail = smtp_server.last_to(case.requester_email)
    return next(u for u in smtp_server.links(mail) if "/status/" in u)
