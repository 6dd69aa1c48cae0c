"""Issue 4's acceptance: an access case for a person of the demo organisation, run through the
real pipeline (real workers on a real Redis, the demo's CRM and newsletter services over HTTP),
finds their records in all six sources and nothing of anyone else's — not the namesake, not the
person whose address contains theirs, not the colleague behind the same IP address, not the
ticket another person wrote about them."""

from __future__ import annotations

import json

from sqlalchemy import select

from dsar.cli import main
from dsar.demo.org import SHOWCASE
from dsar.extensions import db
from dsar.models import CaseStatus, GatherStatus, SourceResult
from dsar.search import gathering
from tests.support.gathering import case_status, start, verified_case
from tests.support.workers import run_queued_jobs

SIX = {"platform", "crm", "newsletter", "analytics", "access_logs", "support"}


def gathered(app, case_id: int) -> dict[str, dict]:
    with app.app_context():
        rows = db.session.scalars(select(SourceResult).where(SourceResult.case_id == case_id))
        return {r.source: {"status": r.status, "round": r.round,
                           "result": gathering.result_of(r)} for r in rows}


def everything_found(results: dict[str, dict]) -> str:
    return json.dumps([r["result"]["records"] for r in results.values()], ensure_ascii=False)


def test_a_demo_person_is_found_in_all_six_sources_and_nobody_else_is(demo):
    person = SHOWCASE["A"]
    case = verified_case(demo, person["email"])
    start(demo, case.id)
    assert run_queued_jobs(demo) == 0
    assert case_status(demo, case.id) is CaseStatus.REVIEW

    results = gathered(demo, case.id)
    assert set(results) == SIX
    for name, outcome in results.items():
        assert outcome["status"] is GatherStatus.DONE, name
        assert outcome["result"]["records"], f"nothing found in {name}"

    # Round 2 searches only the sources that new identifiers reach (the analytics and logs
    # by the visitor id, support by the customer id the platform yielded); the newsletter and
    # the CRM had already followed their own contact and customer ids themselves.
    assert {n: r["round"] for n, r in results.items()} == {
        "platform": 1, "newsletter": 1, "crm": 1, "support": 2, "analytics": 2,
        "access_logs": 2}

    text = everything_found(results)
    # Hers, including what was reached only through identifiers other sources yielded: the
    # CRM contact under her work address (linked by customer id), her visitor id's analytics
    # events and access-log lines, the address written in other letter case.
    assert person["work_email"] in text
    assert person["visitor_id"] in text
    identifiers = {k: set(v) for r in results.values()
                   for k, v in r["result"]["identifiers"].items()}
    assert str(person["customer_id"]) in identifiers["customer_id"]
    assert person["visitor_id"] in identifiers["visitor_id"]
    assert person["email_other_case"] in text  # the same mailbox, written differently
    support = results["support"]["result"]["records"]

    # Nobody else's.
    for other in ("B", "C", "D", "E"):
        twin = SHOWCASE[other]
        assert twin["email"] not in text, other
        assert twin["visitor_id"] not in text, other
        assert str(twin["customer_id"]) not in identifiers.get("customer_id", set()), other
    logs = results["access_logs"]["result"]["records"]
    assert logs and all(r["fields"]["visitor_id"] == person["visitor_id"] for r in logs)
    # D's ticket names her; it is D's, and it is not handed to her.
    assert all(r["fields"]["requester_email"].lower() == person["email"]
               or r["fields"]["customer_id"] == str(person["customer_id"])
               for r in support)


def test_the_namesake_gets_only_his_own_records(demo):
    twin, person = SHOWCASE["B"], SHOWCASE["A"]
    case = verified_case(demo, twin["email"])
    start(demo, case.id)
    assert run_queued_jobs(demo) == 0
    text = everything_found(gathered(demo, case.id))
    assert twin["email"] in text
    assert person["email"] not in text.lower()
    assert person["visitor_id"] not in text


def test_the_file_indexes_are_kept_up_to_date_from_the_command_line(demo):
    runner = demo.test_cli_runner()
    checked = runner.invoke(main, ["sources", "check"])
    assert checked.exit_code == 0
    assert "access_logs" in checked.output and "searched by visitor_id" in checked.output
    first = runner.invoke(main, ["sources", "index"])
    assert first.exit_code == 0, first.output
    assert {line.split(":")[0] for line in first.output.splitlines()} == {
        "analytics", "access_logs", "support"}
    again = runner.invoke(main, ["sources", "index", "access_logs"])
    assert again.output.startswith("access_logs: ") and " 0 bytes read" in again.output
    unknown = runner.invoke(main, ["sources", "index", "crm"])
    assert unknown.exit_code == 1 and "no files source named 'crm'" in unknown.output
