"""Handing back the claim of work whose job is lost: a search or a plan's step a dead worker
held (docs/architecture.md, "How a job stays exactly-once")."""

from __future__ import annotations

from sqlalchemy import update

from dsar.extensions import db
from dsar.models.types import utcnow


def hand_back(model, *, case_id: int, source: str, attempts: int, running, pending) -> bool:
    """Void the claim of ``model``'s row (a search or a step) whose job is lost: back to
    ``pending``, by compare-and-set on the claim's number, so a result recorded meanwhile
    stands and the old job can no longer record one. Commits; whether it was handed back."""
    handed = db.session.execute(
        update(model).where(model.case_id == case_id, model.source == source,
                            model.status == running, model.attempts == attempts)
        .values(status=pending, lease_until=None, updated_at=utcnow())
        .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    return handed == 1
