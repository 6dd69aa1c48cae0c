"""A filing whose randomly drawn reference is already taken: the portal does not look the
reference up before writing the case, the database's unique reference refuses the second one,
and the filing draws again."""

from __future__ import annotations

import io
from pathlib import Path

from sqlalchemy import func, insert, select

from dsar.cases import intake
from dsar.core import storage, tokens
from dsar.extensions import db
from dsar.models import ActorType, AuditEvent, Case, IdentityProof, OutboundEmail
from dsar.models.types import utcnow
from tests.support.casework import PDF
from tests.support.forms import access_form, post_form
from tests.support.portal import nothing_stored


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


def _deletions(monkeypatch) -> list[str]:
    """Record the blobs the filing deletes (and delete them)."""
    deleted = []
    delete = storage.delete

    def record(blob_id: str) -> None:
        deleted.append(blob_id)
        delete(blob_id)

    monkeypatch.setattr(storage, "delete", record)
    return deleted


def _file_with_a_document(app, client):
    app.config["PROPAGATE_EXCEPTIONS"] = False  # the error page a visitor would get
    return post_form(client, "/request/access", access_form(
        email="louise.bernard@example.fr", proof=(io.BytesIO(PDF), "id.pdf")))


def test_a_filing_that_never_draws_a_free_reference_keeps_no_document(app, client,
                                                                       monkeypatch):
    assert post_form(client, "/request/access", access_form()).status_code == 302
    with app.app_context():
        taken = db.session.scalar(select(Case.reference))
    drawn = _draws(monkeypatch, [taken] * intake.REFERENCE_DRAWS)
    deleted = _deletions(monkeypatch)
    assert _file_with_a_document(app, client).status_code == 500
    assert len(drawn) == intake.REFERENCE_DRAWS
    # The one document stored was deleted once, after the last draw.
    assert len(deleted) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count(Case.id))) == 1
        assert db.session.scalar(select(func.count(IdentityProof.id))) == 0
    assert _stored_files(app) == []


def test_another_conflict_is_not_taken_for_a_reference_already_in_use(app, client,
                                                                       monkeypatch):
    """Only the reference's own constraint makes the filing draw again; any other refusal of
    the database fails the filing at once, its document deleted."""
    drawn = _draws(monkeypatch, [tokens.new_reference() for _ in range(intake.REFERENCE_DRAWS)])
    deleted = _deletions(monkeypatch)

    def conflict(case, proofs):
        # The audit chain's own unique link, as a race between two writers would break it.
        db.session.execute(insert(AuditEvent).values(
            actor_type=ActorType.SYSTEM, action="test.conflict", payload={},
            created_at=utcnow(), prev_hash="x" * 64, row_hash="y" * 64))
        db.session.execute(insert(AuditEvent).values(
            actor_type=ActorType.SYSTEM, action="test.conflict", payload={},
            created_at=utcnow(), prev_hash="x" * 64, row_hash="z" * 64))

    monkeypatch.setattr(intake, "record_created", conflict)
    assert _file_with_a_document(app, client).status_code == 500
    assert len(drawn) == 1 and len(deleted) == 1
    assert nothing_stored(app) and _stored_files(app) == []
