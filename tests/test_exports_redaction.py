"""Other people's data is masked in the answer and the masking reported (legal rules §4, GDPR
Art. 15(4)). Julien Mercier (D in the demo) wrote a support ticket naming his colleague Léa
Fontaine (A) and quoting her address: his package, built by the real pipeline from the demo
organisation, holds none of her identifiers in any file nor in the PDF's text, says where and
why something was masked, and still holds his own data. The person's own address and phone
number, in whatever form they wrote them, are never masked."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from pypdf import PdfReader
from sqlalchemy import select

from dsar.core import storage
from dsar.demo.org import SHOWCASE
from dsar.demo.org.showcase import PEOPLE
from dsar.exports.contacts import contacts_in, mask_text, normal_phone
from dsar.exports.content import build_content
from dsar.exports.package import write_package
from dsar.extensions import db
from dsar.models import (
    AuditEvent,
    Case,
    CaseStatus,
    GatherStatus,
    MailTemplate,
    OutboundEmail,
    SourceResult,
)
from dsar.search import gathering
from dsar.sources.base import Discovery, Identity, Record
from tests.support.app import dispose
from tests.support.data import data_text
from tests.support.exports import built_package, gathered_case, validator, zip_members
from tests.support.gathering import app_with_sources, sources_text
from tests.support.staff import make_case

LEA, JULIEN = SHOWCASE["A"], SHOWCASE["D"]
LEA_PHONE = next(p["phone"] for p in PEOPLE.values() if p["key"] == "A")
TICKET_SUBJECT = "Convocations non reçues pour une collègue"
MARKER = _l("[third party's data redacted]")


def squeeze(text: str) -> str:
    """``text`` without whitespace, lower-cased: a value wrapped in a PDF cell reads back
    whole, and an address in any letter case is found."""
    return "".join(text.split()).lower()


def in_locale(app, language: str, message) -> str:
    with app.app_context(), force_locale(language):
        return str(message)


def lea_traces(text: str) -> list[str]:
    """Which of Léa Fontaine's identifiers ``text`` holds (her addresses in any letter case,
    her phone number in any form, her analytics visitor id, her name)."""
    flat = squeeze(text)
    found = [value for value in (LEA["email"], LEA["email_other_case"], LEA["work_email"],
                                 LEA["visitor_id"], "Léa Fontaine", LEA_PHONE, "0612489037")
             if squeeze(value) in flat]
    if any(h.value == normal_phone(LEA_PHONE) for h in contacts_in(text)):
        found.append("her phone, in another form")
    return found


def test_a_colleagues_address_in_a_ticket_is_masked_everywhere_and_reported(demo):
    case_id = gathered_case(demo, JULIEN["email"])
    zip_bytes, package = built_package(demo, case_id)
    members = zip_members(zip_bytes)
    assert {"export.json", "report.pdf", "manifest.json", "csv/support/tickets.csv"} <= set(
        members)

    # No trace of Léa in any file of the package, nor in the PDF's text and attachment.
    reader = PdfReader(io.BytesIO(members["report.pdf"]))
    pdf_text = "\n".join(page.extract_text() for page in reader.pages)
    [attached] = reader.attachments["export.json"]
    texts = {name: data.decode("utf-8") for name, data in members.items()
             if name != "report.pdf"}
    texts.update({"report.pdf (text)": pdf_text, "report.pdf (export.json)": attached.decode()})
    for name, text in texts.items():
        assert lea_traces(text) == [], name

    # His own data is still there: his address, his ticket, his own signature.
    document = json.loads(members["export.json"])
    assert not list(validator().iter_errors(document))
    support = next(s for s in document["sources"] if s["name"] == "support")
    [tickets] = support["collections"]
    [ticket] = [r for r in tickets["records"] if r["fields"]["subject"] == TICKET_SUBJECT]
    marker = in_locale(demo, "fr", MARKER)
    body = ticket["fields"]["body"]
    assert body.startswith(f"Bonjour,\nMa collègue {marker} ne reçoit pas ses convocations")
    assert "Julien Mercier\nCadre de santé" in body
    assert ticket["fields"]["requester_email"] == JULIEN["email"]
    platform = next(s for s in document["sources"] if s["name"] == "platform")
    assert platform["collections"][0]["records"][0]["fields"]["email"] == JULIEN["email"]
    assert TICKET_SUBJECT in texts["csv/support/tickets.csv"]
    assert squeeze(TICKET_SUBJECT) in squeeze(pdf_text)

    # Reported: where and why in export.json, never the value; in the letter, with remedies.
    limitations = document["limitations"]
    assert limitations["redactions"] == [{
        "source": "support", "collection": "tickets", "key": ticket["key"], "field": "body",
        "reason": "third_party_email"}]
    assert limitations["redaction_marker"] == marker
    notice = limitations["redaction_notice"].lower()
    assert "15(4)" in notice and "cnil" in notice and "art. 79" in notice
    heading = in_locale(demo, "fr", _l("Other people's data"))
    flat_pdf = squeeze(pdf_text)
    assert squeeze(heading) in flat_pdf
    assert "15(4)" in flat_pdf and "cnil" in flat_pdf and "art.79" in flat_pdf
    assert squeeze(marker) in flat_pdf

    # The package row and the audit trail count it (the count only).
    assert package.redaction_count == 1 and package.scope == "access"
    with demo.app_context():
        event = db.session.scalar(select(AuditEvent).where(
            AuditEvent.case_id == case_id, AuditEvent.action == "package.built"))
        assert event.payload["redactions"] == 1
        assert "lea" not in json.dumps(event.payload).lower()
        # The partial refusal is told when decided (the build), not at the release.
        assert db.session.scalar(select(OutboundEmail.id).where(
            OutboundEmail.case_id == case_id,
            OutboundEmail.template == MailTemplate.MASKED_DATA_NOTICE)) is not None


def test_the_same_report_in_english(demo):
    case_id = gathered_case(demo, JULIEN["email"], language="en")
    members = zip_members(built_package(demo, case_id)[0])
    document = json.loads(members["export.json"])
    text = squeeze("\n".join(p.extract_text() for p in PdfReader(
        io.BytesIO(members["report.pdf"])).pages))
    assert document["limitations"]["redaction_marker"] == "[third party's data redacted]"
    assert "other people" in document["limitations"]["redaction_notice"]
    assert squeeze("Other people's data") in text
    assert squeeze("[third party's data redacted]") in text
    assert lea_traces(members["export.json"].decode()) == []


@pytest.fixture
def notes_app(app, tmp_path, database_url, redis_url, key_file, smtp_server):
    (tmp_path / "sources.toml").write_text(
        sources_text(data_text("redaction/sources.toml"), tmp_path))
    (tmp_path / "register.toml").write_text(data_text("redaction/register.toml"))
    shop = app_with_sources(database_url, redis_url, key_file, smtp_server, tmp_path)
    yield shop
    dispose(shop)


def stored_case(app, records: list[Record], identifiers: Identity | None = None) -> int:
    """A case in review whose shop search found ``records`` (stored as a search stores them)."""
    case = make_case(app, status=CaseStatus.REVIEW)  # camille.martin@example.fr
    found = Discovery(records=records, identifiers=identifiers or Identity())
    with app.app_context():
        with storage.text_writer() as out:
            for line in gathering.result_lines(found):
                out.write(line)
        db.session.add(SourceResult(
            case_id=case.id, source="shop", status=GatherStatus.DONE, round=1,
            result_blob_id=out.blob.blob_id, record_count=len(records),
            counts={"customers": len(records)}))
        db.session.commit()
    return case.id


def exported(app, case_id: int) -> tuple[dict, object]:
    out = io.BytesIO()
    with app.app_context():
        content = build_content(db.session.get(Case, case_id),
                                now=datetime(2026, 3, 2, 9, 30, tzinfo=UTC))
        write_package(content, out)
    return json.loads(zip_members(out.getvalue())["export.json"]), content


def test_the_persons_own_address_and_phone_in_free_text_are_never_masked(notes_app):
    own_note = ("Rappeler Camille au 06.11.22.33.44 ou au 0033 6 11 22 33 44, ou écrire à "
                "Camille.Martin@Example.FR ou à C.Martin@Travail.example (Camille Martin).")
    records = [
        Record("customers", "1", {"id": 1, "email": "camille.martin@example.fr",
                                  "phone": "+33 6 11 22 33 44", "note": own_note,
                                  "referrer": "c.martin@travail.example"}),
        # Her work address, only in a structured field of another record of hers.
        Record("customers", "2", {"id": 2, "email": "c.martin@travail.example", "phone": None,
                                  "note": "Sa sœur Julie Martin <julie.martin@example.org> ou "
                                          "le 07 98 76 54 32 (Julie).",
                                  "referrer": "Parrainée par paul.durand@example.fr"}),
    ]
    document, content = exported(notes_app, stored_case(notes_app, records))
    marker = content.limitations.redaction_marker
    [customers] = document["sources"][0]["collections"]
    first, second = (r["fields"] for r in customers["records"])
    assert first["note"] == own_note  # every form of her own phone and addresses is hers
    assert first["referrer"] == "c.martin@travail.example"  # hers, though a third_party field
    assert second["note"] == f"Sa sœur {marker} ou le {marker}."
    assert second["referrer"] == f"Parrainée par {marker}"
    assert [(r["key"], r["field"], r["reason"]) for r in document["limitations"]["redactions"]
            ] == [("2", "note", "third_party_email"), ("2", "note", "third_party_phone"),
                  ("2", "referrer", "third_party_email")]
    assert not list(validator().iter_errors(document))


def test_a_structured_field_is_the_persons_own_and_is_not_scanned(notes_app):
    """A contact field of her record holds her data by construction; only free text and the
    fields marked ``third_party`` are scanned."""
    records = [Record("customers", "1", {"id": 1, "email": "camille.martin@example.fr",
                                         "phone": "06 99 88 77 66", "note": None,
                                         "referrer": None})]
    document, content = exported(notes_app, stored_case(notes_app, records))
    assert document["sources"][0]["collections"][0]["records"][0]["fields"]["phone"] == (
        "06 99 88 77 66")
    assert document["limitations"]["redactions"] == []
    assert document["limitations"]["redaction_notice"] is None


@pytest.mark.parametrize("text, masked, expected", [
    ("Ma collègue Léa Fontaine (lea.fontaine@example.fr) ne reçoit rien",
     {"lea.fontaine@example.fr"}, "Ma collègue [X] ne reçoit rien"),
    ('Transféré de "Léa Fontaine" <Lea.Fontaine@Example.FR>, merci',
     {"lea.fontaine@example.fr"}, "Transféré de [X], merci"),
    ("Écrire à lea.fontaine@example.fr (Léa de La Fontaine).",
     {"lea.fontaine@example.fr"}, "Écrire à [X]."),
    ("Son portable : +33 (0)6 12 48 90 37 ou 06-12-48-90-37.", {"0612489037"},
     "Son portable : [X] ou [X]."),
    ("Bonjour,\nLéa Fontaine (lea@example.fr)", {"lea@example.fr"}, "Bonjour,\n[X]"),
    # Numbers that are no phone numbers are left alone.
    ("Facture FAC-0612489037 du 2025-01-20, 1 250,00 €, IP 203.0.113.45, id "
     "5725767000000412004", {"0612489037"},
     "Facture FAC-0612489037 du 2025-01-20, 1 250,00 €, IP 203.0.113.45, id "
     "5725767000000412004"),
])
def test_what_is_masked_in_a_text(text, masked, expected):
    assert mask_text(text, frozenset(masked), "[X]")[0] == expected
