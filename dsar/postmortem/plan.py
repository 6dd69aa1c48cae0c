"""The plan of an execution case: what becomes of each collection where the deceased was
found, and what of it the requester receives.

- With directives (``matching.DIRECTIVES``), the directives decide, category by category of
  the register: a collection is erased when the directives erase every category it holds
  (the erasure machinery, its policy and legal retention included); the
  fields of the categories to hand over go into the copy for the designated person.
- An heir (``matching.HEIR``) gets only what art. 85 II allows: the DPO chooses, collection by
  collection, among what the heir's requests allow (``heirs.allowed_choices``): leave it, hand
  over a copy (what the estate needs), erase it (closing the accounts).

The copy never holds credentials nor other people's data (``dsar.postmortem.copy``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l

from dsar.cases.refusals import ActionRefused
from dsar.changes.planning import (
    PlannedCollection,
    erased,
    found_collections,
    open_plan,
    plan_of,
    write_draft,
)
from dsar.changes.suppression import add as suppress
from dsar.core.audit import record_event
from dsar.exports.information import UNCLASSIFIED
from dsar.extensions import db
from dsar.models import ActorType, Case, CaseStatus, ChangePlan, StaffUser, SuppressionKind
from dsar.postmortem import heirs, matching
from dsar.postmortem.directives import Directives
from dsar.sources.base import CollectionConfig


def categories_of(config: CollectionConfig) -> set[str]:
    """The register's categories a collection holds (``unclassified`` when it names none)."""
    return set(config.fields.values()) or {UNCLASSIFIED}


def directed_choice(content: Directives, config: CollectionConfig) -> str:
    """What the directives do with a collection as a whole: ``erase`` when they erase every
    one of its categories (an erasure cannot be undone: a record that also holds what is to
    be kept or handed over stays), else ``hand_over`` when they hand one over, else ``keep``
    (a category they do not mention is kept)."""
    picks = {content.categories.get(c, "keep") for c in categories_of(config)}
    if picks == {"erase"}:
        return "erase"
    return "hand_over" if "hand_over" in picks else "keep"


def key_of(source: str, collection: str) -> str:
    """How the plan names a collection in its decisions."""
    return f"{source}/{collection}"


@dataclass(frozen=True)
class Decision:
    """What decides each collection of an execution case, read once per case (the matching,
    the directives opened, the heir's requests and the DPO's choices), then asked per
    collection."""

    outcome: str | None
    directives: Directives | None = None
    chosen: Mapping[str, str] = field(default_factory=dict)
    allowed: tuple[str, ...] = ("keep",)

    def choice(self, source: str, config: CollectionConfig) -> str:
        """``erase``, ``hand_over`` or ``keep`` for one collection."""
        if self.outcome == matching.DIRECTIVES:
            return directed_choice(self.directives, config) if self.directives else "keep"
        if self.outcome != matching.HEIR:
            return "keep"  # not confirmed yet, or a refusal: nothing is done
        chosen = self.chosen.get(key_of(source, config.name))
        return chosen if chosen in self.allowed else "keep"

    def handed(self, source: str, config: CollectionConfig):
        """Which fields of a collection go into the copy (a predicate; None: none of them)."""
        if self.outcome == matching.DIRECTIVES:
            if self.directives is None or not self.directives.designated_email:
                return None  # nobody was designated to receive a copy
            handed = {c for c, pick in self.directives.categories.items() if pick == "hand_over"}
            return (lambda name: config.category(name) in handed) if handed else None
        if self.choice(source, config) != "hand_over":
            return None
        return lambda name: True


def decision_of(case: Case, plan: ChangePlan | None) -> Decision:
    """The :class:`Decision` of ``case`` (its plan's choices, for an heir's request)."""
    match = matching.match_of(case)
    if match is None:
        return Decision(None)
    return Decision(match.outcome,
                    directives=matching.applied_directives(case)
                    if match.outcome == matching.DIRECTIVES else None,
                    chosen=dict((plan.decisions if plan else None) or {}),
                    allowed=heirs.allowed_choices(case.details))


def planned_postmortem(case: Case, plan: ChangePlan | None, found) -> list[PlannedCollection]:
    """Each collection where the deceased was found: erased (under its erasure policy) or
    left as it is."""
    decision = decision_of(case, plan)
    lines = []
    for source, config, count, keys in found:
        if decision.choice(source.name, config) == "erase":
            lines.append(erased(case, plan, source, config, count, keys))
        else:
            lines.append(PlannedCollection(
                source=source.name, source_label=source.label(case.language),
                collection=config.name, collection_label=config.label(case.language),
                count=count, keys=keys, action="left"))
    return lines


def choose(case: Case, staff: StaffUser, *, collection: str, choice: str) -> None:
    """The DPO's choice for one collection of an heir's request (caller commits)."""
    match = matching.match_of(case)
    if match is None or match.outcome != matching.HEIR:
        raise ActionRefused(_l("The deceased's directives decide this request: there is "
                               "nothing to choose."))
    if case.status is not CaseStatus.REVIEW:
        raise ActionRefused(_l("This action is not possible while the case is in this state."))
    if choice not in heirs.allowed_choices(case.details):
        raise ActionRefused(_l("The heir did not ask for this: the law allows heirs only what "
                               "they asked for among the settlement of the estate and taking "
                               "the death into account."))
    known = {key_of(s.name, c.name) for s, c, _, _ in found_collections(case)}
    if collection not in known:
        raise ActionRefused(_l("Please choose one of the collections found."))
    plan = open_plan(case)
    write_draft(plan, decisions={**(plan.decisions or {}), collection: choice})
    record_event("postmortem.chosen", case=case, actor_type=ActorType.STAFF, actor_id=staff.id,
                 payload={"collection": collection, "choice": choice})


def choose_action(case: Case, staff: StaffUser, form) -> None:
    """The case page's "choose" action on an heir's request (DPO only)."""
    choose(case, staff, collection=form.get("collection") or "", choice=form.get("choice") or "")
    db.session.commit()


def after_approval(case: Case) -> None:
    """At approval: an heir who asked that the death be taken into account gets the deceased's
    address on the suppression list at once (no more messages nor offers)."""
    match = matching.match_of(case)
    if match is None or match.outcome != matching.HEIR:
        return
    if "record_death" in heirs.requests_of(case.details):
        suppress(SuppressionKind.EMAIL, matching.deceased_identifiers(match)["email"], case=case)


def after_verified(case: Case) -> None:
    """Once the plan is verified: if anything of the deceased's was erased, their address goes
    on the suppression list (keyed hash), so that a later import never writes to them again."""
    match = matching.match_of(case)
    if match is None or not any(p.carried for p in planned_postmortem(
            case, plan_of(case), found_collections(case))):
        return
    suppress(SuppressionKind.EMAIL, matching.deceased_identifiers(match)["email"], case=case)
