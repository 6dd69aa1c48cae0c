"""The case page and its actions. Every view of a case, and of a proof, is audited."""

from __future__ import annotations

from flask import Response, abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from dsar.cases import links, staff_actions
from dsar.cases.clock import case_deadlines, one_month_deadline, today_in_paris
from dsar.cases.details import PROOF_KIND_LABELS, shown_details
from dsar.cases.permissions import Action, allowed
from dsar.cases.possible_actions import possible
from dsar.cases.refusals import ActionRefused
from dsar.changes import notices, objection, plan, rectification, restriction
from dsar.core import storage
from dsar.core.audit import record_event
from dsar.core.blob_download import streamed_zip
from dsar.core.uploads import STORED_TYPES
from dsar.delivery import partial, release
from dsar.exports.build import current_package
from dsar.exports.certificate_content import GROUND_LABELS
from dsar.extensions import db
from dsar.models import (
    CHANGE_KINDS,
    ActorType,
    AuditEvent,
    Case,
    CaseNote,
    ExportPackage,
    IdentityProof,
    InfoRequest,
)
from dsar.postmortem import plan as postmortem_plan
from dsar.search.gathering import source_searches
from dsar.sources.catalog import get_catalog
from dsar.staff.access import case_or_404, deny, require
from dsar.staff.blueprint import bp
from dsar.staff.case_kinds import kind_context
from dsar.staff.history import case_history
from dsar.staff.notes import IDENTITY_METHODS

#: Each POST action: the permission it needs and how to call the service with the form.
ACTIONS = {
    "note": (Action.ADD_NOTE, lambda c, u, f: staff_actions.add_note(c, u, f.get("body"))),
    "verify": (Action.VERIFY_IDENTITY,
               lambda c, u, f: staff_actions.verify_identity(c, u, f.get("method"), f.get("note"),
                                                             deceased=f)),
    "ask": (Action.ASK_INFO, lambda c, u, f: staff_actions.ask_info(c, u, f.get("question"),
                                                                     f.get("doubt"))),
    "extend": (Action.EXTEND, lambda c, u, f: staff_actions.extend(
        c, u, f.get("reason"), late_confirmed=f.get("late") == "yes")),
    "reject": (Action.REJECT, lambda c, u, f: staff_actions.reject(
        c, u, f.get("scope"), f.get("reasons"), late_confirmed=f.get("late") == "yes")),
    "unfounded": (Action.MARK_UNFOUNDED,
                  lambda c, u, f: staff_actions.mark_unfounded(c, u, f.get("justification"))),
    "assign": (Action.ASSIGN, lambda c, u, f: staff_actions.assign(
        c, u, int(f["assignee_id"]) if (f.get("assignee_id") or "").isdigit() else None)),
    "duplicate": (Action.LINK_DUPLICATE,
                  lambda c, u, f: staff_actions.link_duplicate(c, u, f.get("original"))),
    "start": (Action.START_PROCESSING, lambda c, u, f: staff_actions.start_processing(c, u)),
    "search_again": (Action.START_PROCESSING, lambda c, u, f: staff_actions.search_again(
        c, u, confirmed=f.get("confirm") == "yes")),
    "rerun": (Action.RERUN_SOURCE,
              lambda c, u, f: staff_actions.rerun_source(c, u, f.get("source") or "")),
    "release": (Action.RELEASE, lambda c, u, f: release.release(
        c, u, package_id=f.get("package_id"),
        acknowledged=f.getlist("acknowledged_source")
        if f.get("acknowledge_failures") == "yes" else ())),
    "transmit": (Action.TRANSMIT, lambda c, u, f: release.request_transmission(c, u)),
    "keep": (Action.KEEP_IN_PLAN, plan.keep_action),
    "approve": (Action.APPROVE_PLAN, plan.approve_action),
    "notice": (Action.RECORD_NOTICE, notices.decide),
    "correct": (Action.PREPARE_CORRECTION, rectification.correct_action),
    "remove_correction": (Action.PREPARE_CORRECTION, rectification.remove_action),
    "refuse_correction": (Action.REFUSE_CORRECTION, rectification.refuse_action),
    "remove_refusal": (Action.REFUSE_CORRECTION, rectification.remove_refusal_action),
    "decide": (Action.DECIDE_OBJECTION, objection.decide_action),
    "lift": (Action.LIFT_RESTRICTION, restriction.lift_action),
    "choose": (Action.DECIDE_POSTMORTEM, postmortem_plan.choose_action),
    "revoke_links": (Action.REVOKE_LINKS, lambda c, u, f: links.revoke_links(c, u)),
    "follow_up": (Action.RELEASE, partial.follow_up_action),
}



def render_case(case: Case, *, error_action: str | None = None, error=None, status: int = 200):
    """The case page (with an action's error and the values typed, if any)."""
    history = db.session.scalars(
        select(AuditEvent).where(AuditEvent.case_id == case.id).order_by(AuditEvent.id)).all()
    notes = db.session.scalars(
        select(CaseNote).where(CaseNote.case_id == case.id).order_by(CaseNote.id)).all()
    questions = db.session.scalars(
        select(InfoRequest).where(InfoRequest.case_id == case.id).order_by(InfoRequest.id)).all()
    can = {action: allowed(current_user.role, perm)
           and (possible(case, action) or action == error_action)  # keep the refusal visible
           for action, (perm, _) in ACTIONS.items()}
    can["view_proof"] = allowed(current_user.role, Action.VIEW_PROOF)
    can["preview_package"] = allowed(current_user.role, Action.PREVIEW_PACKAGE)
    return render_template(
        "staff/case.html", case=case, history=case_history(history), notes=notes,
        questions=questions,
        searches=source_searches(case),
        package=current_package(case.id) or release.released_package(case),
        failed_sources=release.failed_sources(case),
        transmissions=release.transmissions(case),
        assignees=staff_actions.assignable_staff(), can=can, error_action=error_action,
        error=error, form=request.form if error_action else {},
        identity_methods=IDENTITY_METHODS, one_month=one_month_deadline(case),
        clock=case_deadlines(case),
        plan=plan.plan_of(case), planned=plan.planned_collections(case)
        if case.kind in CHANGE_KINDS else [], exceptions=plan.EXCEPTIONS,
        ground_labels=GROUND_LABELS, shown_details=shown_details(case.details),
        proof_labels=PROOF_KIND_LABELS,
        source_labels=_source_labels(case),
        steps=plan.steps_of(case), notices=notices.notices_of(case),
        recipients=get_catalog().register.recipients,
        today=today_in_paris(), **kind_context(case, can),
    ), status


def _source_labels(case: Case) -> dict[str, str]:
    """Each source's and collection's name in words (``source`` and ``source/collection``)."""
    labels = {}
    for name, source in get_catalog().sources.items():
        labels[name] = source.label(case.language)
        for collection_name, collection in source.collections.items():
            labels[f"{name}/{collection_name}"] = collection.label(case.language)
    return labels


@bp.get("/cases/<reference>")
@require(Action.VIEW_CASES)
def case(reference: str):
    """Everything about one case. Reading it is an audited event."""
    found = case_or_404(reference)
    record_event("case.viewed", case=found, actor_type=ActorType.STAFF, actor_id=current_user.id)
    db.session.commit()
    return render_case(found)


@bp.post("/cases/<reference>/<action>")
@login_required
def case_action(reference: str, action: str):
    """Run one action; a refusal shows the case again with the reason and what was typed. A
    role without the right is refused (and audited) for the action it attempted."""
    found = case_or_404(reference)
    if action not in ACTIONS:
        abort(404)
    permission, run = ACTIONS[action]
    if not allowed(current_user.role, permission):
        deny(permission, found)
    try:
        run(found, current_user, request.form)
    except ActionRefused as refused:
        db.session.rollback()
        return render_case(found, error_action=action, error=refused.message, status=400)
    return redirect(url_for("staff.case", reference=found.reference) + f"#{action}")


#: A document is the requester's, not the app's: in a sandbox (a unique origin, no script, no
#: form, no plug-in) nothing in it can act on the back office, even if a browser renders it.
PROOF_CSP = "sandbox; default-src 'none'"


def _open_audited(case: Case, row: IdentityProof | ExportPackage | None, open_blob,
                  action: str, key: str):
    """``open_blob`` applied to the stored file of ``row`` (a proof or a package of ``case``);
    404 unless it is the case's and still stored. The opening is audited as ``action`` with
    the row's id under ``key``, and committed."""
    if row is None or row.case_id != case.id or not row.blob_id:
        abort(404)
    try:
        opened = open_blob(row.blob_id)
    except storage.BlobError:
        abort(404)
    record_event(action, case=case, actor_type=ActorType.STAFF, actor_id=current_user.id,
                 payload={key: row.id})
    db.session.commit()
    return opened


@bp.get("/cases/<reference>/proofs/<int:proof_id>")
@require(Action.VIEW_PROOF)
def proof(reference: str, proof_id: int):
    """A proof document, decrypted and handed over as a download (never rendered from the app's
    origin); each download is audited."""
    found = case_or_404(reference)
    document = db.session.get(IdentityProof, proof_id)
    data = _open_audited(found, document, storage.get, "proof.viewed", "proof_id")
    extension = STORED_TYPES.get(document.content_type)
    # A type the upload check never lets in is sent as opaque bytes, never as what it claims.
    mimetype = document.content_type if extension else "application/octet-stream"
    # The name is built from the reference and the id only: what the requester called the file
    # may hold their name, or characters that break the header.
    filename = f"{found.reference}-document-{document.id}.{extension or 'bin'}"
    response = Response(data, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = PROOF_CSP
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/cases/<reference>/package/<int:package_id>")
@require(Action.PREVIEW_PACKAGE)
def package_preview(reference: str, package_id: int):
    """The answer package as the person will receive it (a ZIP), decrypted as it streams out;
    each preview is audited."""
    found = case_or_404(reference)
    package = db.session.get(ExportPackage, package_id)
    reader = _open_audited(found, package, storage.reader, "package.previewed", "package_id")
    return streamed_zip(reader, package.size, f"{found.reference}-preview.zip")
