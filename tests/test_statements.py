"""Supplementary statements (issue 14, GDPR Art. 16): where a source cannot be corrected, the
person's correction is kept, sealed, and given with every later access answer of their
address: export.json (``supplementary_statements``, valid against the shipped schema) and
report.pdf's letter, read back from the package the build job stored after a search through
real workers. Another person's answer (a near-twin address) never gets it; the database holds
no value in clear."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from flask_babel import force_locale, gettext
from pypdf import PdfReader
from sqlalchemy import select, text

from dsar.cases.workflow import create_case
from dsar.changes.statements import (
    record_statement,
    statements_for,
    statements_for_email,
)
from dsar.core import storage
from dsar.deadlines import paris_date
from dsar.demo.org import SHOWCASE
from dsar.exports.content import build_content
from dsar.extensions import db
from dsar.models import AuditEvent, Case, CaseKind, SupplementaryStatement
from tests.support.exports import built_package, gathered_case, validator

LEA, TWIN = SHOWCASE["A"], SHOWCASE["B"]  # lea.fontaine@ and lea.fontaine33@example.fr
OLD, NEW = "Facture de Mme Fontain", "Facture de Mme Fontaine-Statement"
PLACE = {"source": "support", "collection": "tickets", "key": "tickets.csv:4208",
         "field": "subject"}


def _rectification(email: str = LEA["email"]) -> Case:
    case = create_case(kind=CaseKind.RECTIFICATION, requester_name="Léa Fontaine",
                       requester_email=email, language="fr", identifiers={})
    db.session.flush()
    return case


def _recorded(app, **values) -> str:
    """A rectification case of Léa's that records the statement; its reference."""
    with app.app_context():
        case = _rectification()
        record_statement(case, **(PLACE | {"old": OLD, "new": NEW} | values))
        db.session.commit()
        return case.reference


def _squeeze(value: str) -> str:
    return "".join(value.split())


def _package(app, case_id: int) -> tuple[dict, str]:
    """export.json and report.pdf's text (without whitespace) of the case's stored package."""
    data, _ = built_package(app, case_id)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        document = json.loads(archive.read("export.json"))
        pdf = PdfReader(io.BytesIO(archive.read("report.pdf")))
    return document, _squeeze("\n".join(page.extract_text() for page in pdf.pages))


def _heading(app, language: str) -> str:
    with app.app_context(), force_locale(language):
        return _squeeze(gettext("Your supplementary statements"))


def test_a_later_access_answer_gives_the_statement_and_a_twins_does_not(demo):
    reference = _recorded(demo)
    case_id = gathered_case(demo, LEA["email"], language="en")
    document, pdf_text = _package(demo, case_id)

    validator().validate(document)
    [statement] = document["supplementary_statements"]
    with demo.app_context():
        recorded_on = db.session.scalar(select(SupplementaryStatement.created_at))
    assert statement == PLACE | {
        "source_label": "Customer support", "collection_label": "Support tickets",
        "old": OLD, "new": NEW, "recorded_on": statement["recorded_on"],
        "case_reference": reference}
    assert statement["recorded_on"] == paris_date(recorded_on).isoformat()
    # report.pdf's letter: the heading, the labels, the field, both values.
    for shown in (_heading(demo, "en"), "Customersupport", "Supporttickets", "subject",
                  _squeeze(OLD), _squeeze(NEW)):
        assert shown in pdf_text, shown

    twin_id = gathered_case(demo, TWIN["email"], language="en")
    twin_document, twin_text = _package(demo, twin_id)
    validator().validate(twin_document)
    assert twin_document["supplementary_statements"] == []
    assert _squeeze(NEW) not in twin_text and _heading(demo, "en") not in twin_text


def test_the_french_answer_labels_the_statement_in_french_portability_leaves_it_out(demo):
    _recorded(demo)
    case_id = gathered_case(demo, LEA["email"])
    document, pdf_text = _package(demo, case_id)
    [statement] = document["supplementary_statements"]
    assert (statement["source_label"], statement["collection_label"]) == (
        "Service client", "Demandes au support")
    assert _heading(demo, "fr") in pdf_text and _squeeze(NEW) in pdf_text
    with demo.app_context():
        case = db.session.get(Case, case_id)
        assert build_content(case, scope="portability").statements == ()
        assert len(build_content(case).statements) == 1


def test_the_database_holds_no_value_in_clear(app):
    with app.app_context():
        case = _rectification()
        record_statement(case, **PLACE, old=OLD, new=NEW)
        db.session.commit()
        with db.engine.connect() as connection:
            rows = [dict(r._mapping) for r in connection.execute(
                text("SELECT * FROM supplementary_statements"))]
        events = db.session.scalars(select(AuditEvent.payload).where(
            AuditEvent.action == "statement.recorded")).all()
    [row] = rows
    stored = b"".join(v if isinstance(v, bytes) else str(v).encode() for v in row.values())
    for clear in (NEW, OLD, "fontain", "lea.fontaine", "tickets.csv", "subject"):
        assert clear.lower().encode() not in stored.lower(), clear
    assert (row["source"], row["collection"]) == ("support", "tickets")
    assert len(row["email_digest"]) == 64
    assert events == [{"source": "support", "collection": "tickets"}]


def test_recording_the_same_statement_twice_keeps_one_row(app):
    with app.app_context():
        case = _rectification()
        first = record_statement(case, **PLACE, old=OLD, new=NEW)
        db.session.commit()
        again = record_statement(case, **PLACE, old=OLD, new=NEW)
        db.session.commit()
        assert again.id == first.id
        # The same field, stated otherwise: still one row, the latest value.
        record_statement(case, **PLACE, old=OLD, new=NEW + " (2)")
        # Another field of the same record is another statement.
        record_statement(case, **(PLACE | {"field": "body"}), old="x", new="y")
        db.session.commit()
        count = db.session.scalar(select(db.func.count()).select_from(SupplementaryStatement))
        found = statements_for(case)
        events = db.session.scalars(select(AuditEvent.id).where(
            AuditEvent.action == "statement.recorded")).all()
    assert count == 2
    assert [(s.field, s.new) for s in found] == [("subject", NEW + " (2)"), ("body", "y")]
    assert len(events) == 3  # recorded, changed, the other field; not the repeat


def test_statements_follow_the_address_not_the_case(app):
    """Any case of the same address (spelt otherwise) finds them; a near-twin address
    never does; a later case's statement on the same field replaces the earlier one; the
    statement outlives its case."""
    with app.app_context():
        first = _rectification()
        record_statement(first, **PLACE, old=OLD, new=NEW)
        db.session.commit()
        later = _rectification(email="  LEA.Fontaine@example.FR ")
        assert [s.new for s in statements_for(later)] == [NEW]
        assert statements_for_email(TWIN["email"]) == []
        assert statements_for_email("lea.fontaine@example.com") == []
        assert statements_for_email("not an address") == []

        record_statement(later, **PLACE, old=OLD, new="Facture de Mme Fontaine")
        db.session.commit()
        [statement] = statements_for_email(LEA["email"])
        assert (statement.new, statement.case_reference) == ("Facture de Mme Fontaine",
                                                             later.reference)

        later_id = later.id
        db.session.execute(text("UPDATE supplementary_statements SET case_id = NULL "
                                "WHERE case_id = :c"), {"c": later_id})  # as ON DELETE does
        db.session.commit()
        [orphan] = statements_for_email(LEA["email"])
    assert (orphan.new, orphan.case_reference) == ("Facture de Mme Fontaine", None)


def test_a_sealed_statement_copied_to_another_row_does_not_open(app):
    """The seal is bound to its row's address, source and collection."""
    with app.app_context():
        record_statement(_rectification(), **PLACE, old=OLD, new=NEW)
        record_statement(_rectification(email=TWIN["email"]), **PLACE, old="a", new="b")
        db.session.commit()
        lea, twin = db.session.scalars(select(SupplementaryStatement)
                                       .order_by(SupplementaryStatement.id)).all()
        twin.statement_sealed = lea.statement_sealed
        db.session.commit()
        with pytest.raises(storage.BlobError):
            statements_for_email(TWIN["email"])
