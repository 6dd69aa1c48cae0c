"""Deadline reminders (D-7, D-2) and the daily overdue digest (issue 3 acceptance): sent by the
scheduled jobs, enqueued by dotted path on the ``maintenance`` queue and run by a real RQ worker
on a real redis-server, with the clock injected through ``CLOCK_TODAY`` (no sleeping).

Due dates are set directly in the database: these tests are about who is reminded of what, not
about computing due dates (``tests/test_deadlines.py`` does that).
"""

from __future__ import annotations

import importlib
from datetime import date, timedelta

import pytest
from babel.dates import format_date
from sqlalchemy import func, select, update

from dsar.cases import staff_actions
from dsar.config import DEFAULTS
from dsar.extensions import db
from dsar.models import Case, CaseStatus, OutboundEmail, StaffUser
from dsar.pipeline import QUEUES, get_queue
from dsar.pipeline.periodic import PERIODIC_JOBS
from tests.support.mailbox import body_of
from tests.support.staff import make_case, make_staff

TODAY = date(2025, 3, 10)  # a Monday


# --------------------------------------------------------------------------- helpers


def staff(app, role: str, language: str, *, active: bool = True):
    member = make_staff(app, role)
    with app.app_context():
        db.session.execute(update(StaffUser).where(StaffUser.id == member.id).values(
            language=language, is_active_account=active))
        db.session.commit()
    member.language = language
    return member


def case_due(app, days: int, *, status: CaseStatus = CaseStatus.CONFIRMED,
             assignee=None, email: str = "camille.martin@example.fr") -> Case:
    """A case due ``days`` days after ``TODAY`` (negative: overdue)."""
    case = make_case(app, status=status, email=email,
                     assignee_id=assignee.id if assignee else None)
    with app.app_context():
        db.session.execute(update(Case).where(Case.id == case.id).values(
            due_on=TODAY + timedelta(days=days)))
        db.session.commit()
    return case


def run_scheduled(app, run_jobs, job: str, today: date = TODAY) -> None:
    """What the scheduler does: enqueue the job by its dotted path on the maintenance queue;
    then one burst of a real worker runs it and the e-mail jobs it queues."""
    app.config["CLOCK_TODAY"] = today.isoformat()
    with app.app_context():
        get_queue("maintenance").enqueue(f"workers.jobs.{job}")
    assert run_jobs() == 0, "a job failed"
    with app.app_context():
        queued = sum(get_queue(name).count for name in QUEUES)
    assert queued == 0, "one burst left jobs behind"


def received(smtp_server) -> list[tuple[str, str]]:
    """(recipient, subject) of every message, in arrival order."""
    return [(m["To"], m["Subject"]) for m in smtp_server.messages()]


def reminders(smtp_server, address: str, cases) -> dict[str, object]:
    """The messages to ``address``, by the reference of the case named in the subject."""
    found: dict[str, object] = {}
    for message in smtp_server.messages():
        if message["To"] != address:
            continue
        [reference] = [c.reference for c in cases if c.reference in message["Subject"]]
        assert reference not in found, f"{address} got two reminders for {reference}"
        found[reference] = message
    return found


def outbox_size(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(OutboundEmail.id)))


# --------------------------------------------------------------------------- schedule


def test_both_jobs_are_scheduled_on_the_maintenance_queue_at_least_daily():
    jobs = {job.func: job for job in PERIODIC_JOBS}
    for func_path in ("workers.jobs.send_deadline_reminders", "workers.jobs.send_overdue_digest"):
        assert func_path in jobs, f"{func_path} is not scheduled"
        assert jobs[func_path].queue == "maintenance"
        assert 0 < jobs[func_path].interval_seconds(DEFAULTS) <= 24 * 3600
        module, _, name = func_path.rpartition(".")
        assert callable(getattr(importlib.import_module(module), name))


# --------------------------------------------------------------------------- reminders


def test_reminders_reach_the_dpos_and_the_assignee_at_d7_and_d2_only(app, run_jobs,
                                                                    smtp_server):
    dpo_en, dpo_fr = staff(app, "dpo", "en"), staff(app, "dpo", "fr")
    agent = staff(app, "agent", "fr")
    other_agent = staff(app, "agent", "en")
    former_dpo = staff(app, "dpo", "en", active=False)
    d7 = case_due(app, 7, assignee=agent)
    d2 = case_due(app, 2, assignee=agent)
    d2_unassigned = case_due(app, 2)
    d3 = case_due(app, 3, assignee=agent)
    closed_d7 = case_due(app, 7, status=CaseStatus.WITHDRAWN, assignee=agent)
    cases = [d7, d2, d2_unassigned, d3, closed_d7]

    run_scheduled(app, run_jobs, "send_deadline_reminders")

    expected = {
        dpo_en: {d7: 7, d2: 2, d2_unassigned: 2},
        dpo_fr: {d7: 7, d2: 2, d2_unassigned: 2},
        agent: {d7: 7, d2: 2},
        other_agent: {},
        former_dpo: {},
    }
    for member, due_cases in expected.items():
        got = reminders(smtp_server, member.email, cases)
        assert sorted(got) == sorted(c.reference for c in due_cases), member.role
        for case, days_left in due_cases.items():
            message = got[case.reference]
            # In the recipient's language: the header, and the due date as they write it.
            assert message["Content-Language"] == member.language
            due = format_date(TODAY + timedelta(days=days_left), "long", locale=member.language)
            assert due in message["Subject"] and due in body_of(message)
            assert f"/staff/cases/{case.reference}" in body_of(message)
            if member.language == "en":
                assert f"{days_left} days left" in body_of(message)
    assert len(smtp_server.messages()) == 8

    # The job runs every hour: the same day, nothing is sent twice.
    outbox = outbox_size(app)
    run_scheduled(app, run_jobs, "send_deadline_reminders")
    assert len(smtp_server.messages()) == 8
    assert outbox_size(app) == outbox


def test_next_day_the_d3_case_gets_its_d2_reminder_and_nothing_else(app, run_jobs,
                                                                    smtp_server):
    dpo = staff(app, "dpo", "en")
    agent = staff(app, "agent", "en")
    d7, d2, d3 = (case_due(app, days, assignee=agent) for days in (7, 2, 3))
    run_scheduled(app, run_jobs, "send_deadline_reminders")
    first_day = received(smtp_server)
    assert len(first_day) == 4  # d7 and d2, to the DPO and the agent

    run_scheduled(app, run_jobs, "send_deadline_reminders", today=TODAY + timedelta(days=1))

    new = received(smtp_server)[len(first_day):]
    assert sorted(to for to, _ in new) == sorted([dpo.email, agent.email])
    assert all(d3.reference in subject for _, subject in new)
    for address in (dpo.email, agent.email):
        assert "2 days left" in body_of(reminders(smtp_server, address, [d7, d2, d3])[
            d3.reference])


def test_reminders_are_written_in_each_recipients_language(app, run_jobs, smtp_server):
    dpo_en, dpo_fr = staff(app, "dpo", "en"), staff(app, "dpo", "fr")
    case = case_due(app, 7)

    run_scheduled(app, run_jobs, "send_deadline_reminders")

    english = reminders(smtp_server, dpo_en.email, [case])[case.reference]
    assert english["Subject"].startswith("Reminder")
    assert "Hello," in body_of(english) and "7 days left" in body_of(english)
    french = reminders(smtp_server, dpo_fr.email, [case])[case.reference]
    body = body_of(french)
    assert "Bonjour" in body
    left_in_english = [text for text in ("Reminder", "days left", "must be answered", "Status:")
                       if text in french["Subject"] or text in body]
    assert not left_in_english, (
        f"the French DPO's reminder is partly English: {left_in_english}\n{french['Subject']}")


# --------------------------------------------------------------------------- overdue digest


def test_overdue_digest_lists_open_overdue_cases_to_each_dpo_once_a_day(app, run_jobs,
                                                                        smtp_server):
    dpos = [staff(app, "dpo", "en"), staff(app, "dpo", "fr")]
    agent = staff(app, "agent", "en")
    overdue = case_due(app, -1, assignee=agent)
    long_overdue = case_due(app, -20, status=CaseStatus.IN_PROGRESS)
    closed_overdue = case_due(app, -5, status=CaseStatus.WITHDRAWN)
    due_today = case_due(app, 0)

    run_scheduled(app, run_jobs, "send_overdue_digest")

    messages = smtp_server.messages()
    assert sorted(m["To"] for m in messages) == sorted(d.email for d in dpos)
    for message in messages:
        body = body_of(message)
        assert overdue.reference in body and long_overdue.reference in body
        assert closed_overdue.reference not in body
        assert due_today.reference not in body  # due today is not late yet
        assert "2" in message["Subject"]  # two overdue cases
        # Oldest due first.
        assert body.index(long_overdue.reference) < body.index(overdue.reference)

    # Hourly job, daily digest: nothing more the same day...
    run_scheduled(app, run_jobs, "send_overdue_digest")
    assert len(smtp_server.messages()) == 2
    # ...and a new one the next day, while cases are still overdue.
    run_scheduled(app, run_jobs, "send_overdue_digest", today=TODAY + timedelta(days=1))
    assert sorted(m["To"] for m in smtp_server.messages()[2:]) == sorted(d.email for d in dpos)


def test_no_digest_when_no_open_case_is_overdue(app, run_jobs, smtp_server):
    staff(app, "dpo", "en")
    case_due(app, 0)
    case_due(app, 5)
    case_due(app, -5, status=CaseStatus.WITHDRAWN)

    run_scheduled(app, run_jobs, "send_overdue_digest")

    assert smtp_server.messages() == []
    assert outbox_size(app) == 0


@pytest.mark.parametrize("doubt", ["Le nom ne correspond pas au compte.", None],
                         ids=["doubt-about-identity", "question-about-scope"])
def test_case_waiting_for_the_requesters_answer_is_overdue_only_if_its_clock_runs(
        app, run_jobs, smtp_server, doubt):
    """legal rules D8: while a question on a doubt about identity waits for its answer the
    clock is suspended, so a case whose unpaused date has passed is not late. Received
    2025-03-05 (due 2025-04-07), question sent 2025-03-10 and still unanswered on 2025-04-08:
    29 days suspended so far, the deadline is at least 2025-05-05. A question about the scope
    suspends nothing: the case is late, and reported."""
    dpo = staff(app, "dpo", "en")
    case = make_case(app, received_on=date(2025, 3, 5))
    assert case.due_on == date(2025, 4, 7)
    app.config["CLOCK_TODAY"] = "2025-03-10"
    with app.app_context():
        staff_actions.ask_info(db.session.get(Case, case.id), db.session.get(StaffUser, dpo.id),
                               "Which contract?", doubt)
    assert run_jobs() == 0
    smtp_server.clear()

    run_scheduled(app, run_jobs, "send_overdue_digest", today=date(2025, 4, 8))

    digests = [m for m in smtp_server.messages() if m["To"] == dpo.email]
    if doubt:
        assert digests == [], "a case whose clock is suspended was reported overdue:\n" + \
            "\n".join(body_of(m) for m in digests)
    else:
        assert len(digests) == 1 and case.reference in body_of(digests[0])
