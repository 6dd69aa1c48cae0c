"""Issue 15's demo: a deceased person with directives (F, Monique Garnier) and one without (G,
Bernard Lemoine), each with records in the demo's sources, and the two execution requests
that wait for staff (her daughter, whom the directives designate; his daughter, an heir)."""

from __future__ import annotations

import csv
import io
import sqlite3
from contextlib import closing
from datetime import date
from pathlib import Path

import pypdf
import pytest
from sqlalchemy import select

from dsar.core import storage
from dsar.core.uploads import sniff_content_type
from dsar.demo.cases import seed_sample_cases
from dsar.demo.org import SHOWCASE, generate
from dsar.extensions import db
from dsar.models import Case, CaseKind, CaseStatus, DirectiveVersion, ProofKind
from dsar.postmortem import directives, matching

F, G = SHOWCASE["F"], SHOWCASE["G"]
ELISE, SOPHIE = F["relative"], G["relative"]


def count(db_file: Path, sql: str, *params) -> int:
    with closing(sqlite3.connect(db_file)) as con:
        return con.execute(sql, params).fetchone()[0]


@pytest.fixture(scope="module")
def org(tmp_path_factory) -> Path:
    """The demo organisation at its smallest size (the showcase is there whatever the size)."""
    return generate(tmp_path_factory.mktemp("org") / "demo-org", 50).target_dir


def test_the_deceased_have_records_in_the_demo_sources(org):
    platform, crm, newsletter = (org / f"{n}.sqlite" for n in ("platform", "crm", "newsletter"))
    for person in (F, G):
        assert count(platform, "SELECT count(*) FROM accounts WHERE id = ? AND email = ?",
                     person["customer_id"], person["email"]) == 1
        # What a copy or the estate needs: training records and invoices.
        for table in ("enrolments", "invoices"):
            assert count(platform, f"SELECT count(*) FROM {table} WHERE account_id = ?",  # noqa: S608
                         person["customer_id"]) >= 1, (person["email"], table)
        assert count(platform, "SELECT count(*) FROM attendance JOIN enrolments ON "
                     "enrolments.id = attendance.enrolment_id WHERE account_id = ?",
                     person["customer_id"]) >= 1
        assert count(newsletter, "SELECT count(*) FROM contacts WHERE lower(email) = ?",
                     person["email"]) == 1
        assert count(crm, "SELECT count(*) FROM contacts WHERE email = ? AND customer_id = ?",
                     person["email"], str(person["customer_id"])) == 1
        # The death is after everything she or he signed up for (a birth long before).
        assert person["birth_date"] < person["died"] < date.today().isoformat()
    with (org / "support" / "tickets.csv").open(encoding="utf-8", newline="") as handle:
        hers = [t for t in csv.DictReader(handle) if t["requester_email"] == F["email"]]
    assert [t["customer_id"] for t in hers] == [str(F["customer_id"])]
    # Their relatives are no one the organisation knows.
    for relative in (ELISE, SOPHIE):
        assert count(platform, "SELECT count(*) FROM accounts WHERE lower(email) = ?",
                     relative["email"]) == 0


def test_f_left_directives_in_force_at_her_death_and_g_none(app):
    with app.app_context():
        seed_sample_cases()
        (case,) = directives.find(email=F["email"])
        assert case.status is CaseStatus.RECORDED and case.requester_email == F["email"]
        died = date.fromisoformat(F["died"])
        assert case.received_on < died
        (version,) = db.session.scalars(select(DirectiveVersion).where(
            DirectiveVersion.case_id == case.id)).all()
        assert version.version == 1 and version.created_at.date() < died
        at_death = directives.in_force_at(case, died)
        assert at_death.designated_email == ELISE["email"]
        assert at_death.designated_name == ELISE["name"]
        assert at_death.categories["training"] == "hand_over"
        assert at_death.categories["financial"] == "erase"
        assert at_death.categories["identification"] == "erase"
        assert not at_death.heirs_excluded
        assert directives.in_force_at(case, case.received_on.replace(year=2020)) is None
        assert directives.find(email=G["email"]) == []
        assert matching.directives_at_death(G["email"], date.fromisoformat(G["died"])) is None


def _execution(requester: dict) -> Case:
    return db.session.scalars(select(Case).where(
        Case.kind == CaseKind.POSTMORTEM_EXECUTION,
        Case.email_normalized == requester["email"])).one()


def _stated(person: dict) -> dict:
    return {"deceased_name": f"{person['first_name']} {person['last_name']}",
            "deceased_email": person["email"], "date_of_birth": person["birth_date"],
            "date_of_death": person["died"], "requester_role": person["relative"]["role"]}


def test_the_two_execution_requests_wait_for_staff_with_their_documents(app):
    with app.app_context():
        seed_sample_cases()
        elise, sophie = _execution(ELISE), _execution(SOPHIE)
        for case, person in ((elise, F), (sophie, G)):
            assert case.status is CaseStatus.CONFIRMED and case.language == "fr"
            assert case.requester_name == person["relative"]["name"]
            assert case.received_on > date.fromisoformat(person["died"])
            # Nothing of the requester's own to search: the deceased's identifiers decide.
            assert case.identifiers == {}
        assert elise.details == _stated(F) | {
            "deceased_customer_number": str(F["customer_id"])}
        assert elise.details["requester_role"] == "designated_person"
        assert sophie.details == _stated(G) | {
            "heir_requests": ["estate_information", "close_accounts", "record_death"]}
        assert sophie.details["requester_role"] == "heir"
        # Each document labelled and readable, as the portal stores them, naming the deceased.
        kinds = {case.id: sorted(p.kind for p in case.proofs) for case in (elise, sophie)}
        assert kinds[elise.id] == sorted([ProofKind.DEATH_CERTIFICATE, ProofKind.IDENTITY])
        assert kinds[sophie.id] == sorted([ProofKind.DEATH_CERTIFICATE, ProofKind.HEIR_STATUS,
                                           ProofKind.IDENTITY])
        for case, person in ((elise, F), (sophie, G)):
            for proof in case.proofs:
                data = storage.get(proof.blob_id)
                assert sniff_content_type(data) == proof.content_type == "application/pdf"
                text = pypdf.PdfReader(io.BytesIO(data), strict=True).pages[0].extract_text()
                assert "SPÉCIMEN" in text
                if proof.kind is ProofKind.DEATH_CERTIFICATE:
                    assert person["last_name"] in text
                    assert date.fromisoformat(person["died"]).strftime("%d/%m/%Y") in text
        # What staff will find when they confirm the deceased: F's directives designate the
        # requester; G left none, so his daughter acts as an heir.
        found = matching.directives_at_death(F["email"], date.fromisoformat(F["died"]))
        assert found.content.designated_email == ELISE["email"]
        assert matching.outcome_of(elise, found) == matching.DIRECTIVES
        assert matching.outcome_of(sophie, None) == matching.HEIR
