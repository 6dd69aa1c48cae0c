"""What a request's form collected beyond identity (``Case.details``), in words: the choices
the portal offers (its forms read them from here) and the labels the back office shows, so that
no internal code reaches a page."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from dsar.postmortem.heirs import HEIR_REQUESTS

ERASURE_GROUND_CHOICES = (
    ("", _l("I do not wish to say")),
    ("no_longer_needed", _l("The data is no longer needed for its purpose")),
    ("consent_withdrawn", _l("I withdraw my consent")),
    ("objection", _l("I object to the processing")),
    ("unlawful", _l("The data was processed unlawfully")),
    ("legal_obligation", _l("The law requires erasure")),
    ("child", _l("The data was collected when I was a child")),
)

RESTRICTION_GROUND_CHOICES = (
    ("accuracy_contested", _l("I contest the accuracy of my data")),
    ("unlawful", _l("The processing is unlawful but I do not want erasure")),
    ("legal_claims", _l("You no longer need the data but I need it for a legal claim")),
    ("objection_pending", _l("I have objected and wait for your decision")),
)

OBJECTION_TARGET_CHOICES = (
    ("direct_marketing", _l("Direct marketing (newsletters, offers, profiling for marketing)")),
    ("other", _l("Another processing based on your legitimate interest")),
)

DIRECTIVE_CHOICE_CHOICES = (
    ("erase", _l("Erase all my data")),
    ("hand_over", _l("Hand my data over to the person I designate")),
    ("keep", _l("Keep my data as it is")),
    ("custom", _l("Something else, described below")),
)

REQUESTER_ROLE_CHOICES = (
    ("designated_person", _l("The person designated in their directives")),
    ("heir", _l("An heir")),
)

#: What each kind of document proves, in the back office's words.
PROOF_KIND_LABELS = {
    "identity": _l("Identity document"),
    "mandate": _l("Mandate"),
    "death_certificate": _l("Death certificate"),
    "heir_status": _l("Proof of being an heir (acte de notoriété, livret de famille)"),
    "other": _l("Other document"),
    "evidence": _l("Evidence of the date of receipt"),
}

#: How a request reached the organisation (``Case.channel``), in the back office's words.
CHANNEL_LABELS = {
    "portal": _l("portal"),
    "email": _l("e-mail"),
    "post": _l("post"),
    "phone": _l("telephone"),
    "api": _l("API"),
    "in_person": _l("in person"),
}

#: The back office's label of each detail the forms collect.
FIELD_LABELS = {
    "erasure_ground": _l("Ground for erasure"),
    "restriction_ground": _l("Ground for restriction"),
    "objection_target": _l("Objection to"),
    "objection_reasons": _l("Reasons given"),
    "receiving_controller": _l("Organisation to send the data to"),
    "receiving_endpoint": _l("Its address"),
    "data_to_correct": _l("Information to correct"),
    "correct_value": _l("What it should say"),
    "directive_choice": _l("Directive"),
    "directive_instructions": _l("Details of the directives"),
    "trusted_person_name": _l("Designated person"),
    "trusted_person_email": _l("Their e-mail address"),
    "deceased_name": _l("Deceased person"),
    "deceased_email": _l("Their e-mail address with us"),
    "deceased_customer_number": _l("Their customer number"),
    "date_of_birth": _l("Date of birth"),
    "date_of_death": _l("Date of death"),
    "requester_role": _l("Acting as"),
    "heir_requests": _l("The heir asks for"),
    "consent": _l("Specific consent given"),
    # A request filed by staff (dsar.cases.channel_intake).
    "postal_address": _l("Postal address"),
    "channel_note": _l("How the request was received"),
}

_VALUE_LABELS = {
    "erasure_ground": dict(ERASURE_GROUND_CHOICES),
    "restriction_ground": dict(RESTRICTION_GROUND_CHOICES),
    "objection_target": dict(OBJECTION_TARGET_CHOICES),
    "directive_choice": dict(DIRECTIVE_CHOICE_CHOICES),
    "requester_role": dict(REQUESTER_ROLE_CHOICES),
    "heir_requests": HEIR_REQUESTS,
    "consent": {True: _l("yes")},
}


def shown_details(details: dict | None) -> list[tuple[str, str]]:
    """``details`` as (label, value) pairs in words; an empty choice is left out."""
    shown = []
    for key, value in (details or {}).items():
        if value in (None, "") or key.startswith("category_"):
            continue  # a directive's choices: shown version by version, in words
        label = FIELD_LABELS.get(key, key)
        words = _VALUE_LABELS.get(key, {})
        if isinstance(value, list):
            shown.append((label, ", ".join(str(words.get(v, v)) for v in value)))
        else:
            shown.append((label, words.get(value, value)))
    return shown
