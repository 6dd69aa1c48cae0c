"""Running an erasure's step again, as a retry after a lost answer would, to check that a
second run changes nothing and reports the same totals."""

from __future__ import annotations

from sqlalchemy import select

from dsar.changes.execution import carry_out_step
from dsar.extensions import db
from dsar.models import Case, CaseStatus, ChangeStep, StepStatus


def run_step_again(app, case_id: int, source: str) -> tuple[list, list]:
    """The step's outcome after its first run, and after running it again (the case put back
    in execution, the step pending)."""
    with app.app_context():
        step = db.session.scalar(select(ChangeStep).where(ChangeStep.case_id == case_id,
                                                          ChangeStep.source == source))
        first = step.outcome
        db.session.get(Case, case_id).status = CaseStatus.EXECUTING
        step.status = StepStatus.PENDING
        db.session.commit()
        assert carry_out_step(case_id, source) == "done"
        again = db.session.scalar(select(ChangeStep.outcome).where(
            ChangeStep.case_id == case_id, ChangeStep.source == source))
    return first, again
