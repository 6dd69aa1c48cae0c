"""What an answer letter says: plain data the renderer (:mod:`.certificate`) reads.

One letter per kind of request that changes data (:data:`KINDS`), each citing its own article:

- ``erasure`` (GDPR Art. 17, docs/legal-rules.md §4), the certificate: per source, what was
  erased, anonymised, masked in a file or kept, with the basis and the end date of each kept
  item (Art. 17(3));
- ``rectification`` (Art. 16): each correction (:class:`CorrectionLine`), before and after,
  made, recorded as a supplementary statement where the source cannot be changed, or refused;
- ``restriction`` (Art. 18): where the restriction holds and where it could not be applied,
  and the announced date of a lift (Art. 18(3));
- ``objection`` (Art. 21): to direct marketing, where the person was unsubscribed; to other
  processing, the DPO's decision for each (:class:`ObjectionDecision`).

Each says which recipients were told (Art. 19) and how each notice ended, and, when part of
the request was refused, the remedies (Art. 12(4)).

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

#: The kinds of request a letter answers, each with its own article (:func:`citation`).
KINDS = ("erasure", "rectification", "restriction", "objection", "postmortem_execution")
#: What became of a collection's records: deleted, anonymised (fields nulled, hashed or
#: replaced), masked in the lines of a file (``files`` sources), kept (Art. 17(3)); restricted
#: (Art. 18), or not (the source cannot: a reason is given); unsubscribed from direct
#: marketing (Art. 21(3)); corrected (Art. 16), or completed by the person's statement.
ACTIONS = ("erased", "anonymized", "redacted", "kept", "restricted", "not_restricted",
           "unsubscribed", "corrected", "statement", "left")
#: Actions that need a reason the person can read.
ACTIONS_WITH_REASON = ("not_restricted",)
#: The actions each kind's letter can report: anything else would be shown without the words
#: that explain it (a "kept" line in a restriction letter, say). An objection to other
#: processing is carried out by erasing or restricting the data of what is stopped.
KIND_ACTIONS = {
    "erasure": ("erased", "anonymized", "redacted", "kept"),
    "rectification": ("corrected", "statement"),
    "restriction": ("restricted", "not_restricted"),
    "objection": ("unsubscribed", "erased", "anonymized", "redacted", "kept", "restricted",
                  "not_restricted"),
    # A deceased person's data: erased as directed (or as an heir asked), kept by law, or
    # left as it is (LIL art. 85).
    "postmortem_execution": ("erased", "anonymized", "redacted", "kept", "left"),
}
#: On whose behalf a deceased person's rights were carried out: their directives (by the
#: person designated), or an heir's requests (art. 85 II).
POSTMORTEM_BASES = ("directives", "heir")
#: What became of one correction the person asked for (Art. 16).
CORRECTION_OUTCOMES = ("corrected", "statement", "refused")
#: What an objection to other processing is to (Art. 21(2) or 21(1)).
OBJECTION_TARGETS = ("direct_marketing", "other")
#: The DPO's decision on one processing objected to (Art. 21(1)).
DECISIONS = ("stopped", "grounds")
#: How an Art. 19 notice to a recipient ended (or that it is still under way).
OUTCOMES = ("notified", "impossible", "disproportionate", "pending")
#: Outcomes that need a reason the person can read.
OUTCOMES_WITH_REASON = ("impossible", "disproportionate")
#: The certificate's languages; anything else falls back to the first (French).
LANGUAGES = ("fr", "en")
#: How the law is cited in each language: a legal reference is written this way, not
#: translated word for word (never "GDPR Art." on a French page).
CITATION_FORMS = {"fr": "RGPD, art. {article}", "en": "GDPR, Art. {article}"}
#: Each kind's article; an objection to direct marketing cites the paragraphs that make it
#: unconditional (Art. 21(2) and (3): no balancing of interests).
ARTICLES = {"erasure": "17", "rectification": "16", "restriction": "18", "objection": "21"}
MARKETING_ARTICLE = {"fr": "21, paragraphes 2 et 3", "en": "21(2) and (3)"}
#: A deceased person's rights are French law, not the GDPR's (which protects the living).
POSTMORTEM_CITATION = {"fr": "Loi Informatique et Libertés, art. 85",
                       "en": "French Data Protection Act (Loi Informatique et Libertés), "
                             "Art. 85"}

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
        if self.action in ACTIONS_WITH_REASON and not self.reason:
            # Art. 12(4): where the request could not be met, the person is told why.
            raise ValueError(f"a {self.action} line needs its reason")

    @property
    def kept(self) -> bool:
        """Whether these records were kept (part of the partial refusal)."""
        return self.action == "kept"

    @property
    def refused(self) -> bool:
        """Whether the request was not met for these records (kept, or not restricted)."""
        return self.action == "kept" or self.action in ACTIONS_WITH_REASON


@dataclass(frozen=True)
class CorrectionLine:
    """One field of one collection the person asked to correct (Art. 16), and what was done.

    ``old_value`` is what the source held (None: nothing), ``new_value`` what the person asked
    for. ``outcome``: ``corrected`` in the source; ``statement``: the source cannot be changed,
    so the person's statement is kept with their data and given with every later copy of it
    (Art. 16, "complete"); ``refused``, with the DPO's ``reason`` (required)."""

    source_label: str
    collection_label: str
    field_label: str
    old_value: str | None
    new_value: str | None
    outcome: str
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.outcome not in CORRECTION_OUTCOMES:
            raise ValueError(f"unknown correction outcome {self.outcome!r} "
                             f"(one of {CORRECTION_OUTCOMES})")
        if self.outcome == "refused" and not self.reason:
            raise ValueError("a refused correction needs the DPO's reason")

    @property
    def refused(self) -> bool:
        """Whether this correction was refused (part of the partial refusal)."""
        return self.outcome == "refused"


@dataclass(frozen=True)
class ObjectionDecision:
    """The DPO's decision on one processing the person objected to (Art. 21(1)).

    ``processing_label`` names the processing as the register does; ``decision`` is
    ``stopped`` (``text`` may say what was done) or ``grounds``: the processing goes on for
    the compelling legitimate grounds written in ``text`` (required)."""

    processing_label: str
    decision: str
    text: str | None = None

    def __post_init__(self) -> None:
        if self.decision not in DECISIONS:
            raise ValueError(f"unknown objection decision {self.decision!r} (one of {DECISIONS})")
        if self.decision == "grounds" and not (self.text and self.text.strip()):
            # Art. 21(1): the controller must demonstrate its grounds; the person reads them.
            raise ValueError("continuing a processing needs the DPO's compelling grounds")


@dataclass(frozen=True)
class HandedOverLine:
    """A collection of a deceased person's data of which a copy was handed over, and how many
    records the copy holds."""

    source_label: str
    collection_label: str
    count: int


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


def citation(kind: str, language: str, objection_target: str | None = None) -> str:
    """The article a letter of ``kind`` cites, written as the law is cited in ``language``
    ("RGPD, art. 16", "GDPR, Art. 16"); an objection to direct marketing cites Art. 21(2)
    and (3). A language outside :data:`LANGUAGES` is French."""
    if kind not in KINDS:
        raise ValueError(f"unknown letter kind {kind!r} (one of {KINDS})")
    if language not in LANGUAGES:
        language = LANGUAGES[0]
    if kind == "postmortem_execution":
        return POSTMORTEM_CITATION[language]
    article = ARTICLES[kind]
    if kind == "objection" and objection_target == "direct_marketing":
        article = MARKETING_ARTICLE[language]
    return CITATION_FORMS[language].format(article=article)


@dataclass(frozen=True)
class CertificateContent:
    """Everything an answer letter says (the erasure certificate and its siblings).

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
    kind: str = "erasure"
    corrections: tuple[CorrectionLine, ...] = ()
    lift_on: date | None = None
    objection_target: str | None = None
    decisions: tuple[ObjectionDecision, ...] = ()
    #: A deceased person's rights: whose data, when they died, on what basis (one of
    #: :data:`POSTMORTEM_BASES`), an heir's requests (codes), the copy handed over.
    deceased_name: str | None = None
    died_on: date | None = None
    postmortem_basis: str | None = None
    heir_requests: tuple[str, ...] = ()
    handed_over: tuple[HandedOverLine, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown letter kind {self.kind!r} (one of {KINDS})")
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
        object.__setattr__(self, "corrections", tuple(self.corrections))
        object.__setattr__(self, "decisions", tuple(self.decisions))
        object.__setattr__(self, "heir_requests", tuple(self.heir_requests))
        object.__setattr__(self, "handed_over", tuple(self.handed_over))
        self._check_kind()

    def _check_kind(self) -> None:
        """What the letter of this kind can say: its actions, and what only it carries."""
        allowed = KIND_ACTIONS[self.kind]
        for line in self.lines:
            if line.action not in allowed:
                raise ValueError(f"a {self.kind} letter cannot report {line.action!r} lines")
        if self.corrections and self.kind != "rectification":
            raise ValueError("corrections belong to a rectification letter")
        if self.lift_on is not None and self.kind != "restriction":
            raise ValueError("a lift date belongs to a restriction letter")
        if self.kind == "objection":
            if self.objection_target not in OBJECTION_TARGETS:
                raise ValueError(f"an objection letter needs its target (one of "
                                 f"{OBJECTION_TARGETS})")
        elif self.objection_target is not None:
            raise ValueError("an objection target belongs to an objection letter")
        if self.decisions and not (self.kind == "objection"
                                   and self.objection_target == "other"):
            # Direct marketing is stopped without any decision to take (Art. 21(3)).
            raise ValueError("decisions belong to an objection to other processing")
        if self.kind == "postmortem_execution":
            if not self.deceased_name or self.postmortem_basis not in POSTMORTEM_BASES:
                raise ValueError(f"a post-mortem letter names the deceased and its basis "
                                 f"(one of {POSTMORTEM_BASES})")
        elif self.deceased_name or self.handed_over or self.heir_requests:
            raise ValueError("the deceased and the copy belong to a post-mortem letter")

    @property
    def citation(self) -> str:
        """The article this letter cites, in its language ("RGPD, art. 16")."""
        return citation(self.kind, self.language, self.objection_target)

    @property
    def marketing(self) -> bool:
        """Whether this is the answer to an objection to direct marketing."""
        return self.kind == "objection" and self.objection_target == "direct_marketing"

    @property
    def kept(self) -> tuple[CertificateLine, ...]:
        """The lines kept: when there is any, the certificate is a partial refusal."""
        return tuple(line for line in self.lines if line.kept)

    @property
    def partial_refusal(self) -> bool:
        """Whether part of the request was refused (Art. 12(4): reasons and remedies are
        given): for an erasure, something kept; a rectification, a correction refused; a
        restriction, a place where it could not be applied; an objection, a processing that
        goes on for compelling grounds, or data of a stopped one kept or not restrictable."""
        if self.kind == "erasure":
            return any(line.kept for line in self.lines)
        if self.kind == "rectification":
            return any(c.refused for c in self.corrections)
        if self.kind == "restriction":
            return any(line.action == "not_restricted" for line in self.lines)
        return (any(d.decision == "grounds" for d in self.decisions)
                or any(line.action in ("kept", "not_restricted") for line in self.lines))

    def lines_with(self, *actions: str) -> tuple[CertificateLine, ...]:
        """The lines whose action is one of ``actions``, in the order given."""
        return tuple(line for line in self.lines if line.action in actions)

    def corrections_by_source(self) -> list[tuple[str, list[CorrectionLine]]]:
        """The corrections grouped by source label, sources and fields in the order given."""
        groups: dict[str, list[CorrectionLine]] = {}
        for correction in self.corrections:
            groups.setdefault(correction.source_label, []).append(correction)
        return list(groups.items())

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

