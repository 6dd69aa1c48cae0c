"""The landing page and the request forms."""

from __future__ import annotations

import logging
from datetime import date, timedelta

from flask import abort, current_app, redirect, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from dsar import pipeline
from dsar.cases.workflow import create_case
from dsar.core import storage
from dsar.core.uploads import UploadRejected, check_upload
from dsar.extensions import db, limiter
from dsar.i18n import current_language
from dsar.mail.outbox import queue_email
from dsar.models import Case, CaseKind, IdentityProof, MailTemplate, ProofKind
from dsar.models.types import utcnow
from dsar.portal.blueprint import bp
from dsar.portal.forms import KIND_FORMS, RequestForm

logger = logging.getLogger(__name__)

UPLOAD_MESSAGES = {
    "empty": _l("The file is empty."),
    "too_large": _l("The file is larger than 10 MB. Please send a smaller file."),
    "bad_type": _l("This file is not a PDF, JPEG or PNG document. Please send one of these "
                   "formats."),
}


@bp.get("/")
def index():
    """The rights explained in plain words, each with the way to exercise it."""
    return render_template("portal/index.html", kinds=list(CaseKind))


def _intake_limit() -> str:
    return current_app.config["RATELIMIT_INTAKE_PER_ADDRESS"]


def _too_many_from(email: str) -> bool:
    """Per-address limit: a flood of requests to one mailbox is refused (the e-mail link is
    the first identity check, so spamming someone's inbox must not be free)."""
    since = utcnow() - timedelta(days=1)
    count = db.session.scalar(
        select(func.count(Case.id)).where(
            Case.email_normalized == email.strip().lower(), Case.received_at >= since
        )
    )
    return count >= current_app.config["RATELIMIT_INTAKE_PER_EMAIL_PER_DAY"]


def _proof_kind(form: RequestForm, kind: CaseKind) -> ProofKind:
    if kind is CaseKind.POSTMORTEM_EXECUTION:
        return ProofKind.DEATH_CERTIFICATE
    if form.representative_name.data:
        return ProofKind.MANDATE
    return ProofKind.IDENTITY


def read_upload(form) -> tuple[bytes, str] | None:
    """The uploaded bytes and their real type, or None when no file was chosen; a rejected
    file raises ``UploadRejected`` with the message put on the field."""
    upload = form.proof.data
    if not upload or not getattr(upload, "filename", ""):
        return None
    limit = current_app.config["MAX_UPLOAD_BYTES"]
    data = upload.stream.read(limit + 1)
    try:
        content_type = check_upload(data, max_bytes=limit)
    except UploadRejected as rejected:
        form.proof.errors = [*form.proof.errors, UPLOAD_MESSAGES[rejected.code]]
        raise
    return data, content_type


def _details(form: RequestForm) -> dict:
    details = {}
    for name in form.detail_fields:
        value = getattr(form, name).data
        if isinstance(value, date):
            value = value.isoformat()
        if isinstance(value, str):
            value = value.strip()
        if value not in (None, ""):
            details[name] = value
    return details


@bp.route("/request/<kind>", methods=["GET", "POST"])
@limiter.limit(_intake_limit, methods=["POST"])
def new_request(kind: str):
    """Show and take the form for one kind of request."""
    try:
        case_kind = CaseKind(kind)
    except ValueError:
        abort(404)
    form = KIND_FORMS[case_kind]()
    if request.method == "POST" and form.validate():
        if _too_many_from(form.email.data):
            form.email.errors = [*form.email.errors, _l(
                "We have already received several requests for this address today. Please "
                "wait until tomorrow, or write to our data protection officer.")]
        else:
            try:
                upload = read_upload(form)
            except UploadRejected:
                pass  # the message is on the field; the form is shown again, nothing stored
            else:
                case = _file_case(form, case_kind, upload)
                session["submitted"] = case.reference
                return redirect(url_for("portal.submitted"))
    return render_template("portal/request_form.html", form=form, kind=case_kind), (
        400 if form.errors else 200
    )


def _file_case(form: RequestForm, kind: CaseKind, upload: tuple[bytes, str] | None) -> Case:
    """Store the proof encrypted, open the case, queue the confirmation e-mail, commit."""
    proofs = []
    if upload is not None:
        data, content_type = upload
        blob = storage.put(data)
        proofs.append(IdentityProof(
            kind=_proof_kind(form, kind), blob_id=blob.blob_id, size=blob.size,
            sha256=blob.sha256, content_type=content_type,
        ))
    identifiers = {
        key: value.strip()
        for key, value in (("customer_number", form.customer_number.data),
                           ("phone", form.phone.data))
        if value and value.strip()
    }
    try:
        case = create_case(
            kind=kind,
            requester_name=form.full_name.data.strip(),
            requester_email=form.email.data.strip(),
            language=current_language(),
            identifiers=identifiers,
            details=_details(form),
            message=(form.message.data or "").strip(),
            representative_name=(form.representative_name.data or "").strip(),
            proofs=proofs,
        )
        outbound = queue_email(case, MailTemplate.CONFIRM_EMAIL)
        db.session.commit()
    except Exception:
        db.session.rollback()
        for proof in proofs:  # no orphan ciphertext for a case that does not exist
            storage.delete(proof.blob_id)
        raise
    pipeline.enqueue_email(outbound.id)
    return case


@bp.get("/request/sent")
def submitted():
    """After filing: check your mailbox."""
    reference = session.get("submitted")
    case = db.session.scalar(select(Case).where(Case.reference == reference)) if reference else None
    if case is None:
        return redirect(url_for("portal.index"))
    confirm_until = case.received_on + timedelta(days=current_app.config["CONFIRMATION_DAYS"])
    return render_template("portal/submitted.html", case=case, confirm_until=confirm_until)
