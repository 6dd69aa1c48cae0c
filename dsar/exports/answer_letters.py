"""The words of the answer letters other than the erasure certificate: rectification (Art. 16),
restriction (Art. 18) and objection (Art. 21), as :mod:`.certificate` renders them.

The letter's frame (letterhead, title, citation, recipients, remedies, signature) is
``templates/exports/certificate.html``; each of these kinds adds its own body
(``templates/exports/_<kind>.html``). This module gives the template what those bodies need,
in the letter's language: labels of the outcomes and decisions, their meanings in plain words
(only those that occur), the summary counts and the dates. It reads no database.
"""

from __future__ import annotations

from typing import Any

from flask_babel import format_date, ngettext
from flask_babel import lazy_gettext as _l

from dsar.exports.certificate_content import CertificateContent
from dsar.postmortem.heirs import HEIR_REQUESTS

#: The title of each kind's letter (the erasure certificate keeps its own, in the template).
TITLES = {
    "erasure": _l("Erasure certificate"),
    "rectification": _l("Rectification of your data"),
    "restriction": _l("Restriction of the processing of your data"),
    "objection": _l("Your objection to the processing of your data"),
    "postmortem_execution": _l("The data of a deceased person"),
}

#: What became of the records in the actions only these letters report, as the tables say it
#: (the erasure's four are :data:`.certificate.ACTION_LABELS`, which adds these).
MORE_ACTION_LABELS = {
    "restricted": _l("Restricted"),
    "not_restricted": _l("Could not be restricted"),
    "unsubscribed": _l("Unsubscribed"),
    "corrected": _l("Corrected"),
    "statement": _l("Your statement added"),
    "left": _l("Left as it is"),
}

#: What became of one correction the person asked for.
CORRECTION_LABELS = {
    "corrected": _l("Corrected"),
    "statement": _l("Your statement added"),
    "refused": _l("Not corrected"),
}
#: The same, explained in plain words under the tables (only the outcomes that occur).
CORRECTION_MEANINGS = {
    "corrected": _l("The value held was replaced by the one you gave us."),
    "statement": _l("This system cannot be changed. Your statement is kept with your data "
                    "there, and it is given with every later copy of that data, including "
                    "any copy we send you."),
    "refused": _l("We did not make this correction, for the reason shown."),
}

#: The DPO's decision on one processing the person objected to.
DECISION_LABELS = {
    "stopped": _l("Stopped"),
    "grounds": _l("Continued: compelling legitimate grounds"),
}
DECISION_MEANINGS = {
    "stopped": _l("We no longer process your data for this purpose."),
    "grounds": _l("We continue this processing, for the grounds given next to it."),
}

#: A value the source did not hold (or that the correction removes).
EMPTY = _l("(empty)")


def _corrections_count(outcome: str, n: int) -> str:
    """``n`` corrections with that outcome, for the summary (one literal ngettext each: the
    extraction reads them, and a plural needs its number)."""
    if outcome == "corrected":
        return ngettext("%(num)d correction made", "%(num)d corrections made", n)
    if outcome == "statement":
        return ngettext("%(num)d statement of yours added", "%(num)d statements of yours added",
                        n)
    return ngettext("%(num)d correction not made", "%(num)d corrections not made", n)


def _rectification(content: CertificateContent) -> dict[str, Any]:
    outcomes = [o for o in CORRECTION_LABELS
                if any(c.outcome == o for c in content.corrections)]
    return {
        "corrections": content.corrections_by_source(),
        "correction_counts": [
            _corrections_count(o, sum(c.outcome == o for c in content.corrections))
            for o in outcomes],
        "correction_labels": {k: str(v) for k, v in CORRECTION_LABELS.items()},
        "correction_meanings": [(str(CORRECTION_LABELS[o]), str(CORRECTION_MEANINGS[o]))
                                for o in outcomes],
        "any_corrected": "corrected" in outcomes,
        "empty": str(EMPTY),
    }


def _restriction(content: CertificateContent) -> dict[str, Any]:
    return {
        "restricted": content.lines_with("restricted"),
        "not_restricted": content.lines_with("not_restricted"),
        "lift_on": format_date(content.lift_on, "long") if content.lift_on else None,
    }


def _objection(content: CertificateContent) -> dict[str, Any]:
    decided = [d for d in DECISION_LABELS if any(x.decision == d for x in content.decisions)]
    return {
        "unsubscribed": content.lines_with("unsubscribed"),
        # What stopping a processing did to its data (erased, restricted...), if anything.
        "stop_lines": tuple(line for line in content.lines if line.action != "unsubscribed"),
        "decision_labels": {k: str(v) for k, v in DECISION_LABELS.items()},
        "decision_meanings": [(str(DECISION_LABELS[d]), str(DECISION_MEANINGS[d]))
                              for d in decided],
    }


def _postmortem(content: CertificateContent) -> dict[str, Any]:

    return {
        "deceased_name": content.deceased_name,
        "died_on": format_date(content.died_on, "long") if content.died_on else None,
        "basis": content.postmortem_basis,
        "heir_requests": [str(HEIR_REQUESTS[r]) for r in content.heir_requests
                          if r in HEIR_REQUESTS],
        "handed_over": content.handed_over,
        "handed_total": sum(line.count for line in content.handed_over),
        "changed": content.lines_with("erased", "anonymized", "redacted"),
        "kept_lines": content.lines_with("kept"),
        "left": content.lines_with("left"),
    }


_BY_KIND = {"rectification": _rectification, "restriction": _restriction,
            "objection": _objection, "postmortem_execution": _postmortem}


def letter_context(content: CertificateContent) -> dict[str, Any]:
    """What the body of ``content``'s letter needs beyond the certificate's own context, in
    the letter's language (call inside ``force_locale``): its title, and per kind the
    grouped corrections, the restriction's places and lift date, or the objection's
    decisions. Nothing more for an erasure."""
    context: dict[str, Any] = {"title": str(TITLES[content.kind])}
    build = _BY_KIND.get(content.kind)
    if build is not None:
        context.update(build(content))
    return context
