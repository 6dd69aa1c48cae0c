"""A few sample cases so the demo's back office has something to show. The requesters are
people of the demo organisation (:mod:`dsar.demo.org`), so gathering finds their data: the
showcase people A-E first (A, Léa Fontaine, has data in all six sources), then a few of the
generated population (the first account ids exist whatever the population size).

The post-mortem walk (docs/postmortem.md, "In the demo"): F, Monique Garnier, recorded her
directives long before her death, and her daughter, whom they designate, now asks for them to
be carried out; G, Bernard Lemoine, left none, and his daughter asks as an heir. Both
execution requests wait for staff to check their documents (specimens, stored as the portal
stores uploads) and confirm the deceased."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple

from sqlalchemy import func, select, update

from dsar import pipeline
from dsar.cases.clock import today_in_paris
from dsar.cases.proofs import store_upload
from dsar.cases.workflow import create_case, transition
from dsar.demo.org import MIN_PEOPLE, SHOWCASE
from dsar.demo.org.people import person
from dsar.extensions import db
from dsar.models import ActorType, Case, CaseKind, CaseStatus, DirectiveVersion, ProofKind
from dsar.postmortem import directives
from dsar.search import gathering


def _showcase(key: str) -> tuple[str, str]:
    info = SHOWCASE[key]
    return f"{info['first_name']} {info['last_name']}", info["email"]


def _relative(key: str) -> tuple[str, str]:
    """The relative of a deceased showcase person (F, G) who asks about them."""
    relative = SHOWCASE[key]["relative"]
    return relative["name"], relative["email"]


def _generated(index: int) -> tuple[str, str]:
    """A generated account holder (the demo's default seed; index < 50 exists at any size)."""
    someone = person(index, 2026, MIN_PEOPLE)
    return f"{someone.first_name} {someone.last_name}", someone.email


def _deceased(key: str, **more) -> dict:
    """What the execution form collects about showcase person ``key``, who died (dates in
    ISO form, as the portal stores them), and the requester's role."""
    info = SHOWCASE[key]
    return {"deceased_name": _showcase(key)[0], "deceased_email": info["email"],
            "date_of_birth": info["birth_date"], "date_of_death": info["died"],
            "requester_role": info["relative"]["role"], **more}


#: What the portal's form would have collected for a kind (``Case.details``).
DETAILS = {
    CaseKind.RECTIFICATION: {"data_to_correct": "Ma ville de résidence",
                             "correct_value": "Lyon (j'ai déménagé)"},
    CaseKind.OBJECTION: {"objection_target": "other",
                         "objection_reasons": "Je ne souhaite plus être suivie par votre CRM."},
    CaseKind.RESTRICTION: {"restriction_ground": "accuracy_contested"},
    CaseKind.ERASURE: {"erasure_ground": "no_longer_needed"},
    # F's: every category of the demo register erased, but the training record handed over to
    # her daughter. Her invoices stay all the same: the law keeps them (the letter says so).
    CaseKind.POSTMORTEM_DIRECTIVE: {
        **{f"category_{name}": "erase" for name in (
            "identification", "contact", "professional", "test_results", "authentication",
            "connection", "navigation", "commercial", "marketing", "correspondence",
            "account_status", "free_text", "financial")},
        "category_training": "hand_over",
        "directive_instructions": "Remettre mes attestations de formation à ma fille.",
        "trusted_person_name": _relative("F")[0], "trusted_person_email": _relative("F")[1],
        "consent": True},
}


class Sample(NamedTuple):
    """One sample case."""

    name: str
    email: str
    kind: CaseKind
    #: Days before today it was received, or the day it was (a directive filed long before
    #: its author's death, whatever day the demo runs).
    received: int | date
    #: The statuses it went through after ``submitted``.
    path: list[str]
    #: What the form collected, when not ``DETAILS[kind]``.
    details: dict | None = None
    #: The documents sent with it: (what each proves, the specimen's lines).
    documents: tuple[tuple[ProofKind, tuple[str, ...]], ...] = ()


def _death_certificate(key: str) -> tuple[ProofKind, tuple[str, ...]]:
    info = SHOWCASE[key]
    born, died = (date.fromisoformat(info[k]).strftime("%d/%m/%Y")
                  for k in ("birth_date", "died"))
    return ProofKind.DEATH_CERTIFICATE, (
        "Acte de décès", f"Nom : {_showcase(key)[0]}", f"Date de naissance : {born}",
        f"Date du décès : {died}", f"Lieu du décès : {info['city']}")


def _identity(name: str) -> tuple[ProofKind, tuple[str, ...]]:
    return ProofKind.IDENTITY, ("Carte nationale d'identité", name)


def _heir_document(key: str) -> tuple[ProofKind, tuple[str, ...]]:
    heir, deceased = _relative(key)[0], _showcase(key)[0]
    return ProofKind.HEIR_STATUS, ("Acte de notoriété", f"{heir}, fille et héritière de "
                                   f"{deceased}")


#: (name, e-mail, kind, received, status path[, details, documents])
SAMPLES = [
    # Searched as soon as the worker starts: waits in review with all six sources.
    Sample(*_showcase("A"), CaseKind.ACCESS, 27, ["confirmed", "verified", "in_progress"]),
    Sample(*_showcase("B"), CaseKind.ERASURE, 24, ["confirmed", "verified"]),
    Sample(*_showcase("C"), CaseKind.RECTIFICATION, 12, ["confirmed"]),
    Sample(*_showcase("D"), CaseKind.OBJECTION, 5, ["confirmed"]),
    Sample(*_generated(1), CaseKind.PORTABILITY, 35, ["confirmed", "verified", "in_progress"]),
    Sample(*_showcase("E"), CaseKind.ACCESS, 2, []),
    Sample(*_showcase("A"), CaseKind.PORTABILITY, 3, ["confirmed", "verified"]),
    Sample(*_generated(2), CaseKind.RESTRICTION, 60, ["confirmed", "withdrawn"]),
    # F's directives, filed and recorded 400 days before her death.
    Sample(*_showcase("F"), CaseKind.POSTMORTEM_DIRECTIVE,
           date.fromisoformat(SHOWCASE["F"]["died"]) - timedelta(days=400), ["confirmed"]),
    # Her daughter, whom they designate, asks for them to be carried out.
    Sample(*_relative("F"), CaseKind.POSTMORTEM_EXECUTION, 4, ["confirmed"],
           details=_deceased("F", deceased_customer_number=str(SHOWCASE["F"]["customer_id"])),
           documents=(_death_certificate("F"), _identity(_relative("F")[0]))),
    # G left no directives: his daughter asks, as an heir, what art. 85 II allows.
    Sample(*_relative("G"), CaseKind.POSTMORTEM_EXECUTION, 6, ["confirmed"],
           details=_deceased("G", heir_requests=["estate_information", "close_accounts",
                                                 "record_death"]),
           documents=(_death_certificate("G"), _heir_document("G"),
                      _identity(_relative("G")[0]))),
]


def specimen_pdf(lines: tuple[str, ...]) -> bytes:
    """A one-page PDF showing ``lines`` under a "specimen" banner: the demo's stand-in for a
    scanned document (Helvetica, WinAnsi: French text prints as is)."""
    def text(line: str) -> bytes:
        raw = line.encode("cp1252")
        return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")

    shown = ("SPÉCIMEN - document de démonstration", "", *lines)
    stream = (b"BT /F1 14 Tf 20 TL 72 800 Td "
              + b" ".join(b"(" + text(line) + b") '" for line in shown) + b" ET")
    objects = (
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
    )
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)


def seed_sample_cases() -> int:
    """Add the sample cases once (only into an empty database). Returns how many."""
    if db.session.scalar(select(func.count(Case.id))):
        return 0
    today = today_in_paris()
    planned = []
    for sample in SAMPLES:
        day = (sample.received if isinstance(sample.received, date)
               else today - timedelta(days=sample.received))
        received_at = datetime.combine(day, time(9, 30), tzinfo=UTC)
        # The customer number the requester typed; an execution's requester is not the one
        # whose data is searched (the deceased's number is among the details).
        number = f"HZ-{sum(map(ord, sample.email)) * 37 % 99999:05d}"  # stable across runs
        identifiers = ({} if sample.kind is CaseKind.POSTMORTEM_EXECUTION
                       else {"customer_number": number})
        proofs = [store_upload((specimen_pdf(lines), "application/pdf"), proves)
                  for proves, lines in sample.documents]
        case = create_case(kind=sample.kind, requester_name=sample.name,
                           requester_email=sample.email, language="fr",
                           received_at=received_at, identifiers=identifiers,
                           details=dict(sample.details or DETAILS.get(sample.kind, {})),
                           proofs=proofs)
        for step in sample.path:
            transition(case, CaseStatus(step), actor_type=ActorType.SYSTEM,
                       payload={"demo": True})
        if case.status is CaseStatus.IN_PROGRESS:
            planned.extend(gathering.prepare(case))
        if directives.take_up(case):  # post-mortem directives: recorded once confirmed
            # Recorded when filed (today's stamp would postdate the death, and the version
            # in force at the date of death is the one that decides).
            db.session.execute(update(DirectiveVersion).where(
                DirectiveVersion.case_id == case.id).values(created_at=received_at))
    db.session.commit()
    pipeline.start(planned)  # the worker searches the sources once it is up
    return len(SAMPLES)
