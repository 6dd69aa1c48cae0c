"""Portability (GDPR Art. 20): the data the person provided, processed on consent or contract,
as JSON and CSV. A portability case of Léa Fontaine (A in the demo), searched by the real
pipeline, gets a package of only the fields the demo's sources.toml marks ``provided``, in the
sources used on consent or contract: it conforms to the schema shipped with it, the manifest's
sums match its files, and nothing else is in it. The ``provided`` and ``third_party`` keys are
checked like every other key of sources.toml."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from dsar.demo.org import SHOWCASE
from dsar.models import CaseKind
from dsar.sources.base import SourceConfigError
from dsar.sources.catalog import connector_classes
from dsar.sources.config import load_sources
from tests.support.exports import built_package, gathered_case, zip_members
from tests.support.gathering import SHOP_SOURCE, sources_text

LEA = SHOWCASE["A"]
ACCOUNT_FIELDS = ["email", "first_name", "last_name", "birth_date", "phone", "address",
                  "postal_code", "city", "profession", "employer", "bio", "created_at",
                  "last_login_at"]


def collections(document: dict) -> dict[tuple[str, str], dict]:
    return {(s["name"], c["name"]): c for s in document["sources"] for c in s["collections"]}


def test_a_portability_package_holds_only_what_she_provided(demo):
    case_id = gathered_case(demo, LEA["email"], kind=CaseKind.PORTABILITY)
    zip_bytes, package = built_package(demo, case_id)
    members = zip_members(zip_bytes)

    # JSON, CSV, the schema and the manifest; no PDF letter (Art. 20 asks for data a machine
    # reads; the Art. 15 letter answers an access request).
    assert "report.pdf" not in members
    manifest = json.loads(members["manifest.json"])
    listed = {f["name"]: f for f in manifest["files"]}
    assert set(listed) == set(members) - {"manifest.json"}
    for name, entry in listed.items():
        assert hashlib.sha256(members[name]).hexdigest() == entry["sha256"], name
        assert len(members[name]) == entry["size"], name

    # The document conforms to the schema shipped inside the package.
    document = json.loads(members["export.json"])
    shipped = Draft202012Validator(json.loads(members["export.schema.json"]),
                                   format_checker=Draft202012Validator.FORMAT_CHECKER)
    assert not [e.message for e in shipped.iter_errors(document)]
    assert document["scope"] == "portability" and document["case"]["kind"]["code"] == (
        "portability")
    assert package.scope == "portability" and package.record_count == document["summary"][
        "records"] > 0

    found = collections(document)
    # What she provided, from the sources used on consent or contract, and nothing else.
    assert set(found) == {
        ("platform", "accounts"), ("platform", "enrolments"), ("platform", "attendance"),
        ("newsletter", "contacts"), ("newsletter", "list_memberships"),
        ("newsletter", "email_events"), ("analytics", "events"), ("support", "tickets")}
    accounts = found["platform", "accounts"]
    assert [f["name"] for f in accounts["fields"]] == ACCOUNT_FIELDS
    [account] = accounts["records"]
    assert account["fields"]["email"] == LEA["email"] and account["fields"]["city"] == (
        LEA["city"])
    for assigned in ("id", "visitor_id", "password_hash"):  # ours, not hers
        assert assigned not in account["fields"]
    assert LEA["visitor_id"] not in members["export.json"].decode()
    tickets = found["support", "tickets"]
    assert [f["name"] for f in tickets["fields"]] == [
        "opened_at", "requester_email", "subject", "body"]
    assert all("agent" not in r["fields"] and "customer_id" not in r["fields"]
               for r in tickets["records"])
    assert "country" not in {f["name"] for f in found["analytics", "events"]["fields"]}

    # The CRM (legitimate interests) and her test results (our assessment) are out, and the
    # person is told why; the same records are in an access answer.
    sources = {s["name"]: s for s in document["sources"]}
    assert sources["crm"]["record_count"] == 0 and sources["crm"]["notice"]
    assert "Nothing about you" not in sources["crm"]["notice"]
    assert ("platform", "level_tests") not in found and ("platform", "invoices") not in found

    # One CSV per collection, with the same columns.
    assert {n for n in members if n.startswith("csv/")} == {
        f"csv/{s}/{c}.csv" for s, c in found}
    text = members["csv/platform/accounts.csv"].decode("utf-8-sig")
    header = next(csv.reader(io.StringIO(text), delimiter=";"))
    assert header == ["_key", *ACCOUNT_FIELDS]


def test_the_same_person_s_access_package_still_holds_everything(demo):
    case_id = gathered_case(demo, LEA["email"])
    zip_bytes, package = built_package(demo, case_id)
    members = zip_members(zip_bytes)
    document = json.loads(members["export.json"])
    found = collections(document)
    assert package.scope == "access" and document["scope"] == "access"
    assert "report.pdf" in members
    assert {("crm", "contacts"), ("platform", "level_tests"), ("access_logs", "requests")} <= set(
        found)
    assert "visitor_id" in found["platform", "accounts"]["records"][0]["fields"]


@pytest.mark.parametrize("line, key, fault", [
    ('provided = ["email", "nmae"]', "provided", "field 'nmae' is not declared in fields"),
    ('provided = "yes"', "provided", "must be a list of field names (or true / false)"),
    ('third_party = ["notes"]', "third_party", "field 'notes' is not declared in fields"),
    ('third_party = "name"', "third_party", "must be a list of field names"),
    ('exclude = ["name"]\nprovided = ["name"]', "provided", "field 'name' is also excluded"),
])
def test_provided_and_third_party_name_declared_fields(tmp_path: Path, line, key, fault):
    text = SHOP_SOURCE.replace('erasure = "anonymize"', f'erasure = "anonymize"\n{line}')
    text = sources_text(text, tmp_path)
    (tmp_path / "sources.toml").write_text(text)
    with pytest.raises(SourceConfigError) as caught:
        load_sources(tmp_path / "sources.toml", connector_classes(), tmp_path)
    assert caught.value.key == f"sources.shop.collections.customers.{key}"
    assert fault in caught.value.fault


def test_provided_all_or_some_fields(tmp_path: Path):
    text = sources_text(SHOP_SOURCE, tmp_path)
    for line, provided in (("provided = true", ["id", "email", "name"]),
                           ('provided = ["email"]', ["email"]), ("", [])):
        (tmp_path / "sources.toml").write_text(
            text.replace('erasure = "anonymize"', f'erasure = "anonymize"\n{line}'))
        sources = load_sources(tmp_path / "sources.toml", connector_classes(), tmp_path)
        customers = sources["shop"].collections["customers"]
        assert [f for f in customers.fields if customers.is_provided(f)] == provided
