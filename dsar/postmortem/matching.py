"""Who the deceased is, and which directives decide: the step between the requester's
documents and the search of an execution case (Loi Informatique et Libertés, art. 85).

When staff verify the documents of a ``postmortem_execution`` case (the death certificate, the
requester's identity, for an heir the acte de notoriété or livret de famille), they confirm the
deceased's identifiers against them: the e-mail address the person used with the organisation,
their customer number if one is known, the date of death. The search then runs on those
identifiers (:func:`search_identity`), never on the requester's own address, and the proofs are
deleted in the same transaction, as for any identity decision.

The same confirmation matches the directives (:func:`directives_at_death`): of every directive
case recorded under the deceased's proven address, the versions standing at the end of the day
of death (later changes ignored, a revocation honoured), the most recently recorded decides.
The outcome (:data:`OUTCOMES`) follows from it and from who asks:

- ``directives``: the requester is the person the directives designate (their proven address
  is the one named), or no one is designated and an heir asks: the directives are carried out;
- ``heir``: an heir, without directives or with directives that do not exclude heirs: only
  what art. 85 II allows (``dsar.postmortem.heirs``);
- ``heirs_excluded``: an heir, where the directives exclude heirs: a reasoned refusal;
- ``not_designated``: someone who says they are designated, but no directives in force name
  them: a reasoned refusal (they may ask again as an heir).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from dsar.cases.clock import today_in_paris
from dsar.cases.refusals import ActionRefused
from dsar.core import storage
from dsar.core.audit import record_event
from dsar.extensions import db
from dsar.models import (
    ActorType,
    Case,
    CaseKind,
    CaseStatus,
    DeceasedMatch,
    DirectiveVersion,
    StaffUser,
)
from dsar.postmortem import directives
from dsar.postmortem.directives import Directives
from dsar.sources.base import Identity

DIRECTIVES, HEIR, HEIRS_EXCLUDED, NOT_DESIGNATED = (
    "directives", "heir", "heirs_excluded", "not_designated")
OUTCOMES = (DIRECTIVES, HEIR, HEIRS_EXCLUDED, NOT_DESIGNATED)
#: The outcomes that end in a refusal: nothing is searched.
REFUSED_OUTCOMES = frozenset({HEIRS_EXCLUDED, NOT_DESIGNATED})
#: What staff see of each outcome, and the reasons a refusal proposes (in the requester's
#: language when the DPO sends it).
OUTCOME_LABELS = {
    DIRECTIVES: _l("The deceased's directives are carried out at the request of the person "
                   "they designated."),
    HEIR: _l("An heir: only what the law allows heirs (settling the estate, taking the death "
             "into account) may be done."),
    HEIRS_EXCLUDED: _l("The deceased's directives exclude their heirs: the request is to be "
                       "refused."),
    NOT_DESIGNATED: _l("No directives in force at the date of death designate the requester: "
                       "the request is to be refused."),
}
REFUSAL_REASONS = {
    HEIRS_EXCLUDED: _l("The person who died left directives with us, in force on the date of "
                       "their death, in which they excluded their heirs from exercising their "
                       "rights over their data (Loi Informatique et Libertés, art. 85 II). We "
                       "therefore cannot act on your request."),
    NOT_DESIGNATED: _l("The person who died left no directives with us, in force on the date "
                       "of their death, that name you as the person to carry them out. If you "
                       "are one of their heirs, you may send a new request as an heir, with "
                       "the acte de notoriété or the livret de famille."),
}


@dataclass(frozen=True)
class AtDeath:
    """The directives that decide an execution case: whose case, which version, what."""

    case: Case
    version: int
    content: Directives


def directives_at_death(email: str, day: date) -> AtDeath | None:
    """The directives in force at the end of ``day`` among every directive case recorded under
    ``email`` (the most recently recorded standing version wins; a case the DPO refused does
    not count); None when there are none."""
    standing = []
    for directive_case in directives.find(email=email):
        if directive_case.status is CaseStatus.REJECTED:
            continue
        row = directives.version_at(directive_case, day)
        content = directives.opened(row) if row is not None else None
        if content is not None:
            standing.append((row.created_at, row.version, directive_case, content))
    if not standing:
        return None
    created_at, version, directive_case, content = max(standing, key=lambda s: (s[0], s[1]))
    return AtDeath(directive_case, version, content)


def outcome_of(case: Case, found: AtDeath | None) -> str:
    """Which of :data:`OUTCOMES` applies to ``case`` given the directives ``found``."""
    heir = (case.details or {}).get("requester_role") == "heir"
    if found is None:
        return HEIR if heir else NOT_DESIGNATED
    designated = found.content.designated_email.strip().lower()
    if designated and designated == case.email_normalized:
        return DIRECTIVES
    if not heir:
        return NOT_DESIGNATED
    if not designated:
        return DIRECTIVES  # no one designated: the heirs see to the directives (art. 85 I)
    return HEIRS_EXCLUDED if found.content.heirs_excluded else HEIR


def _context(case_id: int) -> str:
    return f"deceased_matches:{case_id}:identity"


def _checked_email(value: str | None) -> str:
    try:
        return validate_email((value or "").strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise ActionRefused(_l("Please enter the e-mail address of the deceased person, as "
                               "checked against the documents.")) from None


def _checked_date(value: str | None) -> date:
    try:
        day = date.fromisoformat((value or "").strip())
    except ValueError:
        raise ActionRefused(_l("Please enter the date of death shown on the death "
                               "certificate.")) from None
    if day > today_in_paris():
        raise ActionRefused(_l("The date of death cannot be in the future."))
    return day


def confirm(case: Case, staff: StaffUser, form) -> DeceasedMatch:
    """Record what staff confirmed of the deceased (``deceased_email``, optional
    ``deceased_customer_number``, kept for the file but never searched, ``date_of_death`` from
    ``form``) and match the directives, in the caller's transaction (the verification of the
    documents). Raises ``ActionRefused`` on a missing or invalid value."""
    email = _checked_email(form.get("deceased_email"))
    number = (form.get("deceased_customer_number") or "").strip()[:100]
    day = _checked_date(form.get("date_of_death"))
    born = (case.details or {}).get("date_of_birth")
    if born and day.isoformat() < born:
        # A mistyped year would silently change which directives stood at the death.
        raise ActionRefused(_l("The date of death cannot be before the date of birth."))
    found = directives_at_death(email, day)
    outcome = outcome_of(case, found)
    match = db.session.scalar(select(DeceasedMatch).where(DeceasedMatch.case_id == case.id))
    if match is None:
        match = DeceasedMatch(case_id=case.id)
        db.session.add(match)
    identity = {"email": email, "customer_number": number}
    match.identity_sealed = storage.seal(json.dumps(identity).encode(), _context(case.id))
    match.date_of_death = day
    match.outcome = outcome
    match.directive_case_id = found.case.id if found else None
    match.directive_version = found.version if found else None
    match.confirmed_by_id = staff.id
    db.session.flush()
    # Which directives and what outcome, never the identifiers.
    record_event("deceased.confirmed", case=case, actor_type=ActorType.STAFF, actor_id=staff.id,
                 payload={"outcome": outcome, "customer_number": bool(number),
                          "directive_case": found.case.reference if found else None,
                          "directive_version": found.version if found else None})
    return match


def match_of(case: Case) -> DeceasedMatch | None:
    """What staff confirmed of the deceased of ``case`` (None before the verification, or for
    another kind)."""
    if case.kind is not CaseKind.POSTMORTEM_EXECUTION:
        return None
    return db.session.scalar(select(DeceasedMatch).where(DeceasedMatch.case_id == case.id))


def deceased_identifiers(match: DeceasedMatch) -> dict[str, str]:
    """The confirmed identifiers, opened: ``{"email", "customer_number"}``."""
    return json.loads(storage.unseal(match.identity_sealed, _context(match.case_id)))


def search_identity(case: Case) -> Identity:
    """What the search of an execution case runs on: the deceased's confirmed e-mail address
    (empty before it is confirmed: nothing is searched); the search rounds then follow the
    identifiers their own records carry. Never a customer number: no death certificate
    shows one, so nobody could check it, and a number typed by mistake or on purpose would
    hand over, or erase, a living person's data."""
    match = match_of(case)
    if match is None:
        return Identity()
    return Identity.of(email=[deceased_identifiers(match)["email"]])


def applied_directives(case: Case) -> Directives | None:
    """The directives version an execution case carries out (None when the outcome is not
    ``directives``)."""
    match = match_of(case)
    if match is None or match.outcome != DIRECTIVES or match.directive_case_id is None:
        return None
    row = db.session.scalar(select(DirectiveVersion).where(
        DirectiveVersion.case_id == match.directive_case_id,
        DirectiveVersion.version == match.directive_version))
    return directives.opened(row) if row is not None else None


def check_searchable(case: Case) -> None:
    """Refuse (``ActionRefused``) to search for a deceased person before staff confirmed who
    they are, or when the matching calls for a refusal."""
    if case.kind is not CaseKind.POSTMORTEM_EXECUTION:
        return
    match = match_of(case)
    if match is None:
        raise ActionRefused(_l("Confirm the deceased person's identifiers first (with the "
                               "verification of the documents)."))
    if match.outcome in REFUSED_OUTCOMES:
        raise ActionRefused(_l("This request is to be refused: %(why)s",
                               why=OUTCOME_LABELS[match.outcome]))


def heir_decides(case: Case) -> bool:
    """Whether ``case`` is an heir's request whose collections the DPO chooses for (art. 85
    II), rather than directives that decide them."""
    match = match_of(case)
    return match is not None and match.outcome == HEIR


def searchable(case: Case) -> bool:
    """Whether ``case`` may be searched as far as the matching goes (always, for the kinds
    about the requester themselves)."""
    try:
        check_searchable(case)
    except ActionRefused:
        return False
    return True
