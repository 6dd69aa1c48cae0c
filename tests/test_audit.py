"""The hash-chained audit trail and ``dsar audit verify``."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, text, update

from dsar import create_app
from dsar.cases.workflow import InvalidTransition, transition
from dsar.cli import main
from dsar.core.audit import HEAD_ID, record_event, verify_chain
from dsar.extensions import db
from dsar.models import ActorType, AuditEvent, AuditHead, Case, CaseStatus
from tests.support.app import app_config
from tests.support.audit import make_events


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


def test_a_head_read_before_an_event_shows_that_event_and_is_not_written_back(app):
    make_events(app, 1)
    with app.app_context():
        head = db.session.get(AuditHead, HEAD_ID)
        before = head.count
        event_id = record_event("staff.created", payload={"staff_id": 1})
        # The head the session held follows the chain, and the commit writes nothing back.
        assert (head.count, head.last_event_id) == (before + 1, event_id)
        db.session.commit()
        report = verify_chain()
        assert report.ok and report.events == before + 1


# The head of the chain: signed with the audit key, so the database alone cannot re-point it.

def _ids(app) -> list[int]:
    with app.app_context():
        return db.session.scalars(select(AuditEvent.id).order_by(AuditEvent.id)).all()


def _truncate_and_repoint(app, keep: int) -> None:
    """What someone with write access to the database alone can do: delete the newest events
    and point the head at the new last one (plain SQL, no key)."""
    with app.app_context():
        ids = db.session.scalars(select(AuditEvent.id).order_by(AuditEvent.id)).all()
        last = ids[keep - 1]
        db.session.execute(text("DELETE FROM audit_events WHERE id > :i"), {"i": last})
        db.session.execute(text(
            "UPDATE audit_head SET last_event_id = :i, count = :n, "
            "last_hash = (SELECT row_hash FROM audit_events WHERE id = :i)"),
            {"i": last, "n": keep})
        db.session.commit()


def test_verify_fails_after_the_newest_events_are_deleted_and_the_head_repointed(app, runner):
    make_events(app)
    _truncate_and_repoint(app, keep=4)
    result = verify(runner)
    assert result.exit_code == 1, result.output
    assert "the chain head's signature is wrong" in result.output
    assert "Audit trail intact" not in result.output


def test_verify_fails_after_every_event_and_the_head_are_deleted(app, runner):
    make_events(app)
    with app.app_context():
        db.session.execute(text("DELETE FROM audit_events"))
        db.session.execute(text("DELETE FROM audit_head"))
        db.session.commit()
    result = verify(runner)
    assert result.exit_code == 1, result.output
    assert "the chain head is missing" in result.output
    assert "Audit trail intact" not in result.output


def test_events_written_after_a_wipe_do_not_make_a_new_intact_chain(app, runner):
    """Deleting everything, then letting the application write again (a visitor, a job):
    the new chain's head is not signed, so the wipe stays visible without an anchor."""
    make_events(app)
    with app.app_context():
        db.session.execute(text("DELETE FROM audit_events"))
        db.session.execute(text("DELETE FROM audit_head"))
        db.session.commit()
    make_events(app)
    result = verify(runner)
    assert result.exit_code == 1, result.output
    assert "not signed" in result.output
    assert "Audit trail intact" not in result.output


def test_an_empty_database_without_a_head_is_not_intact(app, runner):
    """A deployment's database always has a head (``dsar init`` writes a signed one): none at
    all means it was deleted, even when no event is left."""
    with app.app_context():
        db.session.execute(text("DELETE FROM audit_head"))
        db.session.commit()
    result = verify(runner)
    assert result.exit_code == 1, result.output
    assert "the chain head is missing" in result.output


def test_an_unsigned_head_is_reported_until_an_operator_seals_it(app, runner):
    """A database upgraded from before signed heads: verify says so plainly; the application
    does not sign such a head by itself (that would sign a re-pointed one too)."""
    make_events(app)
    with app.app_context():
        db.session.execute(text("UPDATE audit_head SET signature = NULL"))
        db.session.commit()
        record_event("staff.created", payload={"staff_id": 1})
        db.session.commit()
    result = verify(runner)
    assert result.exit_code == 1, result.output
    assert "the chain head is not signed" in result.output

    sealed = runner.invoke(main, ["audit", "seal"])
    assert sealed.exit_code == 0, sealed.output
    result = verify(runner)
    assert result.exit_code == 0, result.output
    assert "intact: 8 events" in result.output
    with app.app_context():
        last = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert last.action == "audit.head_sealed"
        assert last.payload == {"head": ["unsigned"], "events": 7}


def test_new_events_do_not_launder_a_repointed_unsigned_head(app, runner):
    """Deleting the newest events, re-pointing the head and clearing its signature, then
    waiting for the application's next event, still shows."""
    make_events(app)
    _truncate_and_repoint(app, keep=4)
    with app.app_context():
        db.session.execute(text("UPDATE audit_head SET signature = NULL"))
        db.session.commit()
        record_event("staff.created", payload={"staff_id": 1})
        db.session.commit()
    result = verify(runner)
    assert result.exit_code == 1, result.output
    assert "the chain head is not signed" in result.output


def test_new_events_do_not_launder_a_forged_head(app, runner):
    make_events(app)
    _truncate_and_repoint(app, keep=4)
    with app.app_context():
        record_event("staff.created", payload={"staff_id": 1})
        db.session.commit()
    result = verify(runner)
    assert result.exit_code == 1, result.output
    assert "the chain head's signature is wrong" in result.output


def test_seal_refuses_a_chain_with_an_altered_event(app, runner):
    make_events(app)
    with app.app_context():
        db.session.execute(text("UPDATE audit_events SET action = 'x' WHERE id = :i"),
                           {"i": _ids(app)[1]})
        db.session.execute(text("UPDATE audit_head SET signature = NULL"))
        db.session.commit()
    result = runner.invoke(main, ["audit", "seal"])
    assert result.exit_code == 1, result.output
    assert "not sealed" in result.output
    assert "the chain head is not signed" in verify(runner).output


def test_init_on_a_new_database_writes_a_signed_empty_head(key_file, redis_url, smtp_server,
                                                           tmp_path):
    """``dsar init`` on a new database: the trail is intact with 0 events, and it stays a
    fault to delete that head."""
    config = app_config(f"sqlite:///{tmp_path / 'new.sqlite3'}", redis_url, key_file,
                        tmp_path / "storage", smtp_server.port)
    new_app = create_app(config)
    runner = new_app.test_cli_runner()
    assert runner.invoke(main, ["init"]).exit_code == 0
    result = verify(runner)
    assert result.exit_code == 0, result.output
    assert "intact: 0 events" in result.output
    assert runner.invoke(main, ["init"]).exit_code == 0  # re-running it changes nothing
    with new_app.app_context():
        db.session.execute(text("DELETE FROM audit_head"))
        db.session.commit()
    assert runner.invoke(main, ["init"]).exit_code == 0  # nor does it restore a deleted head
    result = verify(runner)
    with new_app.app_context():
        db.engine.dispose()
    assert result.exit_code == 1, result.output
    assert "the chain head is missing" in result.output
