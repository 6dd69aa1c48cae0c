"""The end of a closed case (docs/legal-rules.md §6): past ``CASE_RETENTION_YEARS`` the person's
data goes — name, address, identifiers, texts, every stored file — while the dates, the
decisions and the audit trail that prove compliance stay; open cases, recent ones, standing
directives and the registers that honour the person's rights are left alone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from dsar.cases.clock import today_in_paris
from dsar.cases.requester_actions import confirm_address
from dsar.cases.retention import PURGED_EVENT, purge_case, purge_expired_cases
from dsar.cases.workflow import transition
from dsar.changes import suppression
from dsar.cli import main
from dsar.core import storage
from dsar.core.audit import verify_chain
from dsar.extensions import db
from dsar.models import (
    ActorType,
    AuditEvent,
    Case,
    CaseKind,
    CaseNote,
    CaseStatus,
    ChangePlan,
    DirectiveKey,
    DirectiveVersion,
    ExportPackage,
    IdentityProof,
    InfoRequest,
    MailStatus,
    MailTemplate,
    OutboundEmail,
    PlanStatus,
    SourceResult,
    SuppressionKind,
)
from dsar.models.types import utcnow
from dsar.pipeline.periodic import PERIODIC_JOBS
from dsar.pipeline.worker import cron_scheduler
from tests.support.casework import add_proof, staff_session
from tests.support.gathering import EMAIL
from tests.support.staff import make_case

NAME, CUSTOMER = "Camille Martin", "CUST-1042"
NOTE = "Mme Martin a rappelé depuis le 06 12 34 56 78."
ANSWER = "Mon numéro client est CUST-1042, mon adresse 12 rue des Lilas."
DIRECTIVES = {"category_contact": "erase", "category_identification": "hand_over",
              "directive_instructions": "Fermer mon compte.",
              "trusted_person_name": "Lucie Martin",
              "trusted_person_email": "lucie.martin@example.fr", "consent": True}


def closed_years_ago(app, case_id: int, years: int, days: int = 0) -> None:
    """Move the case's closing (and its last change) ``years`` years and ``days`` days back."""
    with app.app_context():
        when = func.coalesce(Case.closed_at, Case.updated_at)
        moved = db.session.execute(update(Case).where(Case.id == case_id).values(
            closed_at=db.session.scalar(select(when).where(Case.id == case_id))
            - timedelta(days=365 * years + years // 4 + 1 + days))).rowcount
        assert moved == 1
        db.session.commit()


def with_leftovers(app, case_id: int) -> list[str]:
    """A note, an answered question, a document left stored and an e-mail never sent on the
    case; returns the ids of every blob it holds."""
    _, proof_blob = add_proof(app, case_id)
    dpo, _ = staff_session(app, "dpo")
    with app.app_context():
        db.session.add_all([
            CaseNote(case_id=case_id, author_id=dpo.id, body=NOTE),
            InfoRequest(case_id=case_id, asked_by_id=dpo.id, question="Votre numéro client ?",
                        resume_status=CaseStatus.VERIFIED, answer=ANSWER,
                        answered_at=utcnow()),
            OutboundEmail(case_id=case_id, template=MailTemplate.PACKAGE_READY)])
        db.session.commit()
        results = db.session.scalars(select(SourceResult.result_blob_id).where(
            SourceResult.case_id == case_id, SourceResult.result_blob_id.is_not(None))).all()
        packages = db.session.scalars(select(ExportPackage.blob_id).where(
            ExportPackage.case_id == case_id, ExportPackage.blob_id.is_not(None))).all()
        blobs = [proof_blob, *results, *packages]
        assert results and packages and all(storage.exists(blob) for blob in blobs)
    return blobs


def events_of(app, case_id: int) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent.action).where(
            AuditEvent.case_id == case_id).order_by(AuditEvent.id)))


def purge(app, today=None) -> int:
    with app.app_context():
        return purge_expired_cases(today or today_in_paris())


def test_a_case_closed_past_the_period_keeps_its_proof_and_loses_the_persons_data(
        gather_app, released):
    case, browser = released
    blobs = with_leftovers(gather_app, case.id)
    closed_years_ago(gather_app, case.id, 5)
    before = events_of(gather_app, case.id)
    with gather_app.app_context():
        kept = db.session.get(Case, case.id)
        kept = (kept.reference, kept.kind, kept.received_on, kept.due_on, kept.closed_at)
        package_sum = db.session.scalar(select(ExportPackage.sha256).where(
            ExportPackage.case_id == case.id))

    assert purge(gather_app) == 1

    with gather_app.app_context():
        assert not any(storage.exists(blob) for blob in blobs)
        purged = db.session.get(Case, case.id)
        assert purged.status is CaseStatus.COMPLETED and purged.purged_at is not None
        assert (purged.reference, purged.kind, purged.received_on, purged.due_on,
                purged.closed_at) == kept
        assert (purged.requester_name, purged.requester_email, purged.email_normalized,
                purged.identifiers, purged.details, purged.message) == ("", "", "", {}, {}, None)
        assert db.session.scalar(select(CaseNote.body).where(CaseNote.case_id == case.id)) == ""
        question = db.session.scalar(select(InfoRequest).where(InfoRequest.case_id == case.id))
        assert (question.question, question.answer) == ("", "")
        assert question.answered_at is not None
        assert db.session.scalar(select(func.count()).select_from(IdentityProof).where(
            IdentityProof.case_id == case.id, IdentityProof.blob_id.is_not(None))) == 0
        assert db.session.scalar(select(func.count()).select_from(SourceResult).where(
            SourceResult.case_id == case.id,
            SourceResult.input_sealed.is_not(None) | SourceResult.result_blob_id.is_not(None)
        )) == 0
        package = db.session.scalar(select(ExportPackage).where(
            ExportPackage.case_id == case.id))
        assert (package.blob_id, package.sha256) == (None, package_sum)
        unsent = db.session.scalar(select(OutboundEmail.status).where(
            OutboundEmail.case_id == case.id, OutboundEmail.template == MailTemplate.PACKAGE_READY,
            OutboundEmail.sent_at.is_(None)))
        assert unsent is MailStatus.FAILED  # it could no longer be addressed
        report = verify_chain()
        assert report.ok, report.faults
    assert events_of(gather_app, case.id) == [*before, PURGED_EVENT]

    # The DPO's case page answers, without the person's name, address or number.
    _, dpo = staff_session(gather_app, "dpo")
    page = dpo.get(f"/staff/cases/{case.reference}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert case.reference in html
    assert not any(text in html for text in (NAME, EMAIL, CUSTOMER, NOTE, ANSWER))
    # The requester's link ended long ago; were it still open, the page shows no one's data.
    assert browser.get(f"/status/{case.reference}").status_code == 410
    gather_app.config["EXPORT_DAYS"] = 365 * 100
    status = browser.get(f"/status/{case.reference}")
    assert status.status_code == 200
    assert not any(text in status.get_data(as_text=True) for text in (NAME, EMAIL, ANSWER))


def test_a_second_run_does_nothing_and_dsar_sweep_reports_the_count(app, runner):
    first = make_case(app, status=CaseStatus.WITHDRAWN)
    closed_years_ago(app, first.id, 6)
    result = runner.invoke(main, ["sweep"])
    assert result.exit_code == 0, result.output
    assert "purged_cases: 1" in result.output.splitlines()
    audit_before = events_of(app, first.id)
    assert purge(app) == 0
    with app.app_context():
        assert purge_case(first.id) is False
    result = runner.invoke(main, ["sweep"])
    assert "purged_cases: 0" in result.output.splitlines()
    assert events_of(app, first.id) == audit_before
    with app.app_context():
        payload = db.session.scalar(select(AuditEvent.payload).where(
            AuditEvent.case_id == first.id, AuditEvent.action == PURGED_EVENT))
        assert all(isinstance(count, int) for count in payload.values())


def test_the_daily_job_purges_on_the_maintenance_queue(app, run_jobs):
    case = make_case(app, status=CaseStatus.WITHDRAWN)
    closed_years_ago(app, case.id, 5)
    (job,) = [p for p in PERIODIC_JOBS if p.func == "workers.jobs.purge_closed_cases"]
    assert (job.queue, job.interval_seconds(app.config)) == ("maintenance", 24 * 3600)
    with app.app_context():
        cron = cron_scheduler("test")
        cron.register_by_name(job.func, job.queue, interval=24 * 3600, name=job.name)
        assert len(cron.enqueue_jobs()) == 1
    assert run_jobs() == 0
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(
            AuditEvent.case_id == case.id, AuditEvent.action == PURGED_EVENT))
        assert event.actor_type is ActorType.SYSTEM and event.actor_id  # the job's id
        assert db.session.get(Case, case.id).requester_email == ""


def test_recent_open_standing_and_restricted_cases_are_left_alone(app):
    recent = make_case(app, status=CaseStatus.WITHDRAWN)
    closed_years_ago(app, recent.id, 4, days=360)
    open_case = make_case(app, status=CaseStatus.IN_PROGRESS)
    standing = make_case(app, status=CaseStatus.SUBMITTED, kind=CaseKind.POSTMORTEM_DIRECTIVE,
                         details=DIRECTIVES)
    restricted = make_case(app, status=CaseStatus.WITHDRAWN, kind=CaseKind.RESTRICTION)
    with app.app_context():
        assert confirm_address(db.session.get(Case, standing.id))
        db.session.add(ChangePlan(case_id=restricted.id, status=PlanStatus.APPROVED))
        # Only their status keeps them: they last changed long ago.
        db.session.execute(update(Case).where(Case.id.in_([open_case.id, standing.id]))
                           .values(updated_at=utcnow() - timedelta(days=365 * 10)))
        db.session.commit()
    closed_years_ago(app, restricted.id, 10)

    assert purge(app) == 0
    with app.app_context():
        for case in (recent, open_case, standing, restricted):
            row = db.session.get(Case, case.id)
            assert (row.purged_at, row.requester_name) == (None, NAME), row.status
        assert db.session.scalar(select(func.count()).select_from(DirectiveVersion).where(
            DirectiveVersion.case_id == standing.id)) == 1

    # The restriction lifted, its case goes at the next run.
    with app.app_context():
        db.session.execute(update(ChangePlan).where(ChangePlan.case_id == restricted.id)
                           .values(lifted_at=utcnow()))
        db.session.commit()
    assert purge(app) == 1


def test_withdrawn_directives_go_with_their_versions_and_keys(app):
    case = make_case(app, status=CaseStatus.SUBMITTED, kind=CaseKind.POSTMORTEM_DIRECTIVE,
                     details=DIRECTIVES)
    with app.app_context():
        row = db.session.get(Case, case.id)
        assert confirm_address(row)
        transition(row, CaseStatus.WITHDRAWN, actor_type=ActorType.REQUESTER)
        db.session.commit()
    closed_years_ago(app, case.id, 5)
    assert purge(app) == 1
    with app.app_context():
        for model in (DirectiveVersion, DirectiveKey):
            assert db.session.scalar(select(func.count()).select_from(model).where(
                model.case_id == case.id)) == 0


def test_the_suppression_list_outlives_the_purge(app):
    case = make_case(app, status=CaseStatus.WITHDRAWN, kind=CaseKind.ERASURE)
    with app.app_context():
        assert suppression.add(SuppressionKind.EMAIL, EMAIL, case=db.session.get(Case, case.id))
        db.session.commit()
    closed_years_ago(app, case.id, 7)
    assert purge(app) == 1
    with app.app_context():
        assert suppression.is_suppressed(SuppressionKind.EMAIL, EMAIL)


def crash() -> None:
    raise OSError("the machine stopped")


def test_a_purge_cut_short_is_finished_by_the_next_run(app, monkeypatch):
    case = make_case(app, status=CaseStatus.WITHDRAWN)
    _, blob = add_proof(app, case.id)
    closed_years_ago(app, case.id, 5)
    with app.app_context(), monkeypatch.context() as patch:
        patch.setattr(db.session, "commit", crash)
        with pytest.raises(OSError):
            purge_case(case.id)
        db.session.rollback()
    with app.app_context():
        assert not storage.exists(blob)  # gone first: never a copy left behind
        assert db.session.get(Case, case.id).purged_at is None
    assert purge(app) == 1
    assert events_of(app, case.id).count(PURGED_EVENT) == 1
