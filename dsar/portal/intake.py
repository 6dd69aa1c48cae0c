"""The landing page and the request forms (the filing itself: ``dsar.cases.intake``)."""

from __future__ import annotations

from datetime import date

from flask import abort, current_app, redirect, render_template, request, session, url_for
from sqlalchemy import select

from dsar.cases import intake
from dsar.core.uploads import UploadRejected
from dsar.extensions import db, limiter
from dsar.i18n import current_language
from dsar.models import Case, CaseKind
from dsar.portal import form_pages
from dsar.portal.blueprint import bp
from dsar.portal.directive_forms import directive_request_form
from dsar.portal.forms import KIND_FORMS, RequestForm, read_documents, read_upload


@bp.get("/")
def index():
    """The rights explained in plain words, each with the way to exercise it."""
    return render_template("portal/index.html", kinds=list(CaseKind))


def _intake_limit() -> str:
    return current_app.config["RATELIMIT_INTAKE_PER_ADDRESS"]


def request_form(kind: CaseKind) -> RequestForm:
    """The filing form of ``kind``, bound to the request (the directives' form is built from
    the register's categories, which are configuration)."""
    if kind is CaseKind.POSTMORTEM_DIRECTIVE:
        return directive_request_form()
    return KIND_FORMS[kind]()


def _details(form: RequestForm) -> dict:
    details = {}
    for name in form.detail_fields:
        value = getattr(form, name).data
        if isinstance(value, date):
            value = value.isoformat()
        if isinstance(value, str):
            value = value.strip()
        if value not in (None, "", []):
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
    # The directives' form follows the register (configuration): always rendered afresh.
    if case_kind is not CaseKind.POSTMORTEM_DIRECTIVE and form_pages.keepable():
        return form_pages.empty_form_page(kind, lambda token: _empty_form(case_kind, token))
    form = request_form(case_kind)
    if request.method == "POST" and form.validate():
        # Past the per-address daily count the request is filed all the same (flagged for
        # staff by ``intake.file_case``): only the DPO may judge it excessive, Art. 12(5).
        try:
            upload = read_upload(form)
            documents = read_documents(form)
        except UploadRejected:
            pass  # the message is on the field; the form is shown again, nothing stored
        else:
            reference = intake.file_case(
                case_kind,
                requester_name=form.full_name.data,
                requester_email=form.email.data,
                language=current_language(),
                identifiers={"customer_number": form.customer_number.data,
                             "phone": form.phone.data},
                details=_details(form),
                message=form.message.data,
                representative_name=form.representative_name.data,
                upload=upload,
                documents=documents,
            )
            session["submitted"] = reference
            return redirect(url_for("portal.submitted"))
    return render_template("portal/request_form.html", form=form, kind=case_kind), (
        400 if form.errors else 200
    )


def _empty_form(kind: CaseKind, token: str) -> str:
    """The form page of ``kind``, empty, with ``token`` for its CSRF token."""
    form = request_form(kind)
    form.csrf_token.current_token = token
    return render_template("portal/request_form.html", form=form, kind=kind)


@bp.get("/request/sent")
def submitted():
    """After filing: check your mailbox."""
    reference = session.get("submitted")
    case = db.session.scalar(select(Case).where(Case.reference == reference)) if reference else None
    if case is None:
        return redirect(url_for("portal.index"))
    return render_template("portal/submitted.html", case=case,
                           confirm_until=intake.confirmation_deadline(case))
