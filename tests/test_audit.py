"""The hash-chained audit trail and ``dsar audit verify``."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, text, update

from dsar.audit import record_event, verify_chain
from dsar.cli import main
from dsar.extensions import db
from dsar.models import ActorType, AuditEvent, Case, CaseKind, CaseStatus
from dsar.workflow import InvalidTransition, create_case, transition


def make_events(app, n_cases: int = 3) -> list[int]:
    with app.app_context():
        ids = []
        for i in range(n_cases):
            case = create_case(kind=CaseKind.ACCESS, requester_name="Camille Martin",
                               requester_email=f"c{i}@example.fr", language="fr")
            transition(case, CaseStatus.CONFIRMED, actor_type=ActorType.REQUESTER)
            ids.append(case.id)
        db.session.commit()
        return ids


def verify(runner):
    return runner.invoke(main, ["audit", "verify"])


def test_creating_confirming_withdrawing_write_chained_events(app):
    make_events(app, 1)
    with app.app_context():
        case = db.session.scalars(select(Case)).one()
        transition(case, CaseStatus.WITHDRAWN, actor_type=ActorType.REQUESTER)
        db.session.commit()
        events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        assert [(e.action, e.payload.get("to")) for e in events] == [
            ("case.created", None),
            ("case.status_changed", "confirmed"),
            ("case.status_changed", "withdrawn"),
        ]
        for previous, event in zip(events, events[1:], strict=False):
            assert event.prev_hash == previous.row_hash
        assert verify_chain().ok


def test_verify_passes_on_an_intact_trail(app, runner):
    make_events(app)
    result = verify(runner)
    assert result.exit_code == 0, result.output
    assert "6 events" in result.output


@pytest.mark.parametrize("column, value", [
    ("action", "case.nothing_to_see"),
    ("actor_id", "999"),
    ("payload", {"from": "submitted", "to": "rejected"}),
    ("case_id", None),
])
def test_verify_fails_after_a_row_is_altered(app, runner, column, value):
    make_events(app)
    with app.app_context():
        target = db.session.scalars(select(AuditEvent.id).order_by(AuditEvent.id)).all()[2]
        db.session.execute(update(AuditEvent).where(AuditEvent.id == target)
                           .values({column: value}))
        db.session.commit()
    result = verify(runner)
    assert result.exit_code != 0
    assert f"event {target}" in result.output


@pytest.mark.parametrize("position", ["first", "middle", "last"])
def test_verify_fails_after_a_row_is_deleted(app, runner, position):
    make_events(app)
    with app.app_context():
        ids = db.session.scalars(select(AuditEvent.id).order_by(AuditEvent.id)).all()
        target = {"first": ids[0], "middle": ids[len(ids) // 2], "last": ids[-1]}[position]
        db.session.execute(delete(AuditEvent).where(AuditEvent.id == target))
        db.session.commit()
    result = verify(runner)
    assert result.exit_code != 0, result.output


def test_verify_fails_after_a_forged_row_with_recomputed_plain_hash(app, runner):
    """Someone with only database access cannot re-hash: the chain is keyed."""
    import hashlib

    make_events(app)
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        forged = hashlib.sha256(f"{event.prev_hash}forged".encode()).hexdigest()
        db.session.execute(text("UPDATE audit_events SET action = 'x', row_hash = :h "
                                "WHERE id = :i"), {"h": forged, "i": event.id})
        db.session.execute(text("UPDATE audit_head SET last_hash = :h"), {"h": forged})
        db.session.commit()
    assert verify(runner).exit_code != 0


def test_invalid_transition_changes_nothing(app):
    make_events(app, 1)
    with app.app_context():
        case = db.session.scalars(select(Case)).one()
        before = db.session.scalar(select(db.func.count(AuditEvent.id)))
        with pytest.raises(InvalidTransition):
            transition(case, CaseStatus.COMPLETED, actor_type=ActorType.STAFF, actor_id=1)
        assert case.status is CaseStatus.CONFIRMED
        assert db.session.scalar(select(db.func.count(AuditEvent.id))) == before


def test_an_impossible_status_cannot_be_stored(app):
    make_events(app, 1)
    with app.app_context():
        with pytest.raises(Exception):  # noqa: B017  (the CHECK constraint, per dialect)
            db.session.execute(text("UPDATE cases SET status = 'teleported'"))
            db.session.commit()
        db.session.rollback()


def test_system_events_join_the_same_chain(app):
    make_events(app, 1)
    with app.app_context():
        record_event("staff.created", payload={"staff_id": 1})
        db.session.commit()
        report = verify_chain()
        assert report.ok and report.events == 3
