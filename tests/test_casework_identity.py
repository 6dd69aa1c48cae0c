"""Identity decisions (issue 3, legal rules §3), through the real pages: verifying deletes the proof
and keeps only the decision, unless verified by the document itself, which needs a note.
"""

from __future__ import annotations

from markupsafe import escape

from dsar.core import storage
from dsar.extensions import db
from dsar.models import CaseStatus, IdentityProof
from tests.support.casework import (
    RECEIVED,
    add_proof,
    blob_files,
    case_state,
    fetch,
    refused,
    set_today,
    staff_session,
)
from tests.support.staff import make_case, post_action


def test_verifying_identity_deletes_the_proof_and_keeps_only_the_decision(app):
    case = make_case(app, received_on=RECEIVED)
    proof_id, blob_id = add_proof(app, case.id)
    agent, client = staff_session(app, "agent")
    set_today(app, "2025-03-10")

    resp = post_action(client, case.reference, "verify",
                       {"method": "document", "note": "Passport, name and birth date match."})

    assert resp.status_code == 302
    verified = fetch(app, case.id)
    assert verified.status is CaseStatus.VERIFIED
    assert verified.identity_verified_at is not None
    expected = (f"checked on 2025-03-10 by staff {agent.id}, method document: "
                "Passport, name and birth date match.")
    assert verified.identity_note == expected
    with app.app_context():
        assert not storage.exists(blob_id)
        proof = db.session.get(IdentityProof, proof_id)
        assert proof.blob_id is None and proof.deleted_at is not None
        assert proof.decision_note == expected
    assert blob_files(app) == []
    # The document can no longer be opened; the case page says what remains.
    assert client.get(f"/staff/cases/{case.reference}/proofs/{proof_id}").status_code == 404
    page = client.get(f"/staff/cases/{case.reference}").get_data(as_text=True)
    # In words, in the staff member's language (English here), with their name.
    assert str(escape("checked on March 10, 2025 by Agent (Document): Passport, name and "
                      "birth date match.")) in page


def test_verifying_by_document_needs_a_note_and_keeps_the_proof(app):
    case = make_case(app, received_on=RECEIVED)
    proof_id, blob_id = add_proof(app, case.id)
    _, client = staff_session(app, "agent")
    before = case_state(app, case.id)

    resp = post_action(client, case.reference, "verify", {"method": "document", "note": ""})

    assert refused(resp, "verify")
    assert case_state(app, case.id) == before
    with app.app_context():
        assert storage.exists(blob_id)
        assert db.session.get(IdentityProof, proof_id).blob_id == blob_id
