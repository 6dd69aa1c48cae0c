"""Anchors of the audit trail outside the database: ``dsar audit anchor`` and
``dsar audit verify --anchor FILE``."""

from __future__ import annotations

import json
import os
import socket
import stat

from sqlalchemy import select, text

from dsar.cli import main
from dsar.core.audit import record_event
from dsar.extensions import db
from dsar.models import AuditEvent, AuditHead
from tests.support.audit import make_events


def anchor(runner, path):
    return runner.invoke(main, ["audit", "anchor", "--file", str(path)])


def verify(runner, path):
    return runner.invoke(main, ["audit", "verify", "--anchor", str(path)])


def more_events(app, n: int) -> None:
    with app.app_context():
        for i in range(n):
            record_event("staff.created", payload={"staff_id": i})
        db.session.commit()


def lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_anchor_appends_the_head_to_a_private_file(app, runner, tmp_path):
    path = tmp_path / "anchors" / "audit.jsonl"
    path.parent.mkdir()
    make_events(app)
    result = anchor(runner, path)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    more_events(app, 2)
    assert anchor(runner, path).exit_code == 0
    first, second = lines(path)
    with app.app_context():
        head = db.session.get(AuditHead, 1)
        assert (second["count"], second["last_event_id"], second["last_hash"]) == (
            8, head.last_event_id, head.last_hash)
    assert first["count"] == 6
    assert first["at"].endswith("Z") and first["at"] <= second["at"]
    assert len(first["mac"]) == 64


def test_verify_with_anchors_passes_on_an_intact_trail(app, runner, tmp_path):
    path = tmp_path / "audit.jsonl"
    make_events(app)
    assert anchor(runner, path).exit_code == 0
    more_events(app, 3)
    assert anchor(runner, path).exit_code == 0
    more_events(app, 1)
    result = verify(runner, path)
    assert result.exit_code == 0, result.output
    assert "Audit trail intact: 10 events, 2 anchors checked." in result.output


def test_rolling_the_database_back_below_an_anchor_is_a_fault(app, runner, tmp_path):
    """The attacker keeps a copy of the head row (validly signed) and later deletes the newer
    events and puts the old head back: the chain and its head agree, but an anchor written in
    between names an event that is gone."""
    path = tmp_path / "audit.jsonl"
    make_events(app)
    with app.app_context():
        old_head = dict(db.session.execute(text("SELECT * FROM audit_head")).mappings().one())
    more_events(app, 2)
    assert anchor(runner, path).exit_code == 0
    at = lines(path)[0]["at"]
    with app.app_context():
        db.session.execute(text("DELETE FROM audit_events WHERE id > :i"),
                           {"i": old_head["last_event_id"]})
        db.session.execute(text(
            "UPDATE audit_head SET last_event_id = :last_event_id, last_hash = :last_hash, "
            "count = :count, signature = :signature"), old_head)
        db.session.commit()
    result = verify(runner, path)
    assert result.exit_code == 1, result.output
    assert f"the anchor of {at} (line 1)" in result.output
    assert "Audit trail intact" not in result.output


def test_deleting_everything_and_starting_again_is_a_fault_below_an_anchor(app, runner,
                                                                         tmp_path):
    """Everything deleted, head included, then the application writes new events: a new chain
    with a valid head, which only the anchor can tell apart."""
    path = tmp_path / "audit.jsonl"
    make_events(app)
    assert anchor(runner, path).exit_code == 0
    at = lines(path)[0]["at"]
    with app.app_context():
        db.session.execute(text("DELETE FROM audit_events"))
        db.session.execute(text("DELETE FROM audit_head"))
        db.session.commit()
    more_events(app, 7)
    result = verify(runner, path)
    assert result.exit_code == 1, result.output
    assert f"the anchor of {at} (line 1)" in result.output


def test_a_tampered_anchor_line_is_a_fault(app, runner, tmp_path):
    path = tmp_path / "audit.jsonl"
    make_events(app)
    assert anchor(runner, path).exit_code == 0
    line = lines(path)[0]
    with app.app_context():
        first = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).first()
    # Lower the anchored count so that a truncation would pass: the line's MAC gives it away.
    line.update(count=1, last_event_id=first.id, last_hash=first.row_hash)
    path.write_text(json.dumps(line) + "\n")
    result = verify(runner, path)
    assert result.exit_code == 1, result.output
    assert f"the anchor of {line['at']} (line 1) was altered" in result.output


def test_an_unreadable_anchor_line_is_a_fault(app, runner, tmp_path):
    path = tmp_path / "audit.jsonl"
    make_events(app)
    assert anchor(runner, path).exit_code == 0
    with path.open("a") as handle:
        handle.write("not an anchor\n")
    result = verify(runner, path)
    assert result.exit_code == 1, result.output
    assert "line 2 of the anchor file is not an anchor" in result.output


def test_anchor_refuses_a_head_that_is_not_signed(app, runner, tmp_path):
    path = tmp_path / "audit.jsonl"
    make_events(app)
    with app.app_context():
        db.session.execute(text("UPDATE audit_head SET signature = NULL"))
        db.session.commit()
    result = anchor(runner, path)
    assert result.exit_code == 1
    assert "the chain head is not signed" in result.output
    assert not path.exists()


def test_anchor_lines_read_back_from_syslog_verify(app, runner, tmp_path, monkeypatch):
    """``--syslog`` sends the same line to the local syslog socket; lines copied out of the
    log (with syslog's prefix) are accepted by ``verify --anchor``."""
    from dsar.core import audit_anchor

    address = str(tmp_path / "log.sock")
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(address)
    receiver.settimeout(5)
    monkeypatch.setattr(audit_anchor, "SYSLOG_ADDRESS", address)
    make_events(app)
    try:
        result = runner.invoke(main, ["audit", "anchor", "--syslog"])
        assert result.exit_code == 0, result.output
        datagram = receiver.recv(4096).decode()
    finally:
        receiver.close()
    assert "dsar-audit-anchor:" in datagram
    path = tmp_path / "from-syslog.log"
    path.write_text(f"Jan  1 00:00:00 host {datagram.strip()}\n")
    result = verify(runner, path)
    assert result.exit_code == 0, result.output
    assert "1 anchors checked" in result.output


def test_anchor_needs_exactly_one_destination(app, runner, tmp_path):
    make_events(app)
    for args in (["audit", "anchor"],
                 ["audit", "anchor", "--syslog", "--file", str(tmp_path / "a")]):
        result = runner.invoke(main, args)
        assert result.exit_code == 2
        assert "give either --file PATH or --syslog" in result.output
    assert not (tmp_path / "a").exists()
