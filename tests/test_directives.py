"""Post-mortem directives kept as versions (Loi Informatique et Libertés, art. 85 I): recorded
once the address is confirmed, a standing record off the clock, changed and revoked by the
person, every version kept with its date and sealed; the version in force at a date of death
is the one that counts; staff find them by the person's identifiers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from dsar.cases.clock import today_in_paris
from dsar.cases.reminders import overdue_cases
from dsar.cases.requester_actions import confirm_address
from dsar.extensions import db
from dsar.models import (
    AuditEvent,
    Case,
    CaseKind,
    CaseStatus,
    DirectiveKey,
    DirectiveStatus,
    DirectiveVersion,
    MailTemplate,
    OutboundEmail,
)
from dsar.postmortem import directives
from dsar.postmortem.directives import Directives
from tests.support.staff import make_case

EMAIL = "camille.martin@example.fr"
FORM = {"category_contact": "erase", "category_identification": "hand_over",
        "directive_instructions": "Fermer mon compte.", "trusted_person_name": "Lucie Martin",
        "trusted_person_email": "lucie.martin@example.fr", "consent": True}


def recorded(app, email: str = EMAIL, **details) -> int:
    case = make_case(app, status=CaseStatus.SUBMITTED, kind=CaseKind.POSTMORTEM_DIRECTIVE,
                     email=email, details={**FORM, **details})
    with app.app_context():
        assert confirm_address(db.session.get(Case, case.id))
    return case.id


def test_confirming_the_address_records_version_one_sealed(app):
    case_id = recorded(app)
    with app.app_context():
        case = db.session.get(Case, case_id)
        assert case.status is CaseStatus.RECORDED
        [(row, content)] = directives.versions(case)
        assert (row.version, row.status) == (1, DirectiveStatus.IN_FORCE)
        assert content.categories == {"contact": "erase", "identification": "hand_over"}
        assert content.designated_email == "lucie.martin@example.fr"
        # Sealed in the database; the form's copy in the case's details is gone.
        assert b"lucie" not in row.content_sealed
        assert "trusted_person_email" not in case.details


def test_recorded_directives_are_off_the_clock(app):
    case_id = recorded(app)
    with app.app_context():
        case = db.session.get(Case, case_id)
        case.due_on = today_in_paris() - timedelta(days=400)  # long past its due date
        db.session.commit()
        assert case_id not in {c.id for c in overdue_cases()}
        assert case.status.is_open  # still a standing record


def test_a_change_supersedes_and_a_revocation_ends_every_version_kept(app):
    case_id = recorded(app)
    with app.app_context():
        case = db.session.get(Case, case_id)
        directives.change(case, Directives(categories={"contact": "keep"}))
        directives.revoke(db.session.get(Case, case_id))
        case = db.session.get(Case, case_id)
        assert case.status is CaseStatus.WITHDRAWN
        rows = directives.versions(case)
        assert [(r.version, r.status) for r, _ in rows] == [
            (1, DirectiveStatus.SUPERSEDED), (2, DirectiveStatus.SUPERSEDED),
            (3, DirectiveStatus.REVOKED)]
        assert rows[1][1].categories == {"contact": "keep"} and rows[2][1] is None
        assert directives.current(case) is None
        actions = db.session.scalars(select(AuditEvent.action).where(
            AuditEvent.case_id == case_id, AuditEvent.action.like("directive.%"))).all()
        assert actions == ["directive.recorded", "directive.recorded", "directive.revoked"]
        # The person is told of each change and of the revocation (a warning if it was not
        # them), besides the acknowledgement.
        mails = db.session.scalars(select(OutboundEmail).where(
            OutboundEmail.case_id == case_id).order_by(OutboundEmail.id)).all()
        assert [(m.template, m.payload.get("revoked")) for m in mails] == [
            (MailTemplate.ACKNOWLEDGEMENT, None), (MailTemplate.DIRECTIVES_CHANGED, False),
            (MailTemplate.DIRECTIVES_CHANGED, True)]


def test_the_version_in_force_at_the_date_of_death_counts(app):
    """A later version (made after the death, by whoever holds the link) does not count; a
    revocation before the death leaves nothing in force."""
    case_id = recorded(app)
    with app.app_context():
        case = db.session.get(Case, case_id)
        directives.change(case, Directives(categories={"contact": "keep"}))
        first, second = (row for row, _ in directives.versions(case))
        first.created_at = datetime(2026, 1, 10, 9, tzinfo=UTC)
        second.created_at = datetime(2026, 3, 1, 9, tzinfo=UTC)
        db.session.commit()
        assert directives.in_force_at(case, datetime(2026, 2, 1).date()).categories == {
            "contact": "erase", "identification": "hand_over"}
        assert directives.in_force_at(case, datetime(2026, 3, 1).date()).categories == {
            "contact": "keep"}
        assert directives.in_force_at(case, datetime(2026, 1, 9).date()) is None
        directives.revoke(db.session.get(Case, case_id))
        revocation = db.session.scalar(select(DirectiveVersion).where(
            DirectiveVersion.case_id == case_id, DirectiveVersion.version == 3))
        revocation.created_at = datetime(2026, 4, 1, 9, tzinfo=UTC)
        db.session.commit()
        assert directives.in_force_at(case, datetime(2026, 4, 2).date()) is None
        assert directives.in_force_at(case, datetime(2026, 3, 31).date()) is not None


def test_staff_find_the_directives_by_the_address_the_person_proved(app):
    mine = recorded(app)
    other = recorded(app, email="camille.martin@autre.example")
    with app.app_context():
        assert [c.id for c in directives.find(email="Camille.Martin@Example.FR")] == [mine]
        assert [c.id for c in directives.find(email="camille.martin@autre.example")] == [other]
        assert directives.find(email="paul.durand@example.fr") == []
        assert directives.find() == []
        assert directives.find(email="pas une adresse") == []  # no error: nothing found
        # Only the proven address is a key: never the customer number the person typed.
        assert set(db.session.scalars(select(DirectiveKey.kind))) == {"email"}
        # Keyed hashes only: no identifier in clear.
        digests = db.session.scalars(select(DirectiveKey.digest)).all()
        assert all(len(d) == 64 and "@" not in d for d in digests)


def test_the_heirs_exclusion_and_the_consent_are_kept_with_each_version(app):
    """Art. 85 II: heirs act only where the directives do not say otherwise; the version in
    force at the death says whether they may."""
    case_id = recorded(app, heirs_excluded=True)
    with app.app_context():
        content = directives.current(db.session.get(Case, case_id))
        assert content.heirs_excluded is True and content.consent is True
        directives.change(db.session.get(Case, case_id),
                          Directives(categories={"contact": "keep"}, heirs_excluded=False))
        first, second = (c for _, c in directives.versions(db.session.get(Case, case_id)))
        assert (first.heirs_excluded, second.heirs_excluded) == (True, False)


def test_directives_a_crash_left_confirmed_are_recorded_by_the_sweep(app):
    """The process died between the confirmation and the recording: the case would sit on
    the clock with nothing recorded; the sweep records it after the grace period."""
    case = make_case(app, status=CaseStatus.CONFIRMED, kind=CaseKind.POSTMORTEM_DIRECTIVE,
                     email=EMAIL, details=dict(FORM))
    with app.app_context():
        now = datetime.now(UTC)
        assert directives.catch_up(now - timedelta(minutes=5)) == 0  # still in its grace
        assert directives.catch_up(now + timedelta(seconds=1)) == 1
        assert db.session.get(Case, case.id).status is CaseStatus.RECORDED
        assert len(directives.versions(db.session.get(Case, case.id))) == 1


def test_unconfirmed_directives_leave_nothing_behind_when_they_expire(app):
    from dsar.pipeline.sweep import expire_unconfirmed

    case = make_case(app, status=CaseStatus.SUBMITTED, kind=CaseKind.POSTMORTEM_DIRECTIVE,
                     email=EMAIL, details=dict(FORM))
    with app.app_context():
        assert case.id in expire_unconfirmed(datetime.now(UTC) + timedelta(days=30))
        assert db.session.get(Case, case.id).details == {}


def test_a_standing_record_offers_no_deadline_action_but_may_be_refused(app):
    from dsar.cases.possible_actions import possible
    from dsar.cases.refusals import ActionRefused
    from dsar.cases.staff_actions import extend
    from dsar.models import StaffUser
    from tests.support.staff import make_staff

    case_id = recorded(app)
    dpo = make_staff(app, "dpo", email="dpo-standing@staff.example")
    with app.test_request_context():
        case = db.session.get(Case, case_id)
        assert not possible(case, "extend") and not possible(case, "start")
        assert possible(case, "reject") and possible(case, "note")
        with pytest.raises(ActionRefused):
            extend(case, db.session.get(StaffUser, dpo.id), "Beaucoup de sources.")
