"""The intake forms: common fields, plus what each kind of request needs; the answer form;
and reading the document a form carries."""

from __future__ import annotations

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    URL,
    DataRequired,
    Email,
    InputRequired,
    Optional,
    Regexp,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from dsar.cases.clock import today_in_paris
from dsar.cases.details import (
    ERASURE_GROUND_CHOICES,
    OBJECTION_TARGET_CHOICES,
    REQUESTER_ROLE_CHOICES,
    RESTRICTION_GROUND_CHOICES,
)
from dsar.core.uploads import UploadRejected, check_upload
from dsar.models import CaseKind, ProofKind
from dsar.postmortem.heirs import HEIR_REQUEST_CHOICES
from dsar.web.form_fields import (  # noqa: F401  (the portal's names for them)
    UPLOAD_MESSAGES,
    options,
    required,
    strip_controls,
    too_long,
)

NAME_MAX = 200
EMAIL_MAX = 254
SHORT_MAX = 64
LONG_MAX = 5000
FIELD_MAX = 1000

class MultiCheckboxField(SelectMultipleField):
    """Several choices, each a checkbox."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class RequestForm(FlaskForm):
    """What every request asks for."""

    class Meta:
        def bind_field(self, form, unbound_field, options):
            """Give every field the control-character filter."""
            # Through ``options``: the unbound field is shared by every instance of the form.
            filters = unbound_field.kwargs.get("filters") or ()
            options = {**options, "filters": [strip_controls, *filters]}
            return super().bind_field(form, unbound_field, options)

    full_name = StringField(
        _l("Full name of the person concerned"), validators=[required, too_long(NAME_MAX)]
    )
    email = EmailField(
        _l("Your e-mail address"),
        description=_l("We send a confirmation link and our answer to this address."),
        validators=[
            required,
            too_long(EMAIL_MAX),
            Email(message=_l("Please enter a valid e-mail address, such as name@example.fr."),
                  check_deliverability=False),
        ],
    )
    customer_number = StringField(
        _l("Customer or account number (optional)"),
        description=_l("Helps us find your data without asking for an identity document."),
        validators=[Optional(), too_long(SHORT_MAX)],
    )
    phone = StringField(
        _l("Telephone number you gave us (optional)"),
        validators=[
            Optional(),
            Regexp(r"^\+?[0-9 ().-]{6,32}$",
                   message=_l("Please enter a telephone number with digits only, such as "
                              "06 12 34 56 78.")),
        ],
    )
    representative_name = StringField(
        _l("If you act on behalf of someone else: your name (optional)"),
        description=_l("A representative must attach the mandate signed by the person "
                       "concerned."),
        validators=[Optional(), too_long(NAME_MAX)],
    )
    message = TextAreaField(
        _l("Anything you want to tell us (optional)"), validators=[Optional(), too_long(LONG_MAX)]
    )
    proof = FileField(
        _l("Supporting document (optional)"),
        description=_l("PDF, JPEG or PNG, 10 MB at most. We do not need an identity document to "
                       "start: we will ask if we have a reasonable doubt. If you send one, hide "
                       "what is not needed (photo, document number)."),
    )
    declaration = BooleanField(
        _l("I certify that the information above is accurate and that I am the person "
           "concerned or entitled to act for them."),
        validators=[DataRequired(message=_l("Please tick this box to send the request."))],
    )

    #: Fields (beyond the common ones) copied into ``Case.details``.
    detail_fields: tuple[str, ...] = ()
    #: Whether a supporting document must be attached whatever else is filled in.
    proof_required = False
    #: Labelled documents a kind asks for besides ``proof``: (file field, what it proves). Each
    #: is checked by content and size like ``proof`` and stored encrypted as its own proof.
    document_fields: tuple[tuple[str, ProofKind], ...] = ()

    def validate_proof(self, field) -> None:
        """A representative must attach the mandate; some kinds always need a document."""
        has_file = bool(field.data and getattr(field.data, "filename", ""))
        if not has_file and (self.proof_required or self.representative_name.data):
            raise ValidationError(_l("Please attach the supporting document."))


class AccessForm(RequestForm):
    pass


class PortabilityForm(RequestForm):
    receiving_controller = StringField(
        _l("Organisation to send your data to directly (optional)"),
        validators=[Optional(), too_long(NAME_MAX)],
    )
    receiving_endpoint = StringField(
        _l("Its secure address for receiving data, if it gave you one (optional)"),
        validators=[
            Optional(),
            too_long(FIELD_MAX),
            URL(require_tld=True, message=_l("Please enter a full web address starting with "
                                             "https://.")),
            Regexp(r"^https://", message=_l("Only secure addresses (https://) are accepted.")),
        ],
    )
    detail_fields = ("receiving_controller", "receiving_endpoint")


class RectificationForm(RequestForm):
    data_to_correct = TextAreaField(
        _l("Which information is wrong or incomplete?"),
        validators=[required, too_long(FIELD_MAX)],
    )
    correct_value = TextAreaField(
        _l("What should it say instead?"),
        description=_l("You may also add a supplementary statement."),
        validators=[required, too_long(FIELD_MAX)],
    )
    detail_fields = ("data_to_correct", "correct_value")


ERASURE_GROUNDS = options(*ERASURE_GROUND_CHOICES)


class ErasureForm(RequestForm):
    erasure_ground = SelectField(
        _l("Why do you ask for erasure? (optional)"), choices=ERASURE_GROUNDS,
        validators=[Optional()],
    )
    detail_fields = ("erasure_ground",)


RESTRICTION_GROUNDS = options(*RESTRICTION_GROUND_CHOICES)


class RestrictionForm(RequestForm):
    restriction_ground = RadioField(
        _l("Why should the processing be restricted?"), choices=RESTRICTION_GROUNDS,
        validators=[InputRequired(message=_l("Please choose one of the options."))],
    )
    detail_fields = ("restriction_ground",)


OBJECTION_TARGETS = options(*OBJECTION_TARGET_CHOICES)


class ObjectionForm(RequestForm):
    objection_target = RadioField(
        _l("What do you object to?"), choices=OBJECTION_TARGETS,
        validators=[InputRequired(message=_l("Please choose one of the options."))],
    )
    objection_reasons = TextAreaField(
        _l("Your reasons, relating to your particular situation"),
        description=_l("Needed for an objection to processing other than direct marketing."),
        validators=[Optional(), too_long(LONG_MAX)],
    )
    detail_fields = ("objection_target", "objection_reasons")

    def validate(self, extra_validators=None) -> bool:
        # Not an inline validator: Optional() on the field stops the chain when it is empty.
        valid = super().validate(extra_validators)
        reasons = (self.objection_reasons.data or "").strip()
        if self.objection_target.data == "other" and not reasons:
            self.objection_reasons.errors = [*self.objection_reasons.errors,
                                             _l("Please give your reasons.")]
            return False
        return valid


def not_in_future(form, field) -> None:
    # The French calendar's today, as everywhere else (the server's clock may run on UTC).
    if field.data and field.data > today_in_paris():
        raise ValidationError(_l("This date cannot be in the future."))


#: What a document field says of the files it takes.
DOCUMENT_HELP = _l("PDF, JPEG or PNG, 10 MB at most.")


def _has_file(field) -> bool:
    return bool(field.data and getattr(field.data, "filename", ""))


class PostmortemExecutionForm(RequestForm):
    """The rights of a deceased person, asked by the person they designated or an heir (Loi
    Informatique et Libertés, art. 85): the proofs are the death certificate, the requester's
    identity and, for an heir, the proof of being one (décret 2019-536, art. 124)."""

    deceased_name = StringField(
        _l("Full name of the deceased person"), validators=[required, too_long(NAME_MAX)]
    )
    # The deceased's identifiers: what staff confirm and the search then runs on (never the
    # requester's own address), and what finds the directives the person left.
    deceased_email = EmailField(
        _l("E-mail address of the deceased person"),
        description=_l("The address they used with us: it finds their data and any "
                       "directives they left."),
        validators=[required, too_long(EMAIL_MAX),
                    Email(message=_l("Please enter a valid e-mail address, such as "
                                     "name@example.fr."), check_deliverability=False)],
    )
    deceased_customer_number = StringField(
        _l("Their customer number, if you know it (optional)"),
        validators=[Optional(), too_long(FIELD_MAX)],
    )
    date_of_birth = DateField(
        _l("Date of birth of the deceased person"),
        validators=[InputRequired(message=_l("Please enter a date.")), not_in_future],
    )
    date_of_death = DateField(
        _l("Date of death"),
        validators=[InputRequired(message=_l("Please enter a date.")), not_in_future],
    )
    requester_role = RadioField(
        _l("You act as"),
        choices=options(*REQUESTER_ROLE_CHOICES),
        validators=[InputRequired(message=_l("Please choose one of the options."))],
    )
    # Without directives (or where they are silent), the law allows heirs only these
    # (LIL art. 85 II); the person designated carries out the directives, which decide.
    heir_requests = MultiCheckboxField(
        _l("If you are an heir: what you ask for"),
        description=_l("The law allows heirs only what the settlement of the estate needs and "
                       "taking the death into account."),
        choices=options(*HEIR_REQUEST_CHOICES),
    )
    death_certificate = FileField(_l("The death certificate"), description=DOCUMENT_HELP)
    heir_document = FileField(
        _l("If you are an heir: the acte de notoriété or the livret de famille"),
        description=DOCUMENT_HELP)
    requester_identity = FileField(
        _l("Your own identity document"),
        description=_l("PDF, JPEG or PNG, 10 MB at most. Hide what is not needed (photo, "
                       "document number)."))
    detail_fields = ("deceased_name", "deceased_email", "deceased_customer_number",
                     "date_of_birth", "date_of_death", "requester_role", "heir_requests")
    document_fields = (("death_certificate", ProofKind.DEATH_CERTIFICATE),
                       ("heir_document", ProofKind.HEIR_STATUS),
                       ("requester_identity", ProofKind.IDENTITY))

    def validate_date_of_death(self, field) -> None:
        born = self.date_of_birth.data
        if born and field.data and field.data < born:
            raise ValidationError(_l("The date of death cannot be before the date of birth."))

    def validate_heir_requests(self, field) -> None:
        if self.requester_role.data != "heir":
            field.data = []  # the directives decide what the person designated may ask
        elif not field.data:
            raise ValidationError(_l("Please choose what you ask for."))

    def validate_death_certificate(self, field) -> None:
        if not _has_file(field):
            raise ValidationError(_l("Please attach the death certificate."))

    def validate_heir_document(self, field) -> None:
        if self.requester_role.data == "heir" and not _has_file(field):
            raise ValidationError(_l("Please attach the acte de notoriété or the livret de "
                                     "famille."))

    def validate_requester_identity(self, field) -> None:
        if not _has_file(field):
            raise ValidationError(_l("Please attach your identity document."))


class AnswerForm(FlaskForm):
    """The requester's answer to a question from staff."""

    class Meta(RequestForm.Meta):
        pass

    answer = TextAreaField(_l("Your answer"), validators=[required, too_long(LONG_MAX)])
    proof = FileField(
        _l("Document (optional)"),
        description=_l("PDF, JPEG or PNG, 10 MB at most. Hide what is not needed."),
    )


#: The form of each kind; post-mortem directives have theirs built at request time from the
#: register (``dsar.portal.directive_forms``; ``dsar.portal.intake.request_form`` picks).
KIND_FORMS: dict[CaseKind, type[RequestForm]] = {
    CaseKind.ACCESS: AccessForm,
    CaseKind.PORTABILITY: PortabilityForm,
    CaseKind.RECTIFICATION: RectificationForm,
    CaseKind.ERASURE: ErasureForm,
    CaseKind.RESTRICTION: RestrictionForm,
    CaseKind.OBJECTION: ObjectionForm,
    CaseKind.POSTMORTEM_EXECUTION: PostmortemExecutionForm,
}


def read_upload(form: RequestForm | AnswerForm) -> tuple[bytes, str] | None:
    """The uploaded bytes and their real type, or None when no file was chosen; a rejected
    file raises ``UploadRejected`` with the message put on the field."""
    return read_file(form.proof)


def read_documents(form: RequestForm) -> list[tuple[tuple[bytes, str], ProofKind]]:
    """Each labelled document the form asks for (``document_fields``) that was sent, with
    what it proves; the first rejected file raises ``UploadRejected`` (message on its field,
    nothing stored)."""
    documents = []
    for name, kind in form.document_fields:
        upload = read_file(form[name])
        if upload is not None:
            documents.append((upload, kind))
    return documents


def read_file(field) -> tuple[bytes, str] | None:
    """One file field's bytes and real type (checked by content, at most
    ``MAX_UPLOAD_BYTES``), or None when no file was chosen."""
    upload = field.data
    if not upload or not getattr(upload, "filename", ""):
        return None
    limit = current_app.config["MAX_UPLOAD_BYTES"]
    data = upload.stream.read(limit + 1)
    try:
        content_type = check_upload(data, max_bytes=limit)
    except UploadRejected as rejected:
        field.errors = [*field.errors, UPLOAD_MESSAGES[rejected.code]]
        raise
    return data, content_type
