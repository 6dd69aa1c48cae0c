"""Which directives decide a deceased person's request (Loi Informatique et Libertés, art. 85):
those standing at the end of the day of death, whoever changed them afterwards; a revocation
honoured; across several directive cases of one address, the latest recorded; and who may then
act: the person designated, an heir where the directives do not exclude heirs."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dsar.extensions import db
from dsar.models import Case, CaseKind, CaseStatus
from dsar.postmortem import matching
from dsar.postmortem.copy import is_credential
from dsar.postmortem.directives import Directives
from tests.support.postmortem_org import DECEASED, DESIGNATED, DIED, at, leave_directives
from tests.support.staff import make_case

FIRST = Directives(categories={"training": "hand_over"}, designated_name="Élise Roux",
                   designated_email=DESIGNATED)
SECOND = Directives(categories={"training": "erase"}, designated_name="Élise Roux",
                    designated_email=DESIGNATED, heirs_excluded=True)


def decided(app, day=DIED):
    with app.app_context():
        found = matching.directives_at_death(DECEASED, day)
        return None if found is None else (found.case.reference, found.version, found.content)


def test_the_version_standing_at_the_death_decides_not_a_later_one(app):
    reference = leave_directives(app, [(at(DIED - timedelta(days=90)), FIRST),
                                       (at(DIED - timedelta(days=2)), SECOND),
                                       (at(DIED + timedelta(days=1)), FIRST)])
    assert decided(app) == (reference, 2, SECOND)
    # The day before the second version, the first stood.
    assert decided(app, DIED - timedelta(days=3)) == (reference, 1, FIRST)
    # Before any version, none.
    assert decided(app, DIED - timedelta(days=91)) is None


def test_a_revocation_before_the_death_is_honoured_and_one_after_is_not(app):
    leave_directives(app, [(at(DIED - timedelta(days=90)), FIRST),
                           (at(DIED - timedelta(days=1)), None)])
    assert decided(app) is None  # revoked: nothing to apply
    reference = leave_directives(app, [(at(DIED - timedelta(days=60)), SECOND),
                                       (at(DIED + timedelta(days=1)), None)])
    assert decided(app) == (reference, 1, SECOND)  # revoked after the death, by someone else


def test_of_several_directive_cases_the_latest_recorded_stands(app):
    leave_directives(app, [(at(DIED - timedelta(days=300)), FIRST)])
    later = leave_directives(app, [(at(DIED - timedelta(days=30)), SECOND)])
    assert decided(app) == (later, 1, SECOND)
    # A DPO refused the later case (filed by someone else): the earlier one stands.
    with app.app_context():
        db.session.query(Case).filter(Case.reference == later).one().status = (
            CaseStatus.REJECTED)
        db.session.commit()
    assert decided(app)[2] == FIRST


@pytest.mark.parametrize(("email", "role", "content", "outcome"), [
    (DESIGNATED, "designated_person", FIRST, "directives"),
    (DESIGNATED, "heir", FIRST, "directives"),  # the person named, whatever they ticked
    ("someone@example.fr", "designated_person", FIRST, "not_designated"),
    ("someone@example.fr", "designated_person", None, "not_designated"),
    ("marc.roux@example.fr", "heir", None, "heir"),
    ("marc.roux@example.fr", "heir", FIRST, "heir"),
    ("marc.roux@example.fr", "heir", SECOND, "heirs_excluded"),
    # Nobody designated: the heirs see to the directives.
    ("marc.roux@example.fr", "heir", Directives(categories={"training": "erase"}),
     "directives"),
])
def test_who_may_act(app, email, role, content, outcome):
    case = make_case(app, kind=CaseKind.POSTMORTEM_EXECUTION, email=email,
                     details={"requester_role": role})
    with app.app_context():
        row = db.session.get(Case, case.id)
        found = matching.AtDeath(row, 1, content) if content else None
        assert matching.outcome_of(row, found) == outcome


@pytest.mark.parametrize(("name", "credential"), [
    ("password_hash", True), ("passwordHash", True), ("api_token", True), ("apiKey", True),
    ("api_key", True), ("totp_secret", True), ("security_answer", True),
    ("security_question", True), ("pin", True), ("recovery_codes", True),
    ("shipping_address", False), ("title", False), ("hashtag", False), ("session_count", False),
    ("one_time_code", True), ("oneTimeCode", True), ("verification_code", True),
    ("backup_codes", True), ("mot_de_passe", True), ("motDePasse", True), ("passphrase", True),
    ("session_id", True), ("cookie", True), ("ssh_key", True), ("signing_key", True),
    ("jwt", True), ("postal_code", False), ("course_code", False), ("key_figures", False),
])
def test_credentials_are_known_by_their_name(name, credential):
    assert is_credential(name) is credential
