"""The database itself refuses a value outside a closed vocabulary (a status, a kind, a role, a
template, a calendar…) on the schema the migrations build, and the migrations declare the same
CHECK constraints as the models."""

from __future__ import annotations

import itertools
import re
import uuid
from contextlib import contextmanager
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import CheckConstraint, create_engine, insert, inspect, literal_column, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.schema import AddConstraint

from dsar import create_app
from dsar.cases.workflow import TRANSITIONS
from dsar.deadlines import CALENDARS
from dsar.extensions import db
from dsar.models import (
    CLOSED_STATUSES,
    INFO_RESUME_STATUSES,
    ActorType,
    CaseKind,
    CaseStatus,
    Channel,
    DirectiveStatus,
    GatherStatus,
    MailStatus,
    MailTemplate,
    NoticeStatus,
    PackageScope,
    PackageStatus,
    PlanStatus,
    ProofKind,
    StaffRole,
    StepStatus,
    SuppressionKind,
    TransmissionStatus,
)

#: Every constrained column and the Python values it may hold (the single source of truth).
#: Written out here so that a CHECK lost, or one the code forgot, fails a test.
VOCABULARIES: dict[tuple[str, str], tuple[str, ...]] = {
    ("audit_events", "actor_type"): tuple(ActorType),
    ("cases", "kind"): tuple(CaseKind),
    ("cases", "status"): tuple(CaseStatus),
    ("cases", "channel"): tuple(Channel),
    ("cases", "calendar"): CALENDARS,
    ("staff_users", "role"): tuple(StaffRole),
    ("outbound_emails", "template"): tuple(MailTemplate),
    ("outbound_emails", "status"): tuple(MailStatus),
    ("identity_proofs", "kind"): tuple(ProofKind),
    ("info_requests", "resume_status"): INFO_RESUME_STATUSES,
    ("source_results", "status"): tuple(GatherStatus),
    ("export_packages", "status"): tuple(PackageStatus),
    ("export_packages", "scope"): tuple(PackageScope),
    ("transmissions", "status"): tuple(TransmissionStatus),
    ("change_plans", "status"): tuple(PlanStatus),
    ("change_steps", "status"): tuple(StepStatus),
    ("recipient_notices", "status"): tuple(NoticeStatus),
    ("suppression_entries", "kind"): tuple(SuppressionKind),
    ("restriction_entries", "kind"): tuple(SuppressionKind),
    ("directive_versions", "status"): tuple(DirectiveStatus),
}
#: What 0008 adds or narrows: gone after ``downgrade 0007``, back after ``upgrade``.
ADDED_BY_0008 = {("cases", "ck_cases_case_calendar"),
                 ("export_packages", "ck_export_packages_package_scope")}
#: The tables 0010, 0011 and 0012 create, with their CHECKs.
ADDED_BY_0010 = {("change_plans", "ck_change_plans_plan_status"),
                 ("change_steps", "ck_change_steps_step_status"),
                 ("recipient_notices", "ck_recipient_notices_notice_status"),  # 0011
                 ("suppression_entries", "ck_suppression_entries_suppression_kind"),  # 0012
                 ("restriction_entries", "ck_restriction_entries_restriction_kind"),  # 0014
                 ("directive_versions", "ck_directive_versions_directive_status")}  # 0015

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TODAY = date(2026, 3, 2)
_serial = itertools.count(1)


def _column_and_values(condition: str) -> tuple[str, frozenset[str]]:
    """The column and the quoted values of a CHECK's condition, as SQLite keeps it
    (``kind IN ('a', 'b')``) or as PostgreSQL gives it back
    (``((kind)::text = ANY ((ARRAY['a'::character varying, …``)."""
    return (re.search(r"[a-z_]+", condition).group(),
            frozenset(re.findall(r"'([^']*)'", condition)))


def _migrated_checks(connection) -> dict[tuple[str, str], tuple[str, frozenset[str]]]:
    """(table, constraint name) -> (column, values), read back from the database."""
    inspector = inspect(connection)
    return {(table, check["name"]): _column_and_values(check["sqltext"])
            for table in inspector.get_table_names()
            for check in inspector.get_check_constraints(table)}


def _declared_checks(dialect) -> dict[tuple[str, str], tuple[str, frozenset[str]]]:
    """The same, from the models' metadata, named as the database names them."""
    declared = {}
    for table in db.metadata.sorted_tables:
        for check in table.constraints:
            if isinstance(check, CheckConstraint):
                ddl = str(AddConstraint(check).compile(dialect=dialect))
                name, condition = re.fullmatch(
                    r"ALTER TABLE \S+ ADD CONSTRAINT (\S+) CHECK \((.*)\)", ddl, re.S).groups()
                declared[(table.name, name)] = _column_and_values(condition)
    return declared


def _new_row(table: str, ids: dict[str, int]) -> dict:
    """A valid new row of ``table``: the columns without a default (the others take theirs),
    unique where the table asks."""
    n = next(_serial)
    rows = {
        "staff_users": lambda: {"email": f"check{n}@test.example", "role": "agent",
                                "password_hash": "x"},
        "cases": lambda: {"reference": f"DSR-CK{n:05d}", "kind": "access",
                          "requester_name": "Camille", "requester_email": f"c{n}@test.example",
                          "email_normalized": f"c{n}@test.example", "received_on": TODAY,
                          "due_on": TODAY, "token_salt": "0" * 32},
        "clock_pauses": lambda: {"case_id": ids["case"], "started_on": TODAY},
        "audit_events": lambda: {"actor_type": "system", "action": "test.check",
                                 "prev_hash": f"p{n:063d}", "row_hash": f"r{n:063d}"},
        "outbound_emails": lambda: {"case_id": ids["case"], "template": "acknowledgement"},
        "identity_proofs": lambda: {"case_id": ids["case"], "kind": "identity",
                                    "content_type": "application/pdf", "size": 1,
                                    "sha256": "0" * 64},
        "info_requests": lambda: {"case_id": ids["case"], "asked_by_id": ids["staff"],
                                  "question": "?", "resume_status": "confirmed",
                                  "pause_id": ids["pause"]},
        "source_results": lambda: {"case_id": ids["case"], "source": f"source{n}"},
        # Expired: a case has one ready package at most (a partial unique index).
        "export_packages": lambda: {"case_id": ids["case"], "sha256": "0" * 64,
                                    "results_digest": "0" * 64, "status": "expired"},
        "transmissions": lambda: {"case_id": ids["case"], "package_id": ids["package"],
                                  "host": "receiver.example", "status": "sent"},
        # One plan per case: each its own spare case.
        "change_plans": lambda: {"case_id": next(ids["spare_cases"]), "exceptions": [],
                                 "remaining": {}, "decisions": {}, "lift_outcome": {}},
        "change_steps": lambda: {"case_id": ids["case"], "source": f"source{n}",
                                 "outcome": [], "attempts": 0},
        "recipient_notices": lambda: {"case_id": ids["case"], "recipient": f"r{n}"},
        "suppression_entries": lambda: {"kind": "email", "digest": f"{n:064x}"},
        "restriction_entries": lambda: {"kind": "email", "digest": f"{n:064x}"},
        "directive_versions": lambda: {"case_id": ids["case"], "version": n,
                                       "status": "in_force"},
    }
    return rows[table]()


def _insert(connection, table: str, ids: dict[str, int], **raw: str) -> int:
    """Insert a new row; ``raw`` values go to the database as SQL literals, past the models'
    own checks, so that only the database can refuse them."""
    values = _new_row(table, ids) | {column: literal_column(f"'{value}'")
                                     for column, value in raw.items()}
    result = connection.execute(insert(db.metadata.tables[table]).values(**values))
    return result.inserted_primary_key[0]


def _rows_referred_to(app) -> dict[str, int]:
    """A staff member, a case, its clock pause and a package, for the rows that refer to them
    (and spare cases, for the rows of which a case has one at most)."""
    with app.app_context(), db.engine.begin() as connection:
        ids = {"staff": _insert(connection, "staff_users", {}),
               "case": _insert(connection, "cases", {})}
        ids["pause"] = _insert(connection, "clock_pauses", ids)
        ids["package"] = _insert(connection, "export_packages", ids)
        ids["spare_cases"] = iter([_insert(connection, "cases", {}) for _ in range(10)])
    return ids


@pytest.mark.parametrize(("table", "column"), list(VOCABULARIES),
                         ids=[f"{t}.{c}" for t, c in VOCABULARIES])
def test_the_database_refuses_a_value_outside_the_vocabulary(app, table, column):
    ids = _rows_referred_to(app)
    with app.app_context():
        for value in VOCABULARIES[table, column]:  # every value the code may write goes in
            with db.engine.begin() as connection:
                _insert(connection, table, ids, **{column: value})
        for unknown in ("unknown", "", str(VOCABULARIES[table, column][0]).swapcase()):
            with pytest.raises(IntegrityError), db.engine.begin() as connection:
                _insert(connection, table, ids, **{column: unknown})


def test_every_closed_vocabulary_has_its_check(app):
    """Each constrained column allows exactly its Python values, and no other CHECK exists."""
    with app.app_context(), db.engine.connect() as connection:
        migrated = _migrated_checks(connection)
    by_column = {(table, column): values for (table, _name), (column, values) in migrated.items()}
    assert len(by_column) == len(migrated)  # one CHECK per column
    assert by_column == {key: frozenset(map(str, values)) for key, values in VOCABULARIES.items()}
    assert all(name.startswith(f"ck_{table}_") for table, name in migrated)


def test_the_migrations_and_the_models_declare_the_same_checks(app):
    """Alembic's autogenerate does not compare CHECK constraints: read them back instead."""
    with app.app_context(), db.engine.connect() as connection:
        migrated = _migrated_checks(connection)
        declared = _declared_checks(connection.dialect)
    assert migrated == declared


def test_the_checks_follow_the_state_machine():
    """A case's status is one the state machine knows; a question is asked from, and returns
    to, only the statuses the state machine allows into and out of ``needs_info``."""
    assert set(TRANSITIONS) == set(CaseStatus)
    into = {status for status, targets in TRANSITIONS.items() if CaseStatus.NEEDS_INFO in targets}
    out_of = TRANSITIONS[CaseStatus.NEEDS_INFO] - CLOSED_STATUSES
    assert set(INFO_RESUME_STATUSES) == into == out_of


def _in_suite_database(url, statement: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()


@contextmanager
def _scratch_app(app, tmp_path):
    """An app on an empty database of the same kind as the suite's: a SQLite file, or a
    PostgreSQL schema of its own (dropped afterwards), for moving the migrations back and
    forth without touching the suite's schema."""
    url = make_url(app.config["DATABASE_URL"])
    schema = None
    if url.get_backend_name() == "sqlite":
        scratch = f"sqlite:///{tmp_path / 'scratch.sqlite3'}"
    else:
        schema = f"scratch_{uuid.uuid4().hex[:12]}"
        _in_suite_database(url, f"CREATE SCHEMA {schema}")
        scratch = url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False)
    keys = ("TESTING", "REDIS_URL", "RATELIMIT_STORAGE_URI", "MASTER_KEY_FILE", "STORAGE_DIR",
            "SOURCES_FILE", "REGISTER_FILE", "BASE_URL")
    scratch_app = create_app({key: app.config[key] for key in keys} | {"DATABASE_URL": scratch})
    try:
        with scratch_app.app_context():
            try:
                yield scratch_app
            finally:
                db.session.remove()
                db.engine.dispose()
    finally:
        if schema:
            _in_suite_database(url, f"DROP SCHEMA {schema} CASCADE")


def test_downgrade_drops_the_new_checks_and_upgrade_restores_them(app, tmp_path):
    from flask_migrate import downgrade, upgrade

    with _scratch_app(app, tmp_path):
        upgrade()
        with db.engine.connect() as connection:
            at_head = _migrated_checks(connection)
        downgrade(revision="0007")
        with db.engine.connect() as connection:
            at_0007 = _migrated_checks(connection)
        upgrade()
        with db.engine.connect() as connection:
            again = _migrated_checks(connection)
    assert set(at_head) >= ADDED_BY_0008 | ADDED_BY_0010
    assert set(at_0007) == set(at_head) - ADDED_BY_0008 - ADDED_BY_0010
    resume = ("info_requests", "ck_info_requests_resume_status")
    assert at_0007[resume][1] == frozenset(CaseStatus)  # widened back as 0007 had it
    assert again == at_head


def test_upgrade_stops_on_a_value_the_check_would_refuse(app, tmp_path):
    """A deployment holding a value outside the list is told which table and column (a count,
    no content), and its schema stays at 0007."""
    from alembic import command
    from flask import current_app

    with _scratch_app(app, tmp_path):
        # Alembic itself rather than flask_migrate's wrapper, which turns the error into an exit.
        config = current_app.extensions["migrate"].migrate.get_config()
        command.upgrade(config, "0007")
        with db.engine.begin() as connection:
            ids = {"case": _insert(connection, "cases", {}, calendar="FR-CORSE")}
            _insert(connection, "export_packages", ids)
        with pytest.raises(RuntimeError, match=r"1 row\(s\) of cases have a calendar outside"):
            command.upgrade(config, "head")
        with db.engine.connect() as connection:
            version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
            checks = _migrated_checks(connection)
    assert version == "0007"
    assert not ADDED_BY_0008 & set(checks)


def test_downgrading_the_questions_without_pause_gives_each_its_own_dated_pause(app, tmp_path):
    """0018 made a question's pause optional (D8); moving back gives each question asked
    without one a pause of no day of its own, dated the day it was asked, readable as a date
    on SQLite as on PostgreSQL."""
    from flask_migrate import downgrade, upgrade

    with _scratch_app(app, tmp_path):
        upgrade()
        with db.engine.begin() as connection:
            staff_id = connection.execute(text(
                "INSERT INTO staff_users (email, name, role, password_hash, is_active_account, "
                "language, created_at, failed_logins) VALUES ('a@staff.example', 'A', 'agent', "
                "'x', true, 'fr', '2025-03-01 10:00:00', 0) RETURNING id")).scalar_one()
            case_ids = [connection.execute(text(
                "INSERT INTO cases (reference, kind, status, channel, language, "
                "requester_name, requester_email, email_normalized, identifiers, details, "
                "received_at, received_on, calendar, due_on, extended, manifestly_unfounded, "
                "token_salt, created_at, updated_at) VALUES (:ref, 'access', 'needs_info', "
                "'portal', 'fr', 'C', 'c@example.fr', 'c@example.fr', '{}', '{}', "
                "'2025-03-05 10:00:00', '2025-03-05', 'FR', '2025-04-07', false, false, "
                "'salt', '2025-03-05 10:00:00', '2025-03-05 10:00:00') RETURNING id"),
                {"ref": ref}).scalar_one() for ref in ("DSR-AAAA-AAAA", "DSR-BBBB-BBBB")]
            for case_id in case_ids:
                connection.execute(text(
                    "INSERT INTO info_requests (case_id, asked_by_id, question, asked_at, "
                    "resume_status) VALUES (:case, :staff, 'Lequel ?', "
                    "'2025-03-10 09:00:00', 'confirmed')"), {"case": case_id,
                                                                "staff": staff_id})
        downgrade(revision="0017")
        with db.engine.connect() as connection:
            rows = connection.execute(text(
                "SELECT q.case_id, p.case_id, p.started_on, p.ended_on FROM info_requests q "
                "JOIN clock_pauses p ON p.id = q.pause_id ORDER BY q.case_id")).all()
        upgrade()
    assert [(a, b) for a, b, _, _ in rows] == [(c, c) for c in case_ids]  # each its own
    assert {str(started) for _, _, started, _ in rows} == {"2025-03-10"}
    assert all(str(ended) == "2025-03-10" for _, _, _, ended in rows)
