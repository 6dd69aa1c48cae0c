"""A filing whose randomly drawn reference is already taken: the portal does not look the
reference up before writing the case, the database's unique reference refuses the second one,
and the filing draws again."""

from __future__ import annotations

import io
from pathlib import Path

from sqlalchemy import func, select

from dsar.cases import intake
from dsar.core import storage, tokens
from dsar.extensions import db
from dsar.models import AuditEvent, Case, IdentityProof, OutboundEmail
from tests.support.casework import PDF
from tests.support.forms import access_form, post_form


def _draws(monkeypatch, references: list[str]) -> list[str]:
    """Make the filing draw ``references`` in turn; returns the list of those drawn."""
    drawn = []

    def draw() -> str:
        drawn.append(references[len(drawn)])
        return drawn[-1]

    monkeypatch.setattr(intake, "new_reference", draw)
    return drawn


def _stored_files(app) -> list[Path]:
    return [p for p in Path(app.config["STORAGE_DIR"]).rglob("*") if p.is_file()]


def test_a_reference_already_taken_is_drawn_again_and_nothing_is_lost(app, client,
                                                                       monkeypatch):
    assert post_form(client, "/request/access", access_form()).status_code == 302
    with app.app_context():
        taken = db.session.scalar(select(Case.reference))
    fresh = tokens.new_reference()
    drawn = _draws(monkeypatch, [taken, fresh])
    payload = PDF + b"% second requester\n%%EOF\n"
    resp = post_form(client, "/request/access", access_form(
        email="louise.bernard@example.fr", proof=(io.BytesIO(payload), "id.pdf")))
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/request/sent")
    assert drawn == [taken, fresh]
    with app.app_context():
        case = db.session.scalar(select(Case).where(Case.reference == fresh))
        assert case.requester_email == "louise.bernard@example.fr"
        # The first requester's case is untouched; the second has its document, its e-mail
        # and its audit event, once each.
        assert db.session.scalar(select(func.count(Case.id))) == 2
        proof = db.session.scalars(select(IdentityProof)).one()
        assert proof.case_id == case.id and storage.get(proof.blob_id) == payload
        assert db.session.scalar(select(func.count(OutboundEmail.id))
                                 .where(OutboundEmail.case_id == case.id)) == 1
        assert db.session.scalars(select(AuditEvent.action)
                                  .where(AuditEvent.case_id == case.id)).all() == ["case.created"]
    assert len(_stored_files(app)) == 1
    page = client.get("/request/sent")
    assert fresh in page.get_data(as_text=True)


def test_a_filing_that_never_draws_a_free_reference_keeps_no_document(app, client,
                                                                       monkeypatch):
    assert post_form(client, "/request/access", access_form()).status_code == 302
    with app.app_context():
        taken = db.session.scalar(select(Case.reference))
    drawn = _draws(monkeypatch, [taken] * intake.REFERENCE_DRAWS)
    app.config["PROPAGATE_EXCEPTIONS"] = False  # the error page a visitor would get
    resp = post_form(client, "/request/access", access_form(
        email="louise.bernard@example.fr", proof=(io.BytesIO(PDF), "id.pdf")))
    assert resp.status_code == 500
    assert len(drawn) == intake.REFERENCE_DRAWS
    with app.app_context():
        assert db.session.scalar(select(func.count(Case.id))) == 1
        assert db.session.scalar(select(func.count(IdentityProof.id))) == 0
    assert _stored_files(app) == []
