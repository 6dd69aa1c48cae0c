"""The administrator's account changes as services (``dsar.accounts.management``): what they
refuse changes nothing and queues no e-mail; deactivating one's own account does nothing but
leave a trace."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from dsar.accounts import management
from dsar.extensions import db
from dsar.models import AuditEvent, OutboundEmail, StaffRole, StaffUser
from tests.support.staff import make_staff


def counts() -> tuple[int, int]:
    return (db.session.scalar(select(func.count(StaffUser.id))),
            db.session.scalar(select(func.count(OutboundEmail.id))))


@pytest.mark.parametrize(("email", "role"), [
    ("", StaffRole.AGENT),
    ("not-an-address", StaffRole.AGENT),
    ("a" * 250 + "@x.fr", StaffRole.AGENT),
    ("new.agent@staff.example", None),
])
def test_an_account_needs_an_address_and_a_role(app, email, role):
    admin = make_staff(app, "admin")
    with app.test_request_context():
        before = counts()
        with pytest.raises(management.AccountRefused):
            management.create_account(email, "New", role, by=admin.id)
        db.session.rollback()
        assert counts() == before


def test_an_address_has_one_account_whatever_its_case(app):
    admin = make_staff(app, "admin")
    make_staff(app, "agent", "taken@staff.example")
    with app.test_request_context():
        before = counts()
        with pytest.raises(management.AccountRefused):
            management.create_account("  Taken@Staff.example ", "Twin", StaffRole.AGENT,
                                      by=admin.id)
        db.session.rollback()
        assert counts() == before


def test_a_new_account_is_stored_in_lower_case_with_its_setup_email_queued(app):
    admin = make_staff(app, "admin")
    with app.test_request_context():
        user = management.create_account(" New.Agent@Staff.example ", "New", StaffRole.AGENT,
                                         by=admin.id)
        assert user.email == "new.agent@staff.example"
        queued = db.session.scalars(select(OutboundEmail)).all()
        assert [(mail.recipient_staff_id, str(mail.template)) for mail in queued] == [
            (user.id, "staff_setup")]


def test_nobody_changes_their_own_role(app):
    admin = make_staff(app, "admin")
    with app.test_request_context():
        me = db.session.get(StaffUser, admin.id)
        with pytest.raises(management.AccountRefused):
            management.change_role(me, StaffRole.AGENT, by=admin.id)
        db.session.rollback()
        assert db.session.get(StaffUser, admin.id).role is StaffRole.ADMIN


def test_an_administrator_cannot_deactivate_their_own_account_but_the_attempt_is_audited(app):
    admin = make_staff(app, "admin")
    with app.test_request_context():
        management.change_state(db.session.get(StaffUser, admin.id), "deactivate", by=admin.id)
        assert db.session.get(StaffUser, admin.id).is_active_account
        event = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "staff.deactivate")).one()
        assert event.payload == {"staff_id": admin.id}


def test_deactivating_another_account_ends_its_sessions(app):
    admin = make_staff(app, "admin")
    agent = make_staff(app, "agent")
    with app.test_request_context():
        generation = db.session.get(StaffUser, agent.id).session_generation
        management.change_state(db.session.get(StaffUser, agent.id), "deactivate", by=admin.id)
        user = db.session.get(StaffUser, agent.id)
        assert not user.is_active_account
        assert user.session_generation == generation + 1
