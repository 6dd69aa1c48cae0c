"""The suppression list (issue 13, point 6): keyed hashes only, idempotent, checked from the
command line and over HTTP with a bearer token (no CSRF token, no address in any log)."""

from __future__ import annotations

import hashlib
import logging
import threading

import pytest
from sqlalchemy import func, inspect, select, text
from werkzeug.serving import make_server

from dsar.cases.workflow import create_case
from dsar.changes.suppression import (
    InvalidAddress,
    add,
    digest,
    is_suppressed,
    normal_value,
    suppress_case,
)
from dsar.cli import main
from dsar.core.keys import create_master_key
from dsar.extensions import db
from dsar.models import AuditEvent, CaseKind, SuppressionEntry
from dsar.suppression_cli import suppression_group

EMAIL = "  Lea.Fontaine@Example.FR "
PHONE = "+33 6 12 48 90 37"
#: What must never be stored or logged: the address and the number in any spelling.
CLEAR = ("lea.fontaine", "fontaine", "612489037", "06 12 48", "12 48 90 37")
TOKEN = "test-suppression-token-0123456789"
CHECK = "/api/suppression/check"


def _case(email: str = EMAIL, phone: str | None = PHONE):
    identifiers = {"customer_number": "C-1042"} | ({"phone": phone} if phone else {})
    case = create_case(kind=CaseKind.ERASURE, requester_name="Léa Fontaine",
                       requester_email=email, language="fr", identifiers=identifiers)
    db.session.flush()
    return case


def _entries() -> list[dict]:
    with db.engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(
            text("SELECT * FROM suppression_entries ORDER BY id"))]


def _bearer(token: str = TOKEN) -> dict:
    return {"Authorization": f"Bearer {token}"}


# --- hashing ------------------------------------------------------------------------------

def test_only_a_keyed_hash_is_stored_never_the_value(app):
    with app.app_context():
        case = _case()
        assert suppress_case(case) == 2
        db.session.commit()
        rows = _entries()
        columns = {c["name"] for c in inspect(db.engine).get_columns("suppression_entries")}
        events = db.session.scalars(select(AuditEvent.payload)).all()
    assert columns == {"id", "kind", "digest", "created_at", "case_id"}
    assert sorted(r["kind"] for r in rows) == ["email", "phone"]
    assert all(len(r["digest"]) == 64 and set(r["digest"]) <= set("0123456789abcdef")
               for r in rows)
    stored = repr(rows).lower() + repr(events).lower()
    assert not [clear for clear in CLEAR if clear in stored]
    # Keyed: not the plain SHA-256 anyone could compute from a guessed address.
    plain = hashlib.sha256(b"email:lea.fontaine@example.fr").hexdigest()
    assert plain not in {r["digest"] for r in rows}


def test_the_digest_depends_on_the_master_key(app, tmp_path):
    other_key = tmp_path / "other.key"
    create_master_key(other_key)
    with app.app_context():
        ours = digest("email", EMAIL)
        app.config["MASTER_KEY_FILE"] = str(other_key)
        theirs = digest("email", EMAIL)
    assert ours != theirs


def test_every_spelling_of_an_address_or_number_is_the_same_entry(app):
    with app.app_context():
        suppress_case(_case())
        db.session.commit()
        for email in ("lea.fontaine@example.fr", "LEA.FONTAINE@EXAMPLE.FR\n"):
            assert is_suppressed("email", email)
        for phone in ("06 12 48 90 37", "06.12.48.90.37", "0612489037", "+33 (0)6 12 48 90 37",
                      "0033 6 12 48 90 37"):
            assert is_suppressed("phone", phone), phone
        assert not is_suppressed("email", "lea.fontaine@example.com")
        assert not is_suppressed("phone", "06 12 48 90 38")
        # An e-mail address and a phone number never share a digest.
        assert digest("email", "a@b.fr") != digest("phone", "0612489037")


@pytest.mark.parametrize(("kind", "value"), [
    ("email", ""), ("email", "   "), ("email", "no-at-sign"), ("email", "a@b@c"),
    ("email", "x" * 250 + "@b.fr"), ("phone", ""), ("phone", "call me"), ("phone", "1234"),
    ("phone", "+33 6 12 48 90 37 12 34 56 78"),
])
def test_a_value_that_cannot_be_an_address_is_refused_without_repeating_it(kind, value):
    with pytest.raises(InvalidAddress) as caught:
        normal_value(kind, value)
    assert not value.strip() or value.strip() not in str(caught.value)


# --- idempotence --------------------------------------------------------------------------

def test_suppressing_a_case_twice_adds_nothing_the_second_time(app):
    with app.app_context():
        case = _case()
        assert suppress_case(case) == 2
        db.session.commit()
        assert suppress_case(case) == 0
        db.session.commit()
        # Another case of the same person (the same address, the number spelt otherwise).
        assert suppress_case(_case(email="lea.fontaine@example.fr", phone="0612489037")) == 0
        db.session.commit()
        events = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "suppression.added")).all()
        assert db.session.scalar(select(func.count()).select_from(SuppressionEntry)) == 2
    assert [e.payload for e in events] == [{"added": {"email": 1, "phone": 1}}]
    assert events[0].case_id is not None


def test_a_case_without_a_phone_or_with_a_malformed_one_adds_its_address(app):
    with app.app_context():
        assert suppress_case(_case(phone=None)) == 1
        assert suppress_case(_case(email="other@example.fr", phone="not a number")) == 1
        db.session.commit()
        assert [r["kind"] for r in _entries()] == ["email", "email"]


def test_add_is_idempotent_and_keeps_the_transaction_usable(app):
    with app.app_context():
        assert add("phone", PHONE) is True
        assert add("phone", "06 12 48 90 37") is False  # ON CONFLICT DO NOTHING, no error
        db.session.commit()
        assert len(_entries()) == 1


def test_the_entry_outlives_its_case(app):
    """``ON DELETE SET NULL``: the list must not forget the person when a case row goes."""
    with app.app_context():
        case = _case()
        suppress_case(case)
        db.session.commit()
        case_id = case.id
        db.session.remove()
        with db.engine.connect() as connection:
            if connection.dialect.name == "sqlite":  # outside a transaction, as SQLite wants
                connection.exec_driver_sql("PRAGMA foreign_keys = ON")
                connection.commit()
            with connection.begin():
                for table in ("audit_events", "outbound_emails"):
                    connection.execute(text(f"DELETE FROM {table} WHERE case_id = :c"),  # noqa: S608
                                       {"c": case_id})
                connection.execute(text("DELETE FROM cases WHERE id = :c"), {"c": case_id})
        assert [r["case_id"] for r in _entries()] == [None, None]
        assert is_suppressed("email", EMAIL)


# --- the command line ---------------------------------------------------------------------

def test_the_command_is_part_of_dsar():
    assert main.get_command(None, "suppression") is suppression_group


def test_check_and_add_from_the_command_line(app):
    runner = app.test_cli_runner()
    absent = runner.invoke(suppression_group, ["check", EMAIL.strip()])
    assert (absent.exit_code, absent.output) == (1, "not suppressed\n")

    added = runner.invoke(suppression_group, ["add", PHONE])
    assert added.exit_code == 0
    assert added.output == "Added the phone number to the suppression list.\n"
    again = runner.invoke(suppression_group, ["add", "06 12 48 90 37"])
    assert (again.exit_code, again.output) == (
        0, "This phone number is already on the suppression list.\n")

    found = runner.invoke(suppression_group, ["check", "0612489037"])
    assert (found.exit_code, found.output) == (0, "suppressed\n")
    # "-": the address from the standard input, out of the shell's history and of ps.
    piped = runner.invoke(suppression_group, ["check", "-"], input="06.12.48.90.37\n")
    assert (piped.exit_code, piped.output) == (0, "suppressed\n")
    with app.app_context():
        events = db.session.scalars(select(AuditEvent.payload).where(
            AuditEvent.action == "suppression.added")).all()
    assert events == [{"added": {"phone": 1}, "by": "command"}]


def test_a_malformed_address_on_the_command_line_exits_2_without_echoing_it(app):
    result = app.test_cli_runner().invoke(suppression_group, ["check", "call-me-maybe"])
    assert result.exit_code == 2
    assert "not a phone number" in result.output
    assert "call-me-maybe" not in result.output


# --- the HTTP endpoint --------------------------------------------------------------------

def test_the_endpoint_does_not_exist_without_its_token(app, client):
    app.config["SUPPRESSION_API_TOKEN"] = None
    response = client.post(CHECK, json={"email": EMAIL}, headers=_bearer())
    assert response.status_code == 404
    assert response.status_code == client.post("/api/suppression/nothing").status_code


@pytest.mark.parametrize("headers", [
    {}, _bearer("wrong-token"), _bearer(TOKEN + "x"), _bearer(TOKEN[:-1]),
    {"Authorization": f"Basic {TOKEN}"}, {"Authorization": TOKEN}, _bearer(""),
], ids=["missing", "wrong", "longer", "shorter", "basic", "no-scheme", "empty"])
def test_a_missing_or_wrong_token_is_refused(app, client, headers):
    app.config["SUPPRESSION_API_TOKEN"] = TOKEN
    response = client.post(CHECK, json={"email": EMAIL}, headers=headers)
    assert response.status_code == 401
    assert response.get_json() == {"error": "unauthorized"}
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_right_token_gets_an_answer_without_a_csrf_token(app, client):
    app.config["SUPPRESSION_API_TOKEN"] = TOKEN
    assert app.config["WTF_CSRF_ENABLED"]  # the portal's forms do need one
    asked = client.post(CHECK, json={"email": EMAIL}, headers=_bearer())
    assert (asked.status_code, asked.get_json()) == (200, {"suppressed": False})
    assert asked.headers["Cache-Control"] == "no-store"
    with app.app_context():
        suppress_case(_case())
        db.session.commit()
    for body in ({"email": "LEA.fontaine@example.fr"}, {"phone": "06 12 48 90 37"}):
        answer = client.post(CHECK, json=body, headers=_bearer())
        assert (answer.status_code, answer.get_json()) == (200, {"suppressed": True})
    other = client.post(CHECK, json={"phone": "0612489038"}, headers=_bearer())
    assert other.get_json() == {"suppressed": False}


@pytest.mark.parametrize("body", [
    None, [], {}, {"email": EMAIL, "phone": PHONE}, {"address": EMAIL}, {"email": 42},
    {"email": None}, {"email": "no-at-sign"}, {"phone": "call me"},
])
def test_anything_but_one_address_is_a_400(app, client, body):
    app.config["SUPPRESSION_API_TOKEN"] = TOKEN
    response = client.post(CHECK, json=body, headers=_bearer())
    assert response.status_code == 400
    assert "error" in response.get_json()


def test_a_form_post_or_a_huge_body_is_refused(app, client):
    app.config["SUPPRESSION_API_TOKEN"] = TOKEN
    form = client.post(CHECK, data={"email": EMAIL}, headers=_bearer())
    assert form.status_code == 400
    huge = client.post(CHECK, json={"email": "a@b.fr", "pad": "x" * 10_000}, headers=_bearer())
    assert huge.status_code == 413


def test_the_csrf_exemption_is_this_view_alone(app, client):
    """The portal still wants its token: exempting the API did not switch CSRF off."""
    app.config["SUPPRESSION_API_TOKEN"] = TOKEN
    response = client.post("/request/access", data={"email": EMAIL})
    assert response.status_code == 400


def test_no_address_reaches_a_log_over_real_http(app, caplog):
    """A real server (Werkzeug's, logging its request lines) and a real client: neither the
    request line nor anything the app logs holds the address."""
    import httpx

    app.config["SUPPRESSION_API_TOKEN"] = TOKEN
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    caplog.set_level(logging.DEBUG)
    try:
        url = f"http://127.0.0.1:{server.port}{CHECK}"
        answers = [httpx.post(url, json=body, headers=headers, timeout=10) for body, headers in (
            ({"email": EMAIL}, _bearer()), ({"phone": PHONE}, _bearer()),
            ({"email": EMAIL}, _bearer("wrong")), ({"phone": "call me"}, _bearer()))]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
    assert [a.status_code for a in answers] == [200, 200, 401, 400]
    logged = caplog.text.lower()
    assert f"post {CHECK}" in logged  # the request lines were logged…
    assert not [clear for clear in CLEAR + ("call me",) if clear in logged]  # …without it


def test_two_sessions_adding_the_same_number_at_once_leave_one_row(app):
    """The second insert waits for the first transaction, then does nothing: no error, no
    duplicate (PostgreSQL's row lock on the unique key; SQLite's write lock)."""
    outcome = {}

    def second() -> None:
        with app.app_context():
            outcome["second"] = add("phone", "0612489037")
            db.session.commit()

    with app.app_context():
        assert add("phone", PHONE) is True  # not committed yet
        thread = threading.Thread(target=second)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive()  # waiting for the first transaction
        db.session.commit()
    thread.join(10)
    assert outcome == {"second": False}
    with app.app_context():
        assert len(_entries()) == 1


# --- the demo newsletter's sign-up --------------------------------------------------------

def _serve_dsar(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


def test_the_demo_newsletter_sign_up_asks_the_suppression_list(app, tmp_path, monkeypatch):
    """Real servers both sides: the newsletter API calls dsar's endpoint with the demo's
    token; a suppressed address or number is refused, the others are added, and when the
    list cannot be asked nobody is added."""
    import sqlite3
    from contextlib import closing

    import httpx

    from dsar.demo.org.newsletter import INDEXES, SCHEMA
    from dsar.demo.services import newsletter_app, serve
    from dsar.demo.services.newsletter import SUPPRESSION_TOKEN_ENV, SUPPRESSION_URL_ENV

    database = tmp_path / "newsletter.sqlite"
    with closing(sqlite3.connect(database)) as con:
        con.executescript(SCHEMA + INDEXES)
    app.config["SUPPRESSION_API_TOKEN"] = TOKEN
    with app.app_context():
        suppress_case(_case())
        db.session.commit()
    dsar_server, dsar_thread = _serve_dsar(app)
    newsletter, newsletter_thread, port = serve(newsletter_app(database, "nl-key"))
    monkeypatch.setenv(SUPPRESSION_URL_ENV, f"http://127.0.0.1:{dsar_server.port}{CHECK}")
    monkeypatch.setenv(SUPPRESSION_TOKEN_ENV, TOKEN)

    def sign_up(**fields):
        answer = httpx.post(f"http://127.0.0.1:{port}/v3/contacts", json=fields,
                            headers={"api-key": "nl-key"}, timeout=10)
        return answer.status_code, answer.json()

    try:
        refused = [sign_up(email="LEA.FONTAINE@example.fr", first_name="Léa"),
                   sign_up(email="l.f@example.org", sms="06 12 48 90 37")]
        added = sign_up(email="Jules.Marchand@example.fr", sms="+33 6 98 76 54 32")
        duplicate = sign_up(email="jules.marchand@example.fr")
        bad_number = sign_up(email="n@example.fr", sms="call me")
        monkeypatch.setenv(SUPPRESSION_TOKEN_ENV, "not-the-token")
        wrong_token = sign_up(email="other@example.fr")
        monkeypatch.setenv(SUPPRESSION_TOKEN_ENV, TOKEN)
        dsar_server.shutdown()
        dsar_server.server_close()
        dsar_down = sign_up(email="other@example.fr")
        monkeypatch.delenv(SUPPRESSION_URL_ENV)
        unchecked = sign_up(email="LEA.FONTAINE@example.fr")  # never connected: no check
    finally:
        newsletter.shutdown()
        newsletter.server_close()
        newsletter_thread.join(10)
        dsar_server.shutdown()
        dsar_thread.join(10)
    assert [status for status, _ in refused] == [403, 403]
    assert all(body["code"] == "suppressed" for _, body in refused)
    assert added[0] == 201
    assert duplicate == (400, {"code": "duplicate_parameter", "message": "Contact already exist"})
    assert bad_number[0] == 400
    assert [wrong_token[0], dsar_down[0]] == [503, 503]
    assert unchecked[0] == 201
    with closing(sqlite3.connect(database)) as con:
        emails = [row[0] for row in con.execute("SELECT email FROM contacts ORDER BY id")]
    assert emails == ["Jules.Marchand@example.fr", "LEA.FONTAINE@example.fr"]
