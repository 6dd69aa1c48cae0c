"""The requester's actions as services (``dsar.cases.requester_actions``): a move that is no
longer possible (made meanwhile in another tab) changes nothing and sends nothing, and an
answer nobody asked for keeps no document."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from dsar.cases import requester_actions
from dsar.cases.refusals import ActionRefused
from dsar.extensions import db
from dsar.models import Case, CaseStatus, MailTemplate, OutboundEmail
from tests.support.casework import PDF, blob_files
from tests.support.staff import make_case


def emails() -> list[MailTemplate]:
    return list(db.session.scalars(select(OutboundEmail.template).order_by(OutboundEmail.id)))


def test_confirming_queues_the_acknowledgement_once(app):
    case = make_case(app, status=CaseStatus.SUBMITTED)
    with app.test_request_context():
        assert requester_actions.confirm_address(db.session.get(Case, case.id)) is True
        assert requester_actions.confirm_address(db.session.get(Case, case.id)) is False
        assert db.session.get(Case, case.id).status is CaseStatus.CONFIRMED
        assert emails() == [MailTemplate.ACKNOWLEDGEMENT]


def test_a_withdrawn_case_is_neither_confirmed_nor_withdrawn_again(app):
    case = make_case(app, status=CaseStatus.WITHDRAWN)
    with app.test_request_context():
        assert requester_actions.confirm_address(db.session.get(Case, case.id)) is False
        assert requester_actions.withdraw(db.session.get(Case, case.id)) is False
        assert db.session.get(Case, case.id).status is CaseStatus.WITHDRAWN
        assert emails() == []


def test_an_answer_without_a_question_keeps_no_document(app):
    case = make_case(app, status=CaseStatus.CONFIRMED)
    with app.test_request_context():
        before = blob_files(app)
        with pytest.raises(ActionRefused):
            requester_actions.answer_question(db.session.get(Case, case.id), "Here it is",
                                              (PDF, "application/pdf"))
        assert blob_files(app) == before
        assert db.session.scalar(select(func.count()).select_from(OutboundEmail)) == 0
        assert db.session.get(Case, case.id).proofs == []
