"""What an erasure certificate says: plain data the renderer (:mod:`.certificate`) reads.

The certificate is the answer to an erasure request (GDPR Art. 17, docs/legal-rules.md §4): per
source, what was erased, anonymised, masked in a file or kept, with the basis and the end date
of each kept item (Art. 17(3)); the recipients told of the erasure (Art. 19) and how each
notice ended; and, when anything was kept, the partial refusal with its remedies (Art. 12(4)).

Nothing here reads the database: whoever issues the certificate (the case flow, from the
executed plan) fills these dataclasses, and the renderer only lays them out. The values are
checked when they are built, so a certificate can never be rendered that keeps data without
saying why, or closes a notice as impossible without a reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from flask_babel import lazy_gettext as _l

from dsar.exports.content import Controller
from dsar.sources.register import Register

#: What became of a collection's records: deleted, anonymised (fields nulled, hashed or
#: replaced), masked in the lines of a file (``files`` sources), or kept (Art. 17(3)).
ACTIONS = ("erased", "anonymized", "redacted", "kept")
#: How an Art. 19 notice to a recipient ended (or that it is still under way).
OUTCOMES = ("notified", "impossible", "disproportionate", "pending")
#: Outcomes that need a reason the person can read.
OUTCOMES_WITH_REASON = ("impossible", "disproportionate")
#: The certificate's languages; anything else falls back to the first (French).
LANGUAGES = ("fr", "en")

#: The Art. 17(1) grounds the portal offers (``Case.details["erasure_ground"]``), with the
#: portal's own wording (the same msgids as ``dsar.portal.forms.ERASURE_GROUNDS``, so one
#: translation serves both; a test checks the two lists agree). The exports may not import a
#: view, hence the copy.
GROUND_LABELS = {
    "no_longer_needed": _l("The data is no longer needed for its purpose"),
    "consent_withdrawn": _l("I withdraw my consent"),
    "objection": _l("I object to the processing"),
    "unlawful": _l("The data was processed unlawfully"),
    "legal_obligation": _l("The law requires erasure"),
    "child": _l("The data was collected when I was a child"),
}


@dataclass(frozen=True)
class CertificateLine:
    """One collection of one source and what became of the person's records there.

    ``basis`` is the legal basis of a kept item as the person reads it (e.g. "Code de
    commerce, art. L123-22"); ``until`` when it will be gone: an ISO date (shown as a date
    in the certificate's language) or a text ("rotation of the file on …"); ``reason`` the
    DPO's written reason for an Art. 17(3) exception. A kept line needs a basis or a reason;
    the others need neither (and show none)."""

    source_label: str
    collection_label: str
    action: str
    count: int
    basis: str | None = None
    until: str | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown certificate action {self.action!r} (one of {ACTIONS})")
        if self.count < 0:
            raise ValueError("a certificate line counts records: not below zero")
        if self.action == "kept" and not (self.basis or self.reason):
            # Art. 17(3): what is kept is kept for a reason, and the person is told which.
            raise ValueError("a kept line needs its basis or the DPO's reason")

    @property
    def kept(self) -> bool:
        """Whether these records were kept (part of the partial refusal)."""
        return self.action == "kept"


@dataclass(frozen=True)
class CertificateRecipient:
    """A recipient of the person's data (``register.toml``) and how the Art. 19 notice of
    the erasure ended; ``reason`` is required when it was impossible or disproportionate."""

    name: str
    outcome: str
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"unknown notice outcome {self.outcome!r} (one of {OUTCOMES})")
        if self.outcome in OUTCOMES_WITH_REASON and not self.reason:
            raise ValueError(f"a notice closed as {self.outcome} needs its reason")


@dataclass(frozen=True)
class CertificateContent:
    """Everything an erasure certificate says.

    ``controller`` is a :class:`~.content.Controller` (a mapping with ``name``, ``address``
    and ``dpo_email`` is accepted and converted; :func:`controller_of` builds one from the
    register as the access report does). ``ground`` is the Art. 17(1) ground the person gave:
    a code of :data:`GROUND_LABELS` (shown in the portal's words) or a text shown as is.
    ``verified_on``, when set, is the day a new search found nothing left of what was to be
    erased: the certificate says so. ``language`` outside :data:`LANGUAGES` becomes French."""

    reference: str
    requester_name: str
    language: str
    received_on: date
    carried_out_on: date
    controller: Controller
    ground: str | None = None
    lines: tuple[CertificateLine, ...] = ()
    #: The Art. 19 notices; None: not stated (the section is left out, rather than claim
    #: that nobody received the data); empty: the data was shared with nobody.
    recipients: tuple[CertificateRecipient, ...] | None = None
    representative_name: str | None = None
    verified_on: date | None = None

    def __post_init__(self) -> None:
        # Frozen: the normalised values are set the way dataclasses themselves do.
        if self.language not in LANGUAGES:
            object.__setattr__(self, "language", LANGUAGES[0])
        if isinstance(self.controller, Mapping):
            object.__setattr__(self, "controller", Controller(
                name=self.controller["name"], address=self.controller.get("address"),
                dpo_email=self.controller.get("dpo_email")))
        object.__setattr__(self, "lines", tuple(self.lines))
        if self.recipients is not None:
            object.__setattr__(self, "recipients", tuple(self.recipients))

    @property
    def kept(self) -> tuple[CertificateLine, ...]:
        """The lines kept: when there is any, the certificate is a partial refusal."""
        return tuple(line for line in self.lines if line.kept)

    @property
    def partial_refusal(self) -> bool:
        """Whether something was kept (Art. 12(4): reasons and remedies are given)."""
        return any(line.kept for line in self.lines)

    def by_source(self) -> list[tuple[str, list[CertificateLine]]]:
        """The lines grouped by source label, sources and lines in the order given."""
        groups: dict[str, list[CertificateLine]] = {}
        for line in self.lines:
            groups.setdefault(line.source_label, []).append(line)
        return list(groups.items())

    def totals(self) -> dict[str, int]:
        """Records per action, for the actions that occur, in the order of :data:`ACTIONS`."""
        counts = dict.fromkeys(ACTIONS, 0)
        present: set[str] = set()
        for line in self.lines:
            counts[line.action] += line.count
            present.add(line.action)
        return {action: counts[action] for action in ACTIONS if action in present}


def controller_of(register: Register, organisation_name: str, dpo_email: str | None
                  ) -> Controller:
    """The controller as the certificate names it: the register's ``[controller]`` (name,
    address, DPO's address), else the instance's ``ORGANISATION_NAME`` and ``DPO_EMAIL`` (the
    same rule as the access report's :func:`~.content.build_content`)."""
    controller = register.controller
    return Controller(name=controller.get("name") or organisation_name,
                      address=controller.get("address"),
                      dpo_email=controller.get("dpo_email") or dpo_email)

