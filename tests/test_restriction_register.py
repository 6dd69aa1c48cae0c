"""The restriction register (issue 14, Art. 18): a restriction case puts the person's address
and phone number in it as keyed hashes; the organisation's tools check it by command or over
HTTP with the registers' bearer token; a lift takes the person out (only that case's entries);
nobody else is ever restricted; everything is idempotent."""

from __future__ import annotations

import threading

from sqlalchemy import select

from dsar.cases.workflow import create_case
from dsar.changes.restriction_register import digest, is_restricted, lift_case, restrict_case
from dsar.changes.suppression import digest as suppression_digest
from dsar.changes.suppression import suppress_case
from dsar.cli import main
from dsar.extensions import db
from dsar.models import AuditEvent, Case, CaseKind, RestrictionEntry
from dsar.restriction_cli import restriction_group

EMAIL = "  Lea.Fontaine@Example.FR "
PHONE = "+33 6 12 48 90 37"
#: A near-twin: another person, one letter and one digit apart.
TWIN_EMAIL, TWIN_PHONE = "lea.fontaine@example.com", "06 12 48 90 38"
CLEAR = ("lea.fontaine", "fontaine", "612489037", "06 12 48", "12 48 90 37")
TOKEN = "test-registers-token-0123456789"
CHECK = "/api/restriction/check"


def _case(email: str = EMAIL, phones: tuple[str, ...] = (PHONE,)) -> Case:
    """A restriction case of ``email`` holding ``phones`` (a list, as the portal keeps it)."""
    case = create_case(kind=CaseKind.RESTRICTION, requester_name="Léa Fontaine",
                       requester_email=email, language="fr", identifiers={"phone": [*phones]})
    db.session.flush()
    return case


def _entries() -> list[dict]:
    """The register's rows as the table holds them (every column)."""
    table = RestrictionEntry.__table__
    return [dict(row) for row in db.session.execute(
        select(table).order_by(table.c.id)).mappings()]


def _events(action: str) -> list[dict]:
    return list(db.session.scalars(select(AuditEvent.payload).where(
        AuditEvent.action == action).order_by(AuditEvent.id)))


def _bearer(token: str = TOKEN) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _restricted_case(app) -> int:
    with app.app_context():
        case = _case()
        restrict_case(case)
        db.session.commit()
        return case.id


# --- the register -------------------------------------------------------------------------

def test_restricting_a_case_once_stores_keyed_hashes_and_restricts_every_spelling(app):
    with app.app_context():
        case = _case()
        assert restrict_case(case) == 2
        db.session.commit()
        assert restrict_case(case) == 0  # idempotent: nothing added, nothing audited
        db.session.commit()
        rows, events = _entries(), _events("restriction.added")
        for email in ("lea.fontaine@example.fr", "LEA.FONTAINE@EXAMPLE.FR\n"):
            assert is_restricted("email", email)
        for phone in ("06 12 48 90 37", "06.12.48.90.37", "0033 6 12 48 90 37"):
            assert is_restricted("phone", phone), phone
        # Another person's address and number, one character apart, are never restricted.
        assert not is_restricted("email", TWIN_EMAIL)
        assert not is_restricted("phone", TWIN_PHONE)
        # Another purpose than the suppression list's: its digests match nothing there.
        assert digest("email", EMAIL) != suppression_digest("email", EMAIL)
    assert sorted(r["kind"] for r in rows) == ["email", "phone"]
    assert all(r["lifted_at"] is None and r["case_id"] is not None for r in rows)
    assert not [clear for clear in CLEAR if clear in (repr(rows) + repr(events)).lower()]
    assert events == [{"added": {"email": 1, "phone": 1}}]


def test_an_erased_persons_suppression_does_not_restrict_them(app):
    """The two registers are distinct: being on the suppression list is not a restriction."""
    with app.app_context():
        suppress_case(_case())
        db.session.commit()
        assert not is_restricted("email", EMAIL)


def test_a_lift_ends_that_cases_restriction_only(app):
    with app.app_context():
        first = _case()
        second = _case("lea.fontaine@example.fr", ())  # a later request, no number
        assert restrict_case(first) == 2
        assert restrict_case(second) == 1
        db.session.commit()

        assert lift_case(first) == 2
        db.session.commit()
        # Her address is still restricted by the second case; her number no longer is.
        assert is_restricted("email", EMAIL)
        assert not is_restricted("phone", PHONE)
        assert lift_case(first) == 0  # idempotent
        assert lift_case(second) == 1
        db.session.commit()
        assert not is_restricted("email", EMAIL)
        assert _events("restriction.lifted") == [{"lifted": 2}, {"lifted": 1}]
        assert all(r["lifted_at"] is not None for r in _entries())  # kept, marked lifted


def test_two_sessions_restricting_the_same_case_at_once_leave_one_row_each(app):
    """The second insert waits for the first transaction, then does nothing: no error, no
    duplicate (the unique kind, digest and case)."""
    outcome = {}
    with app.app_context():
        case_id = _case().id
        db.session.commit()

    def second() -> None:
        with app.app_context():
            outcome["second"] = restrict_case(db.session.get(Case, case_id))
            db.session.commit()

    with app.app_context():
        assert restrict_case(db.session.get(Case, case_id)) == 2  # not committed yet
        thread = threading.Thread(target=second)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive()  # waiting for the first transaction
        db.session.commit()
    thread.join(10)
    assert outcome == {"second": 0}
    with app.app_context():
        assert len(_entries()) == 2


# --- the command line ---------------------------------------------------------------------

def test_check_from_the_command_line(app):
    """``dsar restriction check``: 0 and "restricted" until the lift, 1 and "not
    restricted" for anyone else, 2 for a value that is no address (not repeated)."""
    assert main.get_command(None, "restriction") is restriction_group
    runner = app.test_cli_runner()

    def check(address: str, stdin: str | None = None) -> tuple[int, str]:
        result = runner.invoke(restriction_group, ["check", address], input=stdin)
        return result.exit_code, result.output

    yes, no = (0, "restricted\n"), (1, "not restricted\n")
    assert check(EMAIL.strip()) == no
    case_id = _restricted_case(app)
    assert [check(a) for a in (EMAIL.strip(), "0612489037", TWIN_EMAIL)] == [yes, yes, no]
    # "-": the address from the standard input, out of the shell's history and of ps.
    assert check("-", "06.12.48.90.37\n") == yes
    with app.app_context():
        lift_case(db.session.get(Case, case_id))
        db.session.commit()
    assert [check(a) for a in (EMAIL.strip(), "0612489037")] == [no, no]
    code, output = check("call-me-maybe")
    assert code == 2 and "not a phone number" in output and "call-me-maybe" not in output


# --- the HTTP endpoint --------------------------------------------------------------------

def test_the_endpoint_refuses_without_its_token_or_one_address(app, client):
    """404 while the registers' token is unset; 401 naming the realm for a missing or wrong
    token; 400 for a body that is not one address (never repeating it)."""
    app.config["SUPPRESSION_API_TOKEN"] = None
    assert client.post(CHECK, json={"email": EMAIL}, headers=_bearer()).status_code == 404
    app.config["SUPPRESSION_API_TOKEN"] = TOKEN
    unauthorized = [{}, _bearer("wrong-token"), _bearer(TOKEN + "x"),
                    {"Authorization": f"Basic {TOKEN}"}]
    for headers in unauthorized:
        answer = client.post(CHECK, json={"email": EMAIL}, headers=headers)
        assert (answer.status_code, answer.get_json()) == (401, {"error": "unauthorized"})
        assert answer.headers["WWW-Authenticate"] == 'Bearer realm="dsar-restriction"'
    malformed = [None, {}, {"email": EMAIL, "phone": PHONE}, {"address": EMAIL},
                 {"email": 42}, {"email": "no-at-sign"}, {"phone": "call me"}]
    answers = [client.post(CHECK, json=body, headers=_bearer()) for body in malformed]
    assert [a.status_code for a in answers] == [400] * len(malformed)
    assert all("error" in a.get_json() and "call me" not in a.get_data(as_text=True)
               for a in answers)


def test_the_endpoint_answers_until_the_lift(app, client):
    app.config["SUPPRESSION_API_TOKEN"] = TOKEN
    assert app.config["WTF_CSRF_ENABLED"]  # no CSRF token needed by a bearer-token caller
    before = client.post(CHECK, json={"email": EMAIL}, headers=_bearer())
    assert (before.status_code, before.get_json()) == (200, {"restricted": False})
    assert before.headers["Cache-Control"] == "no-store"
    case_id = _restricted_case(app)
    for body in ({"email": "LEA.fontaine@example.fr"}, {"phone": "06 12 48 90 37"}):
        answer = client.post(CHECK, json=body, headers=_bearer())
        assert (answer.status_code, answer.get_json()) == (200, {"restricted": True})
    for body in ({"email": TWIN_EMAIL}, {"phone": TWIN_PHONE}):
        assert client.post(CHECK, json=body, headers=_bearer()).get_json() == {
            "restricted": False}
    # The suppression check, with the same token, says nothing of a restriction.
    assert client.post("/api/suppression/check", json={"email": EMAIL},
                       headers=_bearer()).get_json() == {"suppressed": False}
    with app.app_context():
        lift_case(db.session.get(Case, case_id))
        db.session.commit()
    after = client.post(CHECK, json={"email": EMAIL}, headers=_bearer())
    assert after.get_json() == {"restricted": False}
