"""The per-address daily count never refuses (issue 16): past five requests from one address in
24 hours the portal files the request as usual, confirmation e-mail and all, and only flags it
"possibly excessive" for staff, on the dashboard (with a filter) and on the case page; whether
it is manifestly unfounded or excessive (Art. 12(5)) stays the DPO's written decision."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select, update

from dsar.extensions import db
from dsar.models import AuditEvent, Case, CaseStatus
from dsar.models.types import utcnow
from tests.support.forms import access_form, csrf_from, post_form
from tests.support.staff import login, make_staff

ADDRESS = "camille.martin@example.fr"


def file(client, *, follow_redirects: bool = False, **overrides):
    """File an access request through the portal's form (``overrides``: its fields)."""
    return post_form(client, "/request/access", access_form(**overrides),
                     follow_redirects=follow_redirects)


def cases_by_id(app) -> list[Case]:
    with app.app_context():
        cases = db.session.scalars(select(Case).order_by(Case.id)).all()
        for case in cases:
            db.session.expunge(case)
        return cases


def flag_events(app) -> list[AuditEvent]:
    with app.app_context():
        return db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "case.possibly_excessive").order_by(AuditEvent.id)).all()


def dpo_client(app):
    client = app.test_client()
    client.get("/language/en")
    login(client, make_staff(app, "dpo"))
    return client


def flagged_rows(html: str) -> dict[str, bool]:
    """The dashboard's rows: reference → whether the row carries the "possibly excessive" tag."""
    rows = re.findall(r'<tr [^>]*data-reference="([^"]+)">(.*?)</tr>', html, re.S)
    return {reference: "possibly excessive" in row for reference, row in rows}


def test_the_sixth_request_of_a_day_is_filed_confirmed_and_flagged_for_the_dpo(
        app, client, run_jobs, smtp_server):
    for _ in range(5):
        assert file(client).status_code == 302
    assert [c.possibly_excessive for c in cases_by_id(app)] == [False] * 5
    assert flag_events(app) == []

    # The sixth, the address typed differently: the same person's address all the same.
    sixth = file(client, email="Camille.Martin@Example.FR", follow_redirects=True)
    assert sixth.status_code == 200
    cases = cases_by_id(app)
    assert len(cases) == 6 and cases[-1].reference in sixth.get_data(as_text=True)
    flagged = cases[-1]
    assert flagged.possibly_excessive and flagged.status is CaseStatus.SUBMITTED
    assert not any(c.possibly_excessive for c in cases[:5])

    # Confirmed like any other: the e-mail goes out and its link confirms.
    assert run_jobs() == 0
    message = next(m for m in smtp_server.messages() if flagged.reference in m["Subject"])
    assert message["To"].lower() == ADDRESS
    confirm = next(u for u in smtp_server.links(message) if "/confirm/" in u)
    path = confirm.removeprefix("http://localhost")
    page = client.get(path)
    assert page.status_code == 200
    client.post(path, data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    assert cases_by_id(app)[-1].status is CaseStatus.CONFIRMED

    # Its own audit event, with the count and nothing personal.
    events = flag_events(app)
    assert [(e.case_id, e.payload) for e in events] == [(flagged.id, {"requests_in_24h": 6})]

    dpo = dpo_client(app)
    rows = flagged_rows(dpo.get("/staff/").get_data(as_text=True))
    assert rows == {c.reference: c.id == flagged.id for c in cases}
    only = flagged_rows(dpo.get("/staff/?excessive=1").get_data(as_text=True))
    assert only == {flagged.reference: True}

    html = dpo.get(f"/staff/cases/{flagged.reference}").get_data(as_text=True)
    assert 'id="possibly-excessive"' in html
    assert "6 requests from this address in 24 hours" in html
    # Nothing decided for the DPO: Art. 12(5) is still theirs to use.
    assert cases_by_id(app)[-1].manifestly_unfounded is False
    first = dpo.get(f"/staff/cases/{cases[0].reference}").get_data(as_text=True)
    assert 'id="possibly-excessive"' not in first


def test_the_dashboard_filter_survives_the_search_form(app, client):
    for _ in range(6):
        file(client)
    file(client, email="someone.else@example.org")
    flagged = [c for c in cases_by_id(app) if c.possibly_excessive]
    assert len(flagged) == 1
    dpo = dpo_client(app)
    token = csrf_from(dpo.get("/staff/").get_data(as_text=True))
    resp = dpo.post("/staff/search", data={"csrf_token": token, "q": "", "excessive": "1"})
    assert resp.status_code == 302 and "excessive=1" in resp.location
    html = dpo.get(resp.location).get_data(as_text=True)
    assert flagged_rows(html) == {flagged[0].reference: True}
    assert 'name="excessive" value="1" checked' in html


def test_a_flag_never_refuses_whatever_the_count(app, client):
    """With a count of 0 every request is past it: each is filed (and flagged), none refused."""
    app.config["RATELIMIT_INTAKE_PER_EMAIL_PER_DAY"] = 0
    for n in range(1, 4):
        resp = file(client)
        assert resp.status_code == 302, resp.get_data(as_text=True)
        assert len(cases_by_id(app)) == n
    assert all(c.possibly_excessive for c in cases_by_id(app))
    assert [e.payload["requests_in_24h"] for e in flag_events(app)] == [1, 2, 3]


def test_only_the_last_24_hours_and_the_same_address_count(app, client):
    for _ in range(5):
        file(client)
    with app.app_context():
        # Five requests filed yesterday, more than a day ago, no longer count.
        db.session.execute(update(Case).values(received_at=utcnow() - timedelta(hours=25)))
        db.session.commit()
    for _ in range(5):
        file(client)
    for _ in range(2):
        file(client, email="someone.else@example.org")
    assert not any(c.possibly_excessive for c in cases_by_id(app))
    assert flag_events(app) == []


def test_the_migration_indexes_the_flag_as_the_dashboard_queries_it():
    """SQLite uses the filter's partial index only when the query repeats its WHERE term: the
    model, the migration and the dashboard's SQL must write the same one."""
    import importlib.util
    from pathlib import Path

    from dsar.models.case import EXCESSIVE_SQL

    path = Path(__file__).resolve().parent.parent / (
        "dsar/migrations/versions/0017_possibly_excessive.py")
    spec = importlib.util.spec_from_file_location("migration_0017", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    assert EXCESSIVE_SQL["sqlite"] == migration.SQLITE_WHERE
    assert EXCESSIVE_SQL["postgresql"] == migration.POSTGRESQL_WHERE
    from sqlalchemy.dialects import postgresql, sqlite

    for name, dialect in (("sqlite", sqlite.dialect()), ("postgresql", postgresql.dialect())):
        written = str(Case.possibly_excessive.is_(True).compile(dialect=dialect))
        assert written == f"cases.{EXCESSIVE_SQL[name]}"
