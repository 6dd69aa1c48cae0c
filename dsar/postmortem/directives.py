"""Post-mortem directives (Loi Informatique et Libertés, art. 85 I): for each kind of data the
organisation holds (the register's categories), erase it, hand a copy to a designated person,
or keep it; free instructions; the person who is to carry them out. A consent of its own,
changed or revoked at any time: every version is kept with its date, sealed, and audited.

The case is a standing record, not a request to answer within a month: once the address is
confirmed the directives are recorded (``recorded``, off the clock) and stay so until the
person revokes them (the case is then withdrawn, its versions kept). A keyed hash of the
e-mail address the person proved (``directive_keys``) lets staff find them after a death
without the table listing anyone."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from dsar.cases.refusals import ActionRefused
from dsar.cases.workflow import InvalidTransition, transition
from dsar.changes.suppression import InvalidAddress, keyed_digest
from dsar.core import storage
from dsar.core.audit import record_event
from dsar.deadlines import PARIS
from dsar.extensions import db
from dsar.mail.outbox import commit_and_send, queue_email
from dsar.models import (
    ActorType,
    Case,
    CaseKind,
    CaseStatus,
    DirectiveKey,
    DirectiveStatus,
    DirectiveVersion,
    MailTemplate,
    SuppressionKind,
)
from dsar.models.types import utcnow
from dsar.sources.catalog import get_catalog

#: What may become of a kind of data, in the person's words.
CHOICES = {
    "erase": _l("Erase it"),
    "hand_over": _l("Hand a copy to the person I designate"),
    "keep": _l("Keep it as it is"),
}
#: The portal's field of a category's choice: ``category_<name>``.
FIELD_PREFIX = "category_"


@dataclass(frozen=True)
class Directives:
    """One version's content."""

    categories: dict[str, str]
    instructions: str = ""
    designated_name: str = ""
    designated_email: str = ""
    #: The person excludes their heirs (the "mention contraire" of LIL art. 85 II): without
    #: directives to apply, heirs may then do nothing.
    heirs_excluded: bool = False
    #: The specific consent given with this version (the forms require it).
    consent: bool = True

    def to_json(self) -> dict:
        return {"categories": dict(self.categories), "instructions": self.instructions,
                "designated": {"name": self.designated_name, "email": self.designated_email},
                "heirs_excluded": self.heirs_excluded, "consent": self.consent}

    @classmethod
    def from_json(cls, data: dict) -> Directives:
        designated = data.get("designated") or {}
        return cls(categories=dict(data.get("categories") or {}),
                   instructions=data.get("instructions") or "",
                   designated_name=designated.get("name") or "",
                   designated_email=designated.get("email") or "",
                   heirs_excluded=bool(data.get("heirs_excluded")),
                   consent=bool(data.get("consent", True)))

    @classmethod
    def from_form(cls, values: dict) -> Directives:
        """From the portal form's values (``category_<name>``, ``directive_instructions``,
        ``trusted_person_name``, ``trusted_person_email``)."""
        return cls(
            categories={k.removeprefix(FIELD_PREFIX): v for k, v in values.items()
                        if k.startswith(FIELD_PREFIX) and v in CHOICES},
            instructions=(values.get("directive_instructions") or "").strip(),
            designated_name=(values.get("trusted_person_name") or "").strip(),
            designated_email=(values.get("trusted_person_email") or "").strip(),
            heirs_excluded=bool(values.get("heirs_excluded")),
            consent=bool(values.get("consent", True)))


def categories(language: str) -> list[tuple[str, str]]:
    """The register's categories of data, (name, label in ``language``)."""
    register = get_catalog().register
    return [(name, category.label(language)) for name, category in register.categories.items()]


def _context(case_id: int, version: int) -> str:
    return f"directive_versions:{case_id}:{version}"


def _digest(email: str) -> str:
    """The keyed hash directives are found by (the registers' normalisation, the key purpose
    ``directives``). Raises ``InvalidAddress`` for a value that is no e-mail address."""
    return keyed_digest("directives", SuppressionKind.EMAIL, email)


def record(case: Case, content: Directives, *, actor_type: ActorType) -> DirectiveVersion:
    """Record a new version of the case's directives (the one in force before is
    superseded), and the keys the person can be found by. Caller commits."""
    latest = db.session.scalar(select(DirectiveVersion).where(
        DirectiveVersion.case_id == case.id).order_by(DirectiveVersion.version.desc()).limit(1))
    number = (latest.version if latest else 0) + 1
    db.session.execute(update(DirectiveVersion).where(
        DirectiveVersion.case_id == case.id, DirectiveVersion.status == DirectiveStatus.IN_FORCE)
        .values(status=DirectiveStatus.SUPERSEDED).execution_options(synchronize_session=False))
    version = DirectiveVersion(
        case_id=case.id, version=number, status=DirectiveStatus.IN_FORCE,
        content_sealed=storage.seal(json.dumps(content.to_json(), sort_keys=True).encode(),
                                    _context(case.id, number)))
    db.session.add(version)
    _index(case)
    db.session.flush()
    record_event("directive.recorded", case=case, actor_type=actor_type,
                 payload={"version": number})
    return version


def _index(case: Case) -> None:
    """The keys the directives are found by: the e-mail address whose control the person
    proved. Not a customer number they typed: nobody checked it, and directives found by
    someone else's number would hand that person's data to whoever filed them."""
    db.session.execute(delete(DirectiveKey).where(DirectiveKey.case_id == case.id))
    db.session.add(DirectiveKey(case_id=case.id, kind="email", digest=_digest(
        case.email_normalized or case.requester_email)))


def take_up(case: Case) -> bool:
    """Once the address is confirmed: the directives the form collected become version 1
    (sealed; the form's copy in ``details`` is cleared) and the case a standing record, off
    the clock. False for another kind or a case that moved meanwhile."""
    if case.kind is not CaseKind.POSTMORTEM_DIRECTIVE or case.status is not CaseStatus.CONFIRMED:
        return False
    try:
        transition(case, CaseStatus.RECORDED, actor_type=ActorType.SYSTEM)
    except InvalidTransition:
        db.session.rollback()
        return False
    record(case, Directives.from_form(case.details or {}), actor_type=ActorType.REQUESTER)
    case.details = {}  # sealed in version 1 now (with the consent given)
    db.session.commit()
    return True


def change(case: Case, content: Directives) -> DirectiveVersion:
    """The person changes their directives from their status page: a new version."""
    # A compare-and-set on the case: a revocation committed meanwhile (another tab) wins, and
    # of two changes at once the second waits for the first (a new version number each).
    still = db.session.execute(
        update(Case).where(Case.id == case.id, Case.status == CaseStatus.RECORDED)
        .values(updated_at=utcnow()).execution_options(synchronize_session=False)).rowcount
    if still != 1:
        db.session.rollback()
        raise ActionRefused(_l("These directives can no longer be changed."))
    try:
        version = record(case, content, actor_type=ActorType.REQUESTER)
    except IntegrityError:
        db.session.rollback()
        raise ActionRefused(_l("These directives can no longer be changed.")) from None
    # The person is told each time: a warning if someone else holding their link did it.
    commit_and_send(queue_email(case, MailTemplate.DIRECTIVES_CHANGED,
                                payload={"version": version.version, "revoked": False}))
    return version


def revoke(case: Case) -> None:
    """The person revokes their directives: a version records the revocation (none is in force
    after it), and the case is withdrawn; every version stays, with its date."""
    try:
        transition(case, CaseStatus.WITHDRAWN, actor_type=ActorType.REQUESTER,
                   payload={"directives": "revoked"})
    except InvalidTransition:
        db.session.rollback()
        raise ActionRefused(_l("These directives can no longer be changed.")) from None
    latest = db.session.scalar(select(DirectiveVersion.version).where(
        DirectiveVersion.case_id == case.id).order_by(DirectiveVersion.version.desc()).limit(1))
    db.session.execute(update(DirectiveVersion).where(
        DirectiveVersion.case_id == case.id, DirectiveVersion.status == DirectiveStatus.IN_FORCE)
        .values(status=DirectiveStatus.SUPERSEDED).execution_options(synchronize_session=False))
    db.session.add(DirectiveVersion(case_id=case.id, version=(latest or 0) + 1,
                                    status=DirectiveStatus.REVOKED, content_sealed=None))
    db.session.flush()
    record_event("directive.revoked", case=case, actor_type=ActorType.REQUESTER,
                 payload={"version": (latest or 0) + 1})
    commit_and_send(queue_email(case, MailTemplate.DIRECTIVES_CHANGED,
                                payload={"version": (latest or 0) + 1, "revoked": True}))


def versions(case: Case) -> list[tuple[DirectiveVersion, Directives | None]]:
    """Every version of the case's directives, oldest first, opened."""
    rows = db.session.scalars(select(DirectiveVersion).where(
        DirectiveVersion.case_id == case.id).order_by(DirectiveVersion.version)).all()
    return [(row, opened(row)) for row in rows]


def opened(row: DirectiveVersion) -> Directives | None:
    """The content of one version (None for a revocation)."""
    if row.content_sealed is None:
        return None
    return Directives.from_json(json.loads(storage.unseal(
        row.content_sealed, _context(row.case_id, row.version))))


def current(case: Case) -> Directives | None:
    """The directives in force, None when revoked or never recorded."""
    row = db.session.scalar(select(DirectiveVersion).where(
        DirectiveVersion.case_id == case.id, DirectiveVersion.status == DirectiveStatus.IN_FORCE))
    return opened(row) if row else None


def version_at(case: Case, day: date) -> DirectiveVersion | None:
    """The version of ``case``'s directives that stood at the end of ``day`` (a date of death,
    Paris time): the last one recorded by then, a revocation included; None if none was."""
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=PARIS)
    return db.session.scalar(select(DirectiveVersion).where(
        DirectiveVersion.case_id == case.id, DirectiveVersion.created_at < end)
        .order_by(DirectiveVersion.version.desc()).limit(1))


def in_force_at(case: Case, day: date) -> Directives | None:
    """The directives in force on ``day`` (a date of death, Paris time): the last version
    recorded by the end of that day, unless it is a revocation; versions made later (by
    someone else, after the death) do not count."""
    row = version_at(case, day)
    return None if row is None or row.status is DirectiveStatus.REVOKED else opened(row)


def find(*, email: str | None = None) -> list[Case]:
    """The directive cases of a person, by the e-mail address they proved, newest first (none
    for a value that is no e-mail address)."""
    try:
        digests = [_digest(email)] if email and email.strip() else []
    except InvalidAddress:
        return []
    if not digests:
        return []
    # No DISTINCT over the cases' columns: PostgreSQL compares no ``json`` values.
    return list(db.session.scalars(select(Case).where(
        Case.id.in_(select(DirectiveKey.case_id).where(DirectiveKey.digest.in_(digests))),
        Case.kind == CaseKind.POSTMORTEM_DIRECTIVE).order_by(Case.received_at.desc())))



def catch_up(before: datetime) -> int:
    """The sweep's part: directive cases confirmed before ``before`` but never recorded (the
    process died between the confirmation and the recording) are recorded now."""
    stalled = db.session.scalars(select(Case).where(
        Case.kind == CaseKind.POSTMORTEM_DIRECTIVE, Case.status == CaseStatus.CONFIRMED,
        Case.updated_at < before)).all()
    return sum(take_up(case) for case in stalled)
