"""The audit trail in the tests: cases whose life wrote events, and the events of an action."""

from __future__ import annotations

from dsar.cases.workflow import create_case, transition
from dsar.extensions import db
from dsar.models import ActorType, AuditEvent, CaseKind, CaseStatus
from tests.support.app import detached_rows


def make_events(app, n_cases: int = 3) -> list[int]:
    """``n_cases`` cases created and confirmed (two events each); returns their ids."""
    with app.app_context():
        ids = []
        for i in range(n_cases):
            case = create_case(kind=CaseKind.ACCESS, requester_name="Camille Martin",
                               requester_email=f"c{i}@example.fr", language="fr")
            transition(case, CaseStatus.CONFIRMED, actor_type=ActorType.REQUESTER)
            ids.append(case.id)
        db.session.commit()
        return ids


def audit_events(app, action: str) -> list[AuditEvent]:
    """The events of ``action``, oldest first (detached)."""
    return detached_rows(app, AuditEvent, AuditEvent.action == action)
