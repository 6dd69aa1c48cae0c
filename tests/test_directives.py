"""Post-mortem directives kept as versions (Loi Informatique et Libertés, art. 85 I): recorded
once the address is confirmed, a standing record off the clock, changed and revoked by the
person, every version kept with its date and sealed; the version in force at a date of death
is the one that counts; staff find them by the person's identifiers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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


def test_staff_find_the_directives_by_the_persons_identifiers_only(app):
    mine = recorded(app)
    other = recorded(app, email="camille.martin@autre.example")
    with app.app_context():
        assert [c.id for c in directives.find(email="Camille.Martin@Example.FR")] == [mine]
        assert {c.id for c in directives.find(customer_number=" cust-1042 ")} == {mine, other}
        assert directives.find(email="paul.durand@example.fr") == []
        assert directives.find() == []
        # Keyed hashes only: no identifier in clear.
        digests = db.session.scalars(select(DirectiveKey.digest)).all()
        assert all(len(d) == 64 and "@" not in d for d in digests)
