"""Post-mortem directives in the back office: their own list (a standing record is never on
the dashboard's clock), a search by the person's identifiers, and the versions shown on the
case page.

The search is a POST form: an e-mail address typed by staff never goes into a URL (proxies'
logs, the browser's history). Each search is audited with only which fields were given, never
what was typed.
"""

from __future__ import annotations

from datetime import datetime

from flask import render_template, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, select

from dsar.cases.permissions import Action
from dsar.core.audit import record_event
from dsar.extensions import db
from dsar.i18n import current_language
from dsar.models import ActorType, Case, CaseKind, DirectiveStatus, DirectiveVersion
from dsar.postmortem import directives
from dsar.sources.catalog import get_catalog
from dsar.staff.access import require
from dsar.staff.blueprint import bp

PAGE_SIZE = 50
#: Longest value the search accepts (an e-mail address is at most 254 characters).
FIELD_MAX = 254

#: A version's status in words.
VERSION_LABELS = {
    DirectiveStatus.IN_FORCE: _l("in force"),
    DirectiveStatus.SUPERSEDED: _l("superseded"),
    DirectiveStatus.REVOKED: _l("revocation"),
}


def listed(cases: list[Case]) -> list[tuple[Case, int, datetime | None]]:
    """Each case with its number of versions and the date of the latest (one query)."""
    if not cases:
        return []
    stats = {case_id: (count, latest) for case_id, count, latest in db.session.execute(
        select(DirectiveVersion.case_id, func.count(), func.max(DirectiveVersion.created_at))
        .where(DirectiveVersion.case_id.in_([c.id for c in cases]))
        .group_by(DirectiveVersion.case_id))}
    return [(case, *stats.get(case.id, (0, None))) for case in cases]


#: Far beyond any real list; a larger number would overflow the database's OFFSET.
MAX_PAGE = 100_000


def _page_number() -> int:
    raw = request.args.get("page", "1")
    # isdecimal() alone would let "²" through; int() would then fail.
    return min(max(int(raw), 1), MAX_PAGE) if raw.isascii() and raw.isdigit() else 1


@bp.get("/directives")
@require(Action.VIEW_CASES)
def directive_list():
    """Every directive case, newest first, 50 a page; with the search form."""
    page = _page_number()
    cases = db.session.scalars(
        select(Case).where(Case.kind == CaseKind.POSTMORTEM_DIRECTIVE)
        .order_by(Case.received_at.desc(), Case.id.desc())
        .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)).all()
    return render_template("staff/directives.html", rows=listed(cases[:PAGE_SIZE]), page=page,
                           has_next=len(cases) > PAGE_SIZE, results=None, form={})


@bp.post("/directives/search")
@require(Action.VIEW_CASES)
def directive_search():
    """The directive cases of a person, by the e-mail address they proved when recording
    them, shown at once: the value never leaves the request body."""
    email = (request.form.get("email") or "").strip()[:FIELD_MAX]
    form = {"email": email}
    if not email:
        return render_template(
            "staff/directives.html", rows=[], page=1, has_next=False, results=None, form=form,
            error=_l("Give the e-mail address of the deceased.")), 400
    found = directives.find(email=email)
    record_event("directives.searched", actor_type=ActorType.STAFF, actor_id=current_user.id,
                 payload={"email": True})
    db.session.commit()
    return render_template("staff/directives.html", rows=[], page=1, has_next=False,
                           results=listed(found), form=form)


def versions_shown(case: Case) -> list[dict]:
    """The versions of a directive case for its page, oldest first: number, date, status in
    words, and the content with the register's category labels in the staff member's
    language (empty for other kinds)."""
    if case.kind is not CaseKind.POSTMORTEM_DIRECTIVE:
        return []
    register = get_catalog().register
    language = current_language()
    # The register's order; a category since removed from it last, under its name.
    order = {name: i for i, name in enumerate(register.categories)}
    shown = []
    for row, content in directives.versions(case):
        chosen = [] if content is None else sorted(
            content.categories.items(), key=lambda item: (order.get(item[0], len(order)), item[0]))
        choices = [(register.category_label(name, language), directives.CHOICES.get(choice, choice))
                   for name, choice in chosen]
        shown.append({"row": row, "label": VERSION_LABELS[row.status], "content": content,
                      "choices": choices})
    return shown


@bp.context_processor
def directive_helpers() -> dict:
    """``directive_versions(case)`` for the case page's partial: read only where it is used."""
    return {"directive_versions": versions_shown}
