"""Repeat requests (issue 3): linked to the open original of the same person and kind, refused
otherwise.
"""

from __future__ import annotations

import pytest

from dsar.models import CaseKind, CaseStatus
from tests.support.audit import audit_events
from tests.support.casework import case_state, fetch, refused, staff_session
from tests.support.staff import make_case, post_action


def test_repeat_request_is_linked_to_the_open_original(app):
    original = make_case(app, email="Camille.Martin@Example.fr")
    repeat = make_case(app)
    _, client = staff_session(app, "agent")

    resp = post_action(client, repeat.reference, "duplicate",
                       {"original": original.reference.lower()})

    assert resp.status_code == 302
    assert fetch(app, repeat.id).duplicate_of_id == original.id
    [event] = audit_events(app, "case.duplicate_linked")
    assert event.case_id == repeat.id and event.payload == {"original_case_id": original.id}


@pytest.mark.parametrize("original", [
    dict(email="someone.else@example.fr"),
    dict(kind=CaseKind.ERASURE),
    dict(status=CaseStatus.WITHDRAWN),
    None,  # no such case
    "itself",
], ids=["another-person", "another-kind", "closed-original", "unknown-reference", "itself"])
def test_duplicate_link_is_refused_unless_same_person_kind_and_open(app, original):
    repeat = make_case(app)
    if original is None:
        reference = "DSR-2345-6789"
    elif original == "itself":
        reference = repeat.reference
    else:
        reference = make_case(app, **original).reference
    _, client = staff_session(app, "agent")
    before = case_state(app, repeat.id)

    resp = post_action(client, repeat.reference, "duplicate", {"original": reference})

    assert refused(resp, "duplicate")
    assert reference in resp.get_data(as_text=True)  # what was typed is kept
    assert case_state(app, repeat.id) == before
    assert audit_events(app, "case.duplicate_linked") == []
