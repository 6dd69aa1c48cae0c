"""Filing a request received by e-mail, post, telephone or in person ("Enregistrer une demande
reçue", ``/staff/cases/new``), and its printable acknowledgement letter (docs/channels.md).
The rules are :mod:`dsar.cases.channel_intake`'s; this module reads the form and its files."""

from __future__ import annotations

from datetime import date

from flask import Response, current_app, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, MultipleFileField
from wtforms import EmailField, SelectField, StringField, TextAreaField
from wtforms.validators import Email, Optional

from dsar.cases.channel_intake import (
    STAFF_CHANNELS,
    STAFF_KINDS,
    FilingRefused,
    StaffFiling,
    file_by_staff,
)
from dsar.cases.clock import today_in_paris
from dsar.cases.details import CHANNEL_LABELS
from dsar.cases.permissions import Action
from dsar.core.audit import record_event
from dsar.core.uploads import UploadRejected, check_upload
from dsar.exports.acknowledgement import render_acknowledgement
from dsar.extensions import db
from dsar.i18n import KIND_LABELS
from dsar.models import ActorType, CaseKind, Channel
from dsar.staff.access import case_or_404, require
from dsar.staff.blueprint import bp
from dsar.web.form_fields import UPLOAD_MESSAGES, options, required, strip_controls, too_long

#: The evidence may also be the e-mail itself, saved from the mail client.
EVIDENCE_MESSAGES = {
    **UPLOAD_MESSAGES,
    "bad_type": _l("This file is not an e-mail (.eml), PDF, JPEG or PNG document. Please "
                   "send one of these formats."),
}
LANGUAGES = (("fr", "Français"), ("en", "English"))
NOTE_MAX = 1000
MESSAGE_MAX = 5000


class FilingForm(FlaskForm):
    """What staff type in about a request received from another channel."""

    kind = SelectField(_l("Kind of request"), validators=[required])
    channel = SelectField(_l("Received by"), validators=[required])
    received_on = StringField(
        _l("Date of receipt"), validators=[required],
        description=_l("The day the request reached us: the legal deadline runs from it. A date "
                       "before today needs a note of how it came and its evidence."))
    channel_note = TextAreaField(
        _l("How the request was received"), validators=[Optional(), too_long(NOTE_MAX)],
        filters=[strip_controls],
        description=_l("For example: letter received at the head office, e-mail to "
                       "contact@… forwarded by customer service."))
    evidence = FileField(
        _l("Evidence of the date of receipt"),
        description=_l("The e-mail as .eml, or a scan of the letter (PDF, JPEG or PNG), "
                       "10 MB at most."))
    requester_name = StringField(_l("Full name of the person"),
                                 validators=[required, too_long(200)], filters=[strip_controls])
    requester_email = EmailField(
        _l("E-mail address"),
        validators=[Optional(), Email(message=_l("Please enter a valid e-mail address.")),
                    too_long(254)],
        filters=[strip_controls],
        description=_l("Required for a request received by e-mail. With an address, the "
                       "person confirms it by the usual link; without one, print the "
                       "acknowledgement letter."))
    postal_address = TextAreaField(_l("Postal address"),
                                   validators=[Optional(), too_long(NOTE_MAX)],
                                   filters=[strip_controls],
                                   description=_l("For the acknowledgement letter."))
    language = SelectField(_l("Language of the person"), choices=options(*LANGUAGES),
                           default="fr")
    message = TextAreaField(_l("The request as received"),
                            validators=[Optional(), too_long(MESSAGE_MAX)],
                            filters=[strip_controls])
    documents = MultipleFileField(
        _l("Documents that came with the request"),
        description=_l("PDF, JPEG or PNG, 10 MB at most each."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind.choices = options(*((k.value, KIND_LABELS[k]) for k in STAFF_KINDS))
        self.channel.choices = options(*((c.value, CHANNEL_LABELS[c.value])
                                         for c in STAFF_CHANNELS))
        if not self.received_on.data:
            self.received_on.data = today_in_paris().isoformat()


def _read(storage_file, field, *, email: bool, messages: dict):
    """One chosen file's bytes and real type (None when none was chosen); a rejected file
    puts its message on ``field`` and raises ``UploadRejected``."""
    if not storage_file or not getattr(storage_file, "filename", ""):
        return None
    limit = current_app.config["MAX_UPLOAD_BYTES"]
    data = storage_file.stream.read(limit + 1)
    try:
        return data, check_upload(data, max_bytes=limit, email=email)
    except UploadRejected as rejected:
        field.errors = [*field.errors, messages[rejected.code]]
        raise


def _filing(form: FilingForm) -> StaffFiling | None:
    """The filing the form describes, files read and checked; None (the messages at their
    fields) if a date or a file is refused."""
    try:
        received_on = date.fromisoformat(form.received_on.data.strip())
    except ValueError:
        form.received_on.errors = [*form.received_on.errors,
                                   _l("Please enter a date such as 2025-03-14.")]
        return None
    try:
        evidence = _read(form.evidence.data, form.evidence, email=True,
                         messages=EVIDENCE_MESSAGES)
        documents = [upload for upload in (
            _read(f, form.documents, email=False, messages=UPLOAD_MESSAGES)
            for f in form.documents.data or []) if upload is not None]
    except UploadRejected:
        return None
    return StaffFiling(
        kind=CaseKind(form.kind.data), channel=Channel(form.channel.data),
        received_on=received_on, requester_name=form.requester_name.data or "",
        requester_email=form.requester_email.data or "", language=form.language.data,
        message=form.message.data or "", postal_address=form.postal_address.data or "",
        channel_note=form.channel_note.data or "", evidence=evidence,
        documents=tuple(documents))


@bp.route("/cases/new", methods=["GET", "POST"])
@require(Action.FILE_REQUEST)
def file_request():
    """The form; on a valid POST the case is filed and its page shown. A refusal shows the
    form again with the message at its field, nothing stored."""
    form = FilingForm()
    if request.method == "POST" and form.validate():
        filing = _filing(form)
        if filing is not None:
            try:
                case = file_by_staff(filing, current_user)
            except FilingRefused as refused:
                form[refused.field].errors = [*form[refused.field].errors, refused.message]
            else:
                return redirect(url_for("staff.case", reference=case.reference))
    return render_template("staff/file_request.html", form=form,
                           today_iso=today_in_paris().isoformat()), (
        400 if form.errors else 200)


@bp.get("/cases/<reference>/acknowledgement.pdf")
@require(Action.VIEW_CASES)
def acknowledgement(reference: str):
    """The printable acknowledgement letter of a case (for a person with no e-mail address);
    each printing is audited as a view of the case."""
    found = case_or_404(reference)
    pdf = render_acknowledgement(found)
    record_event("acknowledgement.viewed", case=found, actor_type=ActorType.STAFF,
                 actor_id=current_user.id)
    db.session.commit()
    response = Response(pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{found.reference}-accuse-de-reception.pdf"')
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
