"""The Art. 15 information of an answer, computed from the records of processing.

GDPR Art. 15(1)(a)-(h) and 15(2) (docs/legal-rules.md §4): for the sources where something was
found, the purposes, the legal bases, the categories of data, the recipients by name, the retention
periods, the rights, the right to complain to the CNIL, where the data came from, automated
decisions, and transfers outside the EU with their safeguards. Texts come from
``register.toml`` (French, with English variants) and from this module's messages (English
msgids, translated by Flask-Babel: build inside ``force_locale(language)``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from flask_babel import gettext, lazy_gettext

from dsar.sources.register import Processing, Register

#: The code of a field whose category ``sources.toml`` does not give.
UNCLASSIFIED = "unclassified"

#: Art. 6(1) legal bases, in the order of the article.
LEGAL_BASIS_LABELS = {
    "consent": lazy_gettext("Consent (GDPR Art. 6(1)(a))"),
    "contract": lazy_gettext("Performance of a contract (GDPR Art. 6(1)(b))"),
    "legal_obligation": lazy_gettext("Compliance with a legal obligation (GDPR Art. 6(1)(c))"),
    "vital_interests": lazy_gettext("Protection of vital interests (GDPR Art. 6(1)(d))"),
    "public_task": lazy_gettext("Task carried out in the public interest (GDPR Art. 6(1)(e))"),
    "legitimate_interests": lazy_gettext("Our legitimate interests (GDPR Art. 6(1)(f))"),
}

#: right -> (article, title, text, legal bases it applies to; None: every processing).
RIGHTS = {
    "rectification": (lazy_gettext("GDPR, Art. 16"), lazy_gettext("Right to rectification"),
                      lazy_gettext(
        "You may have inaccurate data about you corrected, and incomplete data completed, "
        "including by means of a supplementary statement."), None),
    "erasure": (lazy_gettext("GDPR, Art. 17"), lazy_gettext("Right to erasure"),
                lazy_gettext(
        "You may have your data erased, unless we must keep it, for instance to comply with a "
        "legal obligation; the data we would have to keep is listed in this answer."), None),
    "restriction": (lazy_gettext("GDPR, Art. 18"),
                    lazy_gettext("Right to restriction of processing"),
                    lazy_gettext(
        "You may ask that your data only be stored, and not otherwise used, while its accuracy "
        "or the lawfulness of its processing is being settled."), None),
    "objection": (lazy_gettext("GDPR, Art. 21"), lazy_gettext("Right to object"),
                  lazy_gettext(
        "You may object at any time, on grounds relating to your particular situation, to "
        "processing based on our legitimate interests or on a task in the public interest; "
        "you may object to direct marketing at any time, without giving a reason."),
        ("legitimate_interests", "public_task")),
    "portability": (lazy_gettext("GDPR, Art. 20"), lazy_gettext("Right to data portability"),
                    lazy_gettext(
        "You may receive the data you provided to us, processed on the basis of your consent "
        "or of a contract, in a structured, machine-readable format (the JSON file of this "
        "answer), and have it sent directly to another controller where feasible."),
        ("consent", "contract")),
    "withdraw_consent": (lazy_gettext("GDPR, Art. 7(3)"),
                         lazy_gettext("Right to withdraw your consent"),
                         lazy_gettext(
        "Where processing is based on your consent, you may withdraw it at any time; this does "
        "not affect the lawfulness of the processing carried out before."), ("consent",)),
    "postmortem_directives": (
        "Loi Informatique et Libertés, art. 85",
        lazy_gettext("Directives for after your death"), lazy_gettext(
            "You may give us directives on the retention, erasure and communication of your "
            "data after your death, and name a person to carry them out."), None),
}
#: Rights always stated (Art. 15(1)(e)), even when no processing concerned gives rise to them.
ALWAYS_STATED = ("rectification", "erasure", "restriction", "objection", "portability",
                 "postmortem_directives")

#: The French supervisory authority (Art. 15(1)(f)).
CNIL = {
    "code": "CNIL",
    "name": "Commission nationale de l'informatique et des libertés (CNIL)",
    "address": "3 place de Fontenoy, TSA 80715, 75334 Paris Cedex 07, France",
    "website": "https://www.cnil.fr",
    "complaint_url": "https://www.cnil.fr/fr/plaintes",
}


@dataclass(frozen=True)
class Coded:
    """A code of a closed vocabulary (a category, a legal basis…) and its label."""

    code: str
    label: str


@dataclass(frozen=True)
class RecipientInfo:
    """A recipient of the data, by name (Art. 15(1)(c))."""

    code: str
    name: str
    role: str
    country: str | None


@dataclass(frozen=True)
class TransferInfo:
    """A transfer outside the EU and its safeguard (Art. 15(2))."""

    recipient: str
    recipient_name: str
    country: str
    safeguard: str


@dataclass(frozen=True)
class ProcessingInfo:
    """One processing of the register that concerns the data found."""

    name: str
    purpose: str
    legal_basis: Coded
    categories: tuple[Coded, ...]
    recipients: tuple[RecipientInfo, ...]
    retention: str
    origin: str
    sources: tuple[str, ...]
    automated_decision: bool
    logic: str | None
    transfers: tuple[TransferInfo, ...]


@dataclass(frozen=True)
class RightInfo:
    """A right the person has, and the processing (by name) it applies to."""

    code: str
    article: str
    title: str
    text: str
    processing: tuple[str, ...]


@dataclass(frozen=True)
class Authority:
    """Where to lodge a complaint."""

    code: str
    name: str
    address: str
    website: str
    complaint_url: str
    text: str


@dataclass(frozen=True)
class Information:
    """Everything Art. 15(1) and 15(2) require besides the copy of the data."""

    #: Whether any data about the person was found (the confirmation of Art. 15(1)).
    found: bool
    processing: tuple[ProcessingInfo, ...]
    #: Categories of the data found, in the register's order (``unclassified`` last).
    categories: tuple[Coded, ...]
    #: Every recipient of the processing concerned, by name.
    recipients: tuple[RecipientInfo, ...]
    rights: tuple[RightInfo, ...]
    #: How to exercise the rights (the DPO's address).
    exercise: str
    complaint: Authority
    #: What the processing concerned decides automatically (or that nothing is).
    automated_decisions: str


def _text(texts: Mapping[str, str | None], language: str) -> str:
    return texts.get(language) or texts.get("fr") or ""


def category(register: Register, code: str, language: str) -> Coded:
    """A category code with its label (``unclassified`` included)."""
    if code == UNCLASSIFIED:
        return Coded(UNCLASSIFIED, gettext("Unclassified data"))
    return Coded(code, register.category_label(code, language))


def _recipient(register: Register, code: str, language: str) -> RecipientInfo:
    recipient = register.recipients[code]
    return RecipientInfo(code, recipient.legal_name, _text(recipient.roles, language),
                         recipient.country)


def _processing(register: Register, entry: Processing, found: Mapping[str, set[str]],
                language: str) -> ProcessingInfo:
    present = set().union(*(found.get(s, set()) for s in entry.sources))
    return ProcessingInfo(
        name=entry.name,
        purpose=_text(entry.purposes, language),
        legal_basis=Coded(entry.legal_basis, str(LEGAL_BASIS_LABELS[entry.legal_basis])),
        categories=tuple(category(register, c, language) for c in entry.categories
                         if c in present),
        recipients=tuple(_recipient(register, r, language) for r in entry.recipients),
        retention=_text(entry.retention, language),
        origin=_text(entry.origin, language),
        sources=tuple(s for s in entry.sources if s in found),
        automated_decision=entry.automated_decision,
        logic=_text(entry.logic, language) if entry.automated_decision else None,
        transfers=tuple(TransferInfo(t.recipient, register.recipients[t.recipient].legal_name,
                                     t.country, _text(t.safeguards, language))
                        for t in entry.transfers),
    )


def _rights(processing: Iterable[ProcessingInfo]) -> tuple[RightInfo, ...]:
    processing = list(processing)
    rights = []
    for code, (article, title, text, bases) in RIGHTS.items():
        applies = tuple(p.name for p in processing
                        if bases is None or p.legal_basis.code in bases)
        if applies or code in ALWAYS_STATED:
            # The article as the law is cited in the answer's language ("RGPD, art. 16").
            rights.append(RightInfo(code, str(article), str(title), str(text), applies))
    return tuple(rights)


def build_information(register: Register, found: Mapping[str, set[str]], language: str,
                      dpo_email: str) -> Information:
    """The Art. 15 information for ``found`` (source name -> the category codes of the data
    found there; only sources with records). Call inside ``force_locale(language)``."""
    entries = register.for_sources(found)
    processing = tuple(_processing(register, e, found, language) for e in entries)
    codes = set().union(*found.values()) if found else set()
    categories = [category(register, c, language) for c in register.categories if c in codes]
    categories += [category(register, c, language) for c in sorted(codes)
                   if c not in register.categories]
    recipients: dict[str, RecipientInfo] = {}
    for entry in processing:
        for recipient in entry.recipients:
            recipients.setdefault(recipient.code, recipient)
    if any(p.automated_decision for p in processing):
        automated = gettext("Some decisions about you are based solely on automated "
                            "processing: the logic involved, its significance and its "
                            "consequences are described for each processing concerned.")
    else:
        automated = gettext("No decision producing legal effects concerning you, or similarly "
                            "significantly affecting you, is based solely on automated "
                            "processing, including profiling.")
    complaint = Authority(**CNIL, text=gettext(
        "If you consider that the processing of your data infringes the GDPR, you may lodge a "
        "complaint with the CNIL, the French supervisory authority."))
    return Information(
        found=bool(found),
        processing=processing,
        categories=tuple(categories),
        recipients=tuple(recipients.values()),
        rights=_rights(processing),
        exercise=gettext("To exercise these rights, write to our data protection officer at "
                         "%(dpo)s or file a request on our portal.", dpo=dpo_email),
        complaint=complaint,
        automated_decisions=automated,
    )
