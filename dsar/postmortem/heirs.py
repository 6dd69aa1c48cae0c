"""What heirs may ask without directives (Loi Informatique et Libertés, art. 85 II), in the
words of the portal and the back office, and what each request allows the DPO to do with a
collection of the deceased's data.

The law gives heirs two things only: what the settlement of the estate needs (the information
useful to settle it; the digital goods and the data that are family memories, which pass to
heirs), and taking the death into account (closing the accounts, objecting to further
processing, updating the data). Nothing else of the deceased's data is theirs to see or change.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

#: The requests the portal offers an heir (``Case.details["heir_requests"]``).
HEIR_REQUEST_CHOICES = (
    ("estate_information", _l("The information needed to settle the estate")),
    ("digital_goods", _l("Their digital goods and family memories (photos, documents, "
                         "certificates)")),
    ("close_accounts", _l("Closing their accounts and erasing their data")),
    ("record_death", _l("Taking the death into account: no more messages or offers, the data "
                        "updated")),
)
HEIR_REQUESTS = dict(HEIR_REQUEST_CHOICES)
#: The requests that call for a copy of part of the data, and for its erasure.
COPY_REQUESTS = frozenset({"estate_information", "digital_goods"})
ERASE_REQUESTS = frozenset({"close_accounts"})


def requests_of(details: dict | None) -> list[str]:
    """The heir's requests, in the portal's order (unknown codes dropped)."""
    asked = set((details or {}).get("heir_requests") or ())
    return [code for code, _ in HEIR_REQUEST_CHOICES if code in asked]


def allowed_choices(details: dict | None) -> tuple[str, ...]:
    """What the DPO may do with a collection for this heir: leave it (always), hand over a
    copy (if the heir asked for what the estate needs), erase it (if they asked to close the
    accounts)."""
    asked = set(requests_of(details))
    choices = ["keep"]
    if asked & COPY_REQUESTS:
        choices.append("hand_over")
    if asked & ERASE_REQUESTS:
        choices.append("erase")
    return tuple(choices)

#: What becomes of a collection, in the back office's words.
CHOICE_LABELS = {
    "keep": _l("Leave it as it is"),
    "hand_over": _l("Hand a copy to the requester"),
    "erase": _l("Erase it"),
}
