"""The forms of post-mortem directives (Loi Informatique et Libertés, art. 85 I): filing them,
and changing them from the status page.

One radio per category of data in the register (erase, hand a copy to the designated person,
keep): the register is configuration, so the form classes are built at request time, in the
visitor's language. Both forms ask for a consent of its own, separate from the terms of use.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    RadioField,
    StringField,
    TextAreaField,
    ValidationError,
)
from wtforms.validators import DataRequired, Email, InputRequired, Optional

from dsar.i18n import current_language
from dsar.portal.forms import (
    EMAIL_MAX,
    LONG_MAX,
    NAME_MAX,
    RequestForm,
    options,
    too_long,
)
from dsar.postmortem import directives
from dsar.postmortem.directives import CHOICES, FIELD_PREFIX, Directives

#: The category offered when the register names none: every field a source does not classify
#: is ``unclassified`` (``dsar.sources.catalog.UNCLASSIFIED``), so then it is all the data.
GENERAL_CATEGORY = ("unclassified", _l("All the data you hold about me"))

CHOICE_OPTIONS = options(*CHOICES.items())


def directive_categories() -> list[tuple[str, str]]:
    """The categories the person decides on, (name, label in the page's language)."""
    return directives.categories(current_language()) or [GENERAL_CATEGORY]


def category_labels() -> dict[str, str]:
    """Category name -> label, for showing a version (a category the register no longer names
    keeps its configuration name)."""
    return dict(directive_categories())


class DirectiveFields:
    """What both directive forms ask besides the categories (added by :func:`with_categories`)."""

    directive_instructions = TextAreaField(
        _l("Your instructions (optional)"),
        description=_l("Anything the person you designate or we should know: which accounts, "
                       "what to keep, who may not receive anything."),
        validators=[Optional(), too_long(LONG_MAX)],
    )
    trusted_person_name = StringField(
        _l("Person you designate to carry them out"),
        description=_l("Required if any kind of data is to be handed over."),
        validators=[Optional(), too_long(NAME_MAX)],
    )
    trusted_person_email = EmailField(
        _l("Their e-mail address"),
        validators=[Optional(), too_long(EMAIL_MAX),
                    Email(message=_l("Please enter a valid e-mail address, such as "
                                     "name@example.fr."), check_deliverability=False)],
    )
    heirs_excluded = BooleanField(
        _l("My heirs may not exercise my rights over my data after my death"),
        description=_l("Without this, your heirs may ask what the law allows them (settling "
                       "your estate, closing your accounts) where your directives say nothing."),
    )
    consent = BooleanField(
        _l("I give my specific consent to these directives, separate from the terms of use; "
           "I can change or revoke them at any time from my status page."),
        validators=[DataRequired(message=_l("Please tick this box to give your consent."))],
    )

    #: The ``category_<name>`` fields, set by :func:`with_categories`.
    category_fields: tuple[str, ...] = ()
    #: The directive fields, in the order shown and copied into ``Case.details``.
    directive_fields = ("directive_instructions", "trusted_person_name",
                        "trusted_person_email", "heirs_excluded", "consent")

    def validate(self, extra_validators=None) -> bool:
        # Not an inline validator: Optional() stops the chain of an empty field.
        valid = super().validate(extra_validators)
        if any(self[name].data == "hand_over" for name in self.category_fields):
            for name in ("trusted_person_name", "trusted_person_email"):
                if not (self[name].data or "").strip() and not self[name].errors:
                    self[name].errors = [*self[name].errors, _l(
                        "Please name the person who is to receive the copy, and their e-mail "
                        "address.")]
                    valid = False
        return valid


class PostmortemDirectiveForm(DirectiveFields, RequestForm):
    """Filing directives on the portal (the categories come from :func:`directive_request_form`)."""

    def validate_representative_name(self, field) -> None:
        # Directives are a consent of the person's own (LIL art. 85 I): nobody files them for
        # someone else, and the address proved would be the representative's.
        if (field.data or "").strip():
            raise ValidationError(_l("Directives for after one's death are personal: only the "
                                     "person concerned may record them."))


class DirectiveChangeForm(DirectiveFields, FlaskForm):
    """Changing them from the status page: a new version."""

    class Meta(RequestForm.Meta):
        pass


def with_categories(base: type[DirectiveFields]) -> type[DirectiveFields]:
    """``base`` with one required radio per category of the register."""
    fields = {
        f"{FIELD_PREFIX}{name}": RadioField(
            label, choices=CHOICE_OPTIONS,
            validators=[InputRequired(message=_l("Please choose one of the options."))])
        for name, label in directive_categories()
    }
    names = tuple(fields)
    return type(base.__name__, (base,), {
        **fields, "category_fields": names,
        "detail_fields": (*names, *DirectiveFields.directive_fields)})


def directive_request_form() -> PostmortemDirectiveForm:
    """The filing form, bound to the request; its ``detail_fields`` carry every directive
    field into ``Case.details`` (``directives.take_up`` reads them there)."""
    return with_categories(PostmortemDirectiveForm)()


def directive_change_form(content: Directives | None = None) -> DirectiveChangeForm:
    """The change form: bound to the posted data, or (``content``) prefilled from the
    version in force, the consent left to tick again."""
    form_class = with_categories(DirectiveChangeForm)
    if content is None:
        return form_class()
    data = {f"{FIELD_PREFIX}{name}": choice for name, choice in content.categories.items()}
    data.update(directive_instructions=content.instructions,
                trusted_person_name=content.designated_name,
                trusted_person_email=content.designated_email,
                heirs_excluded=content.heirs_excluded)
    return form_class(formdata=None, data=data)
