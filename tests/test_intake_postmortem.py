"""Filing a request to exercise a deceased person's rights (Loi Informatique et Libertés,
art. 85; décret 2019-536, art. 124): the deceased's identity, and each proof in a field of its
own, checked like every upload; bad input refused with nothing stored."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import select

from dsar.cases import staff_actions
from dsar.cases.workflow import transition
from dsar.core import storage
from dsar.extensions import db
from dsar.models import ActorType, Case, CaseStatus, IdentityProof, StaffUser
from tests.support.casework import PDF
from tests.support.forms import access_form, post_form
from tests.support.portal import execution_documents, nothing_stored
from tests.support.staff import make_staff

#: A deceased person's request as the form takes it, but the documents.
HEIR = {"deceased_name": "Jean Martin", "date_of_death": "2026-01-15", "requester_role": "heir",
        "heir_requests": ["estate_information"]}


@pytest.mark.parametrize(
    ("extras", "field"),
    [
        ({**HEIR, "date_of_death": "2999-01-01"}, "date_of_death"),
        (HEIR, "death_certificate"),
        (HEIR, "requester_identity"),
        (HEIR, "heir_document"),
        # An heir says what they ask among what the law allows heirs (art. 85 II).
        ({**HEIR, "deceased_email": "jean.martin@example.fr", "date_of_birth": "1941-05-02",
          "heir_requests": []}, "heir_requests"),
        ({**HEIR, "deceased_email": "jean.martin@example.fr", "date_of_birth": "1941-05-02",
          "heir_requests": ["read_everything"]}, "heir_requests"),
        # The deceased's identifiers: the search will run on them, never on the requester's.
        (HEIR, "deceased_email"),
        ({**HEIR, "deceased_email": "pas-une-adresse"}, "deceased_email"),
        (HEIR, "date_of_birth"),
        ({**HEIR, "deceased_email": "jean.martin@example.fr", "date_of_birth": "2026-02-01"},
         "date_of_death"),
    ],
)
def test_missing_or_wrong_fields_are_refused_and_nothing_is_stored(app, client, extras, field):
    resp = post_form(client, "/request/postmortem_execution", access_form(**extras))
    assert resp.status_code == 400
    assert f'id="{field}-error"' in resp.get_data(as_text=True)
    assert nothing_stored(app)


EXECUTION = {"deceased_name": "Jean Martin", "deceased_email": "jean.martin@example.fr",
             "date_of_birth": "1941-05-02", "date_of_death": "2026-01-15",
             "heir_requests": ["estate_information", "record_death"]}


def test_an_heir_sends_each_proof_in_its_own_labelled_field(app, client):
    """Décret 2019-536, art. 124: the death certificate, the requester's identity and, for an
    heir, the acte de notoriété or livret de famille: three documents, each stored encrypted
    as its own proof, with what it proves."""
    data = access_form(**EXECUTION, requester_role="heir", **execution_documents())
    resp = post_form(client, "/request/postmortem_execution", data)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    with app.app_context():
        proofs = db.session.scalars(select(IdentityProof)).all()
        assert sorted(p.kind.value for p in proofs) == ["death_certificate", "heir_status",
                                                        "identity"]
        assert all(storage.get(p.blob_id) == PDF for p in proofs)


def test_the_designated_person_needs_no_proof_of_being_an_heir(app, client):
    data = access_form(**EXECUTION, requester_role="designated_person",
                       **execution_documents(heir=False))
    resp = post_form(client, "/request/postmortem_execution", data)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    with app.app_context():
        assert sorted(p.kind.value for p in db.session.scalars(select(IdentityProof))) == [
            "death_certificate", "identity"]


def test_one_bad_document_refuses_the_request_and_stores_none_of_them(app, client):
    """Each document is checked by content like the general one: a text file sent as an
    identity document is refused on its own field, and the two good PDFs are not kept."""
    client.get("/language/en")
    documents = execution_documents()
    documents["requester_identity"] = (io.BytesIO(b"not a document at all"), "identite.pdf")
    resp = post_form(client, "/request/postmortem_execution",
                     access_form(**EXECUTION, requester_role="heir", **documents))
    assert resp.status_code == 400
    page = resp.get_data(as_text=True)
    assert "not a PDF, JPEG or PNG" in page.split('id="requester_identity-error"')[1]
    assert nothing_stored(app)
    assert not any(p.is_file() for p in Path(app.config["STORAGE_DIR"]).rglob("*"))


def test_every_document_is_deleted_once_staff_have_decided(app, client):
    """After the identity decision no proof document remains in storage: each one only
    keeps the note of what was checked."""
    resp = post_form(client, "/request/postmortem_execution",
                     access_form(**EXECUTION, requester_role="heir", **execution_documents()))
    assert resp.status_code == 302
    staff = make_staff(app, "agent", email="agent-docs@staff.example")
    with app.test_request_context():
        case = db.session.scalars(select(Case)).one()
        transition(case, CaseStatus.CONFIRMED, actor_type=ActorType.REQUESTER)
        db.session.commit()
        staff_actions.verify_identity(case, db.session.get(StaffUser, staff.id), "document",
                                      "Acte de décès et acte de notoriété vus.",
                                      deceased={"deceased_email": "jean.martin@example.fr",
                                                "date_of_death": "2026-01-15"})
        proofs = db.session.scalars(select(IdentityProof)).all()
        assert len(proofs) == 3
        assert all(p.blob_id is None and p.decision_note for p in proofs)
    assert not any(p.is_file() for p in Path(app.config["STORAGE_DIR"]).rglob("*"))
