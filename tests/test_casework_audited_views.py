"""Reading is audited (issue 3): every view of a case page and of a proof writes an audit event;
a proof of another case is neither shown nor audited.
"""

from __future__ import annotations

import pytest

from tests.support.audit import audit_events
from tests.support.casework import PDF, add_proof, staff_session
from tests.support.staff import make_case


@pytest.mark.parametrize("role", ["agent", "dpo", "auditor"])
def test_every_view_of_a_case_page_is_audited(app, role):
    case = make_case(app)
    staff, client = staff_session(app, role)
    for _ in range(3):
        assert client.get(f"/staff/cases/{case.reference}").status_code == 200
    viewed = audit_events(app, "case.viewed")
    assert [(e.case_id, e.actor_id) for e in viewed] == [(case.id, str(staff.id))] * 3


def test_every_view_of_a_proof_is_audited(app):
    case = make_case(app)
    first, _ = add_proof(app, case.id)
    second, _ = add_proof(app, case.id, PDF + b"\n")
    staff, client = staff_session(app, "agent")
    for proof_id in (first, second, first):
        resp = client.get(f"/staff/cases/{case.reference}/proofs/{proof_id}")
        assert resp.status_code == 200
        assert resp.headers["Cache-Control"] == "no-store"
    viewed = audit_events(app, "proof.viewed")
    assert [(e.case_id, e.actor_id, e.payload) for e in viewed] == [
        (case.id, str(staff.id), {"proof_id": p}) for p in (first, second, first)]


def test_proof_of_another_case_is_not_shown_nor_audited(app):
    case, other = make_case(app), make_case(app, email="other@example.fr")
    foreign, _ = add_proof(app, other.id)
    _, client = staff_session(app, "agent")
    assert client.get(f"/staff/cases/{case.reference}/proofs/{foreign}").status_code == 404
    assert audit_events(app, "proof.viewed") == []
