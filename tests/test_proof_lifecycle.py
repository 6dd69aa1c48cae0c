"""Identity documents are deleted on every path once they have served (legal rules §3): after the
identity decision, when processing starts, on every closing move, and by the purge for whatever
is left. After each path no document remains in the encrypted store and the case keeps only the
note of what was checked."""

from __future__ import annotations

from datetime import timedelta
from io import BytesIO

from sqlalchemy import select, update

from dsar.cli import main
from dsar.core import storage
from dsar.extensions import db
from dsar.models import Case, CaseStatus, IdentityProof
from dsar.models.types import utcnow
from tests.support.app import detached_rows
from tests.support.casework import (
    PDF,
    add_proof,
    ask,
    blob_files,
    fetch,
    open_status_link,
    post_answer,
    set_today,
    staff_session,
)
from tests.support.forms import access_form, csrf_from, post_form
from tests.support.staff import make_case, post_action


def proofs_of(app, case_id: int) -> list[IdentityProof]:
    return detached_rows(app, IdentityProof, IdentityProof.case_id == case_id)


def assert_only_the_note_remains(app, case_id: int, blob_ids: list[str]) -> list[str]:
    """No document of the case in the store, on disk or by id; every proof row has a note."""
    with app.app_context():
        assert not any(storage.exists(blob_id) for blob_id in blob_ids)
    assert blob_files(app) == []
    proofs = proofs_of(app, case_id)
    assert proofs and all(p.blob_id is None and p.deleted_at is not None for p in proofs)
    assert all(p.decision_note for p in proofs)
    return [p.decision_note for p in proofs]


def test_an_unconfirmed_upload_is_deleted_after_the_confirmation_period(app, client, runner):
    resp = post_form(client, "/request/access",
                     access_form(representative_name="Maître Dupont",
                                 proof=(BytesIO(PDF), "mandat.pdf")))
    assert resp.status_code == 302
    with app.app_context():
        case = db.session.scalars(select(Case)).one()
        case_id = case.id
        [proof] = case.proofs
        blob_id = proof.blob_id
        assert storage.exists(blob_id)
        # Eight days pass without the address being confirmed.
        db.session.execute(update(Case).where(Case.id == case_id).values(
            received_at=utcnow() - timedelta(days=8), created_at=utcnow() - timedelta(days=8)))
        db.session.commit()

    result = runner.invoke(main, ["sweep"])

    assert result.exit_code == 0, result.output
    assert "purged_proofs: 1" in result.output
    assert fetch(app, case_id).status is CaseStatus.EXPIRED
    [note] = assert_only_the_note_remains(app, case_id, [blob_id])
    assert "not confirmed" in note


def test_a_recent_unconfirmed_upload_is_kept(app, client, runner):
    post_form(client, "/request/access", access_form(representative_name="Maître Dupont",
                                                     proof=(BytesIO(PDF), "mandat.pdf")))
    result = runner.invoke(main, ["sweep"])
    assert "purged_proofs: 0" in result.output
    with app.app_context():
        [proof] = db.session.scalars(select(IdentityProof)).all()
        assert storage.get(proof.blob_id) == PDF


def test_withdrawal_by_the_requester_deletes_the_documents(app, run_jobs, smtp_server):
    case = make_case(app)
    _, blob_id = add_proof(app, case.id)
    _, staff = staff_session(app, "agent")
    status_url = ask(app, staff, case, run_jobs, smtp_server)
    requester, status_page = open_status_link(app, status_url)
    page = requester.get(status_page).get_data(as_text=True)
    resp = requester.post(f"/status/{case.reference}/withdraw",
                          data={"csrf_token": csrf_from(page), "confirm_withdraw": "yes"})

    assert resp.status_code == 302
    assert fetch(app, case.id).status is CaseStatus.WITHDRAWN
    [note] = assert_only_the_note_remains(app, case.id, [blob_id])
    assert "withdrawn" in note and "identity not checked" in note


def test_a_full_refusal_deletes_the_documents(app):
    case = make_case(app)
    _, blob_id = add_proof(app, case.id)
    _, dpo = staff_session(app, "dpo")

    resp = post_action(dpo, case.reference, "reject",
                       {"scope": "full", "reasons": "The person is not known to us."})

    assert resp.status_code == 302
    assert fetch(app, case.id).status is CaseStatus.REJECTED
    assert_only_the_note_remains(app, case.id, [blob_id])


def test_a_document_sent_after_verification_goes_when_processing_starts(app, run_jobs,
                                                                        smtp_server):
    """Verified, then a question (e.g. which account): the answer's document is kept for the
    staff to read, and deleted by the next decision, starting the processing."""
    case = make_case(app, status=CaseStatus.VERIFIED)
    _, staff = staff_session(app, "agent")
    status_url = ask(app, staff, case, run_jobs, smtp_server)
    requester, _ = open_status_link(app, status_url)
    assert post_answer(requester, case.reference, "Here it is.", (PDF, "id.pdf")).status_code \
        == 302
    [proof] = proofs_of(app, case.id)
    with app.app_context():
        assert storage.get(proof.blob_id) == PDF  # still there for staff to read

    resp = post_action(staff, case.reference, "start")

    assert resp.status_code == 302
    assert fetch(app, case.id).status in (CaseStatus.IN_PROGRESS, CaseStatus.REVIEW)
    assert_only_the_note_remains(app, case.id, [proof.blob_id])


def test_verification_keeps_the_decision_note_on_every_document(app):
    case = make_case(app)
    _, first = add_proof(app, case.id)
    _, second = add_proof(app, case.id)
    agent, staff = staff_session(app, "agent")
    set_today(app, "2026-12-06")

    post_action(staff, case.reference, "verify", {"method": "document", "note": "Passport."})

    notes = assert_only_the_note_remains(app, case.id, [first, second])
    assert notes == [f"checked on 2026-12-06 by staff {agent.id}, method document: Passport."] * 2


def test_the_purge_deletes_documents_left_on_closed_and_processed_cases(app, runner):
    """Documents stored before this rule existed, or left by any other path: the periodic
    purge (and ``dsar sweep``) deletes them and says how many."""
    completed = make_case(app, status=CaseStatus.REVIEW)
    open_case = make_case(app, status=CaseStatus.CONFIRMED, email="other@example.fr")
    with app.app_context():
        db.session.execute(update(Case).where(Case.id == completed.id).values(
            status=CaseStatus.COMPLETED, closed_at=utcnow()))
        db.session.commit()
    _, left_1 = add_proof(app, completed.id)
    _, left_2 = add_proof(app, completed.id)
    _, waiting = add_proof(app, open_case.id)

    result = runner.invoke(main, ["sweep"])

    assert "purged_proofs: 2" in result.output
    with app.app_context():
        assert not storage.exists(left_1) and not storage.exists(left_2)
        assert storage.exists(waiting)  # a confirmed case waiting for its identity check
    assert all(p.blob_id is None and p.decision_note for p in proofs_of(app, completed.id))


def test_the_periodic_job_purges_what_is_left(app, run_jobs):
    from dsar.pipeline import get_queue
    from dsar.pipeline.periodic import PERIODIC_JOBS

    [job] = [j for j in PERIODIC_JOBS if j.name == "purge-proofs"]
    case = make_case(app, status=CaseStatus.WITHDRAWN)
    _, blob_id = add_proof(app, case.id)  # left behind by some older path
    with app.app_context():
        get_queue(job.queue).enqueue(job.func)

    assert run_jobs() == 0
    assert_only_the_note_remains(app, case.id, [blob_id])
