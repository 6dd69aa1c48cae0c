"""Unconfirmed cases expire; e-mail lost from Redis is sent again."""

from __future__ import annotations

from datetime import timedelta

from redis import Redis
from sqlalchemy import select

from dsar.cli import main
from dsar.extensions import db
from dsar.models import Case, CaseStatus, MailStatus, MailTemplate, OutboundEmail
from dsar.models.types import utcnow
from dsar.pipeline.sweep import expire_unconfirmed, requeue_pending_mail
from tests.support.forms import access_form, csrf_from, path_of, post_form


def test_unconfirmed_case_expires_after_seven_days(app, client, run_jobs, smtp_server):
    post_form(client, "/request/access", access_form())
    run_jobs()
    confirm = next(u for u in smtp_server.links(smtp_server.messages()[-1]) if "/confirm/" in u)
    with app.app_context():
        received = db.session.scalars(select(Case)).one().received_at
        assert expire_unconfirmed(now=received + timedelta(days=6, hours=23)) == []
        expired = expire_unconfirmed(now=received + timedelta(days=7, minutes=1))
        assert len(expired) == 1
        case = db.session.get(Case, expired[0])
        assert case.status is CaseStatus.EXPIRED and case.closed_at is not None
    assert run_jobs() == 0
    assert smtp_server.messages()[-1]["Subject"].count(case.reference) == 1
    # The old confirmation link no longer confirms anything.
    page = client.get(path_of(confirm))
    assert page.status_code == 302
    with app.app_context():
        assert db.session.get(Case, case.id).status is CaseStatus.EXPIRED


def test_confirmed_case_never_expires(app, client, run_jobs, smtp_server):
    post_form(client, "/request/access", access_form())
    run_jobs()
    confirm = path_of(next(u for u in smtp_server.links(smtp_server.messages()[-1])
                           if "/confirm/" in u))
    client.post(confirm, data={"csrf_token": csrf_from(client.get(confirm).get_data(True))})
    with app.app_context():
        assert expire_unconfirmed(now=utcnow() + timedelta(days=60)) == []


def test_confirmation_link_refused_after_the_window(app, client, run_jobs, smtp_server):
    post_form(client, "/request/access", access_form())
    run_jobs()
    confirm = path_of(next(u for u in smtp_server.links(smtp_server.messages()[-1])
                           if "/confirm/" in u))
    with app.app_context():
        case = db.session.scalars(select(Case)).one()
        # Eight days since it was filed (the window counts from the filing).
        case.received_on = case.received_on - timedelta(days=8)
        case.created_at = case.created_at - timedelta(days=8)
        db.session.commit()
    assert client.get(confirm).status_code == 410


def test_expiry_runs_as_a_scheduled_job_on_a_real_worker(app, client, run_jobs):
    from dsar.pipeline import get_queue

    post_form(client, "/request/access", access_form())
    with app.app_context():
        case = db.session.scalars(select(Case)).one()
        case.received_at = case.received_at - timedelta(days=8)
        case.created_at = case.created_at - timedelta(days=8)
        db.session.commit()
        get_queue("maintenance").enqueue("workers.jobs.expire_unconfirmed_cases")
    assert run_jobs() == 0
    with app.app_context():
        assert db.session.scalars(select(Case)).one().status is CaseStatus.EXPIRED


def test_mail_lost_from_redis_is_requeued_by_the_sweep(app, client, run_jobs, smtp_server,
                                                      redis_url):
    post_form(client, "/request/access", access_form())
    Redis.from_url(redis_url).flushdb()  # Redis lost everything: the job is gone
    assert run_jobs() == 0
    assert smtp_server.messages() == []
    with app.app_context():
        assert requeue_pending_mail() == []  # too fresh: its job may be on the way
        requeued = requeue_pending_mail(now=utcnow() + timedelta(minutes=5))
        assert len(requeued) == 1
    assert run_jobs() == 0
    assert len(smtp_server.messages()) == 1
    with app.app_context():
        outbound = db.session.scalars(select(OutboundEmail)).one()
        assert outbound.status is MailStatus.SENT
        assert outbound.template is MailTemplate.CONFIRM_EMAIL


def test_sending_twice_sends_once(app, client, run_jobs, smtp_server):
    from dsar.mail.sending import deliver

    post_form(client, "/request/access", access_form())
    assert run_jobs() == 0
    with app.app_context():
        outbound = db.session.scalars(select(OutboundEmail)).one()
        assert deliver(outbound.id) is False
    assert len(smtp_server.messages()) == 1


def test_smtp_down_keeps_the_mail_pending_and_retries(app, client, run_jobs, smtp_server):
    app.config["SMTP_PORT"] = 1  # nothing listens there
    post_form(client, "/request/access", access_form())
    run_jobs()
    with app.app_context():
        outbound = db.session.scalars(select(OutboundEmail)).one()
        assert outbound.status is MailStatus.PENDING
        assert outbound.attempts == 1
        assert outbound.last_error == "ConnectionRefusedError"
    from rq.registry import ScheduledJobRegistry

    from dsar.pipeline import get_queue, mail_job_id

    with app.app_context():
        scheduled = ScheduledJobRegistry(queue=get_queue("mail")).get_job_ids()
        assert mail_job_id(outbound.id) in scheduled


def test_sweep_cli(app, runner):
    result = runner.invoke(main, ["sweep"])
    assert result.exit_code == 0
    assert "expired: 0" in result.output
    assert "purged_packages: 0" in result.output


def test_a_request_filed_by_staff_is_not_expired_for_its_earlier_receipt(app):
    """A request received by post ten days ago and filed today has its seven days to be
    confirmed from today; one without an e-mail address waits for staff, never expired."""
    from dsar.cases.workflow import create_case
    from dsar.models import CaseKind, Channel

    with app.app_context():
        received = utcnow() - timedelta(days=10)
        with_address = create_case(kind=CaseKind.ACCESS, requester_name="Jeanne Roux",
                                   requester_email="jeanne.roux@example.fr", language="fr",
                                   channel=Channel.POST, received_at=received)
        without = create_case(kind=CaseKind.ACCESS, requester_name="Paul Durand",
                              requester_email="", language="fr", channel=Channel.POST,
                              received_at=received)
        db.session.commit()
        assert expire_unconfirmed(now=utcnow() + timedelta(days=6)) == []
        assert expire_unconfirmed(now=utcnow() + timedelta(days=8)) == [with_address.id]
        assert db.session.get(Case, without.id).status is CaseStatus.SUBMITTED
