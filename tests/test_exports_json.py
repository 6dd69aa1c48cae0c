"""export.json: a demo person's case, gathered through the real pipeline (real workers, the demo's
CRM and newsletter APIs over HTTP), exported and read back. It conforms to the shipped schema,
holds her data from all six sources with each field's category, and the Art. 15 information
written from the register, in French or in English; a source that failed is said to have
failed."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime

from jsonschema import Draft202012Validator

from dsar.demo.org import SHOWCASE
from dsar.exports import load_schema
from dsar.exports.content import (
    CaseInfo,
    Controller,
    ExportContent,
    Limitations,
    SourceContent,
)
from dsar.exports.information import Authority, Coded, Information
from dsar.exports.json_export import write_json
from tests.support.exports import collection, export_document, gathered_case, package_of, validator

LEA = SHOWCASE["A"]
SIX = ["platform", "crm", "newsletter", "analytics", "access_logs", "support"]


def conforms(document: dict) -> None:
    errors = [f"{e.json_path}: {e.message[:200]}" for e in validator().iter_errors(document)]
    assert not errors, errors
    # jsonschema checks "date-time" only with an optional library: check it here.
    assert datetime.fromisoformat(document["generated_at"]).tzinfo is not None


def sources(document: dict) -> dict[str, dict]:
    return {s["name"]: s for s in document["sources"]}


def records(source: dict, collection: str) -> list[dict]:
    found = [c for c in source["collections"] if c["name"] == collection]
    assert found, f"no {collection} in {source['name']}"
    return [r["fields"] for r in found[0]["records"]]


def field_category(source: dict, collection: str, field: str) -> dict:
    wanted = next(c for c in source["collections"] if c["name"] == collection)
    return next(f["category"] for f in wanted["fields"] if f["name"] == field)


def test_a_demo_persons_export_conforms_and_holds_her_data_from_all_six_sources(demo):
    case_id = gathered_case(demo, LEA["email"])
    document = export_document(package_of(demo, case_id)[0])
    conforms(document)
    assert document["case"]["reference"].startswith("DSR-")
    assert document["case"]["kind"] == {"code": "access", "label": "Accès à mes données"}
    assert document["language"] == "fr"
    found = sources(document)
    assert list(found) == SIX
    assert all(s["status"] == "done" and s["record_count"] > 0 and s["notice"] is None
               for s in found.values())
    assert document["summary"]["records"] == sum(s["record_count"] for s in found.values())

    # A known value of hers in each source.
    account = records(found["platform"], "accounts")[0]
    assert (account["birth_date"], account["phone"]) == ("1988-04-12", "+33 6 12 48 90 37")
    assert LEA["work_email"] in {c["email"]
                                 for c in records(found["crm"], "contacts_by_customer")}
    assert records(found["newsletter"], "contacts")[0]["email"] == LEA["email_other_case"]
    assert {e["visitor_id"] for e in records(found["analytics"], "events")} == {
        LEA["visitor_id"]}
    assert {r["visitor_id"] for r in records(found["access_logs"], "requests")} == {
        LEA["visitor_id"]}
    assert LEA["email"] in {t["requester_email"].lower()
                            for t in records(found["support"], "tickets")}
    # The credential is named, never handed over.
    accounts = found["platform"]["collections"][0]
    assert [f["name"] for f in accounts["withheld_fields"]] == ["password_hash"]
    assert "password_hash" not in account and "password_hash" not in json.dumps(
        [r for r in accounts["records"]])
    # Nobody else's data (her namesake, the colleague who wrote about her).
    text = json.dumps(document, ensure_ascii=False)
    assert SHOWCASE["B"]["email"] not in text and SHOWCASE["D"]["email"] not in text

    # Every field carries its category, labelled in French.
    categories = {c["code"] for c in document["information"]["categories"]}
    for source in found.values():
        for found_collection in source["collections"]:
            for field in found_collection["fields"]:
                assert field["category"]["code"] in categories, field
    assert field_category(found["platform"], "accounts", "phone") == {
        "code": "contact", "label": "Coordonnées (adresse e-mail, téléphone, adresse postale)"}
    assert field_category(found["analytics"], "events", "url")["code"] == "navigation"
    # A summary per category: the records holding a value of it.
    accounts_summary = {c["code"]: c["records"] for c in accounts["categories"]}
    assert accounts_summary["contact"] == 1 and "authentication" not in accounts_summary
    events = found["analytics"]["collections"][0]
    assert events["categories"] == [{"code": "navigation", "label": (
        "Données de navigation (pages consultées, identifiant de traceur)"),
        "records": events["record_count"]}]


def test_the_art_15_information_names_recipients_transfers_rights_and_the_cnil(demo):
    case_id = gathered_case(demo, LEA["email"])
    info = export_document(package_of(demo, case_id)[0])["information"]
    assert info["found"] is True
    processing = {p["name"]: p for p in info["processing"]}
    assert set(processing) == {"training", "invoicing", "crm", "newsletter", "audience",
                               "security_logs", "support"}
    assert processing["invoicing"]["legal_basis"] == {
        "code": "legal_obligation", "label": "Respect d’une obligation légale (RGPD, art. 6(1)(c))"}
    assert processing["newsletter"]["legal_basis"]["code"] == "consent"
    assert processing["audience"]["retention"] == "13 mois"
    assert processing["newsletter"]["origin"].startswith("Vous-même")
    # Categories of each processing: only those found in its sources.
    assert [c["code"] for c in processing["audience"]["categories"]] == ["navigation"]
    names = {r["name"] for r in info["recipients"]}
    assert {"OVH SAS", "Zoho Corporation B.V.", "Sendinblue SAS (Brevo)",
            "Stripe Payments Europe, Ltd."} <= names
    assert any(n.startswith("Google Ireland Limited") for n in names)
    transfers = {(t["recipient_name"], t["country"]) for p in info["processing"]
                 for t in p["transfers"]}
    assert ("Zoho Corporation B.V.", "IN") in transfers
    assert ("Stripe Payments Europe, Ltd.", "US") in transfers
    assert all(p["automated_decision"] is False for p in info["processing"])
    assert info["automated_decisions"]
    rights = {r["code"]: r for r in info["rights"]}
    assert {"rectification", "erasure", "restriction", "objection",
            "portability"} <= set(rights)
    assert rights["erasure"]["title"] == "Droit à l’effacement"
    # The law cited as it is written in French, never "GDPR Art." in a French answer.
    assert rights["erasure"]["article"] == "RGPD, art. 17"
    assert "GDPR" not in json.dumps(info, ensure_ascii=False)
    assert rights["objection"]["processing"] == ["crm", "security_logs"]
    assert "invoicing" not in rights["portability"]["processing"]
    assert rights["withdraw_consent"]["processing"] == ["newsletter", "audience"]
    assert "dpo@horizon-formation.example" in info["exercise"]
    complaint = info["complaint"]
    assert complaint["code"] == "CNIL" and complaint["website"] == "https://www.cnil.fr"
    assert "3 place de Fontenoy" in complaint["address"]


def test_data_kept_despite_erasure_is_listed_with_its_legal_basis(demo):
    case_id = gathered_case(demo, LEA["email"])
    retained = export_document(package_of(demo, case_id)[0])["limitations"]["retained"]
    by_collection = {(r["source"], r["collection"]): r for r in retained}
    assert set(by_collection) == {("platform", "enrolments"), ("platform", "attendance"),
                                  ("platform", "invoices")}
    assert "L123-22" in by_collection["platform", "invoices"]["basis"]
    assert by_collection["platform", "invoices"]["record_count"] > 0


def test_the_same_answer_in_english(demo):
    case_id = gathered_case(demo, LEA["email"], language="en")
    zip_bytes, _ = package_of(demo, case_id)
    document = export_document(zip_bytes)
    conforms(document)
    assert document["language"] == "en"
    assert document["case"]["kind"]["label"] == "Access to my data"
    found = sources(document)
    assert found["platform"]["label"] == "Training platform"
    assert field_category(found["platform"], "accounts", "phone")["label"] == (
        "Contact details (e-mail address, telephone, postal address)")
    info = document["information"]
    processing = {p["name"]: p for p in info["processing"]}
    assert processing["audience"]["retention"] == "13 months"
    assert processing["invoicing"]["legal_basis"]["label"] == (
        "Compliance with a legal obligation (GDPR Art. 6(1)(c))")
    assert processing["crm"]["transfers"][0]["safeguard"].startswith(
        "European Commission standard contractual clauses")
    assert {r["code"]: r["title"] for r in info["rights"]}["erasure"] == "Right to erasure"
    assert "complaint with the CNIL" in info["complaint"]["text"]
    assert "Zoho Corporation B.V." in {r["name"] for r in info["recipients"]}


def test_a_source_that_failed_is_reported_as_such(demo, monkeypatch):
    monkeypatch.setenv("HORIZON_NEWSLETTER_API_KEY", "not-the-key")  # the API answers 401
    case_id = gathered_case(demo, LEA["email"])
    document = export_document(package_of(demo, case_id)[0])
    conforms(document)
    newsletter = sources(document)["newsletter"]
    assert newsletter["status"] == "failed" and newsletter["collections"] == []
    assert newsletter["notice"].startswith("Cette source n’a pas pu être interrogée lors de")
    assert "ne figure pas dans cette réponse" in newsletter["notice"]
    assert document["summary"]["sources_not_searched"] == ["newsletter"]
    # Nothing is claimed about processing whose data was not found.
    assert "newsletter" not in {p["name"] for p in document["information"]["processing"]}
    assert sources(document)["platform"]["record_count"] > 0


def test_the_schema_is_strict():
    """A document with a mistyped key, an unknown legal basis or a failed source without a
    notice does not conform."""
    schema = load_schema()
    Draft202012Validator.check_schema(schema)
    processing = schema["$defs"]["processing"]
    assert processing["additionalProperties"] is False
    assert set(processing["properties"]["legal_basis"]["properties"]["code"]["enum"]) == {
        "consent", "contract", "legal_obligation", "vital_interests", "public_task",
        "legitimate_interests"}
    check = Draft202012Validator(schema["$defs"]["source"] | {"$defs": schema["$defs"]})
    failed = {"name": "crm", "label": "CRM", "kind": "http", "status": "failed",
              "notice": None, "record_count": 0, "collections": []}
    assert not check.is_valid(failed)
    assert check.is_valid(failed | {"notice": "Could not be searched."})
    assert not check.is_valid(failed | {"notice": "x", "stauts": "done"})


def test_the_writer_writes_the_same_document_to_text_and_binary_streams(app):
    """Records are read when written, one by one; numbers JSON cannot hold are kept as text."""
    stored = [{"collection": "notes", "key": "1", "fields": {"text": "Été", "score": 1.5}},
              {"collection": "notes", "key": "2", "fields": {"text": "x", "score": float("nan")}}]
    reads = []

    def read():
        reads.append(1)
        return iter(stored)

    source = SourceContent("crm", "CRM", "http", "done", None, 2,
                           (collection("text", "score"),), read)
    content = ExportContent(
        scope="access", language="en", generated_at=datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
        case=CaseInfo("DSR-AAAA-BBBB", Coded("access", "Access"), date(2026, 3, 1),
                      date(2026, 4, 1), False, "Jeanne Martin", None),
        controller=Controller("Org", None, None),
        information=Information(True, (), (), (), (), "Write to us.",
                                Authority("CNIL", "CNIL", "Paris", "https://www.cnil.fr",
                                          "https://www.cnil.fr/fr/plaintes", "Complain."),
                                "None."),
        limitations=Limitations(), sources=(source,))
    binary, text = io.BytesIO(), io.StringIO()
    assert write_json(content, binary) == 2
    assert write_json(content, text) == 2
    assert binary.getvalue().decode("utf-8") == text.getvalue()
    assert len(reads) == 2  # once per writing, nothing cached
    document = json.loads(text.getvalue())
    records_written = document["sources"][0]["collections"][0]["records"]
    assert records_written == [{"key": "1", "fields": {"text": "Été", "score": 1.5}},
                               {"key": "2", "fields": {"text": "x", "score": "nan"}}]
