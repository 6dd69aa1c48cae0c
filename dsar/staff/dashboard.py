"""The dashboard: open cases by due date, with filters, search, counts and keyset pagination
(indexed queries: it stays fast with 100,000 cases, see ``bench/dashboard.py``).

The search (a reference or a whole e-mail address) never goes into a URL, where proxies' logs
and the browser's history would keep the address: the form POSTs it, the staff member's session
keeps it under a random id, and the dashboard's links (filters, counters, next page) carry only
that id.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, replace
from datetime import date, timedelta

from flask import current_app, redirect, render_template, request, session, url_for
from flask_login import current_user
from sqlalchemy import bindparam, func, or_, select, tuple_
from sqlalchemy.orm.attributes import set_committed_value

from dsar.cases.clock import (
    DUE_SOON_DAYS,
    case_deadlines,
    open_pause,
    overdue_and_soon,
    today_in_paris,
)
from dsar.cases.details import CHANNEL_LABELS
from dsar.cases.permissions import Action
from dsar.cases.staff_actions import assignable_staff
from dsar.core import storage
from dsar.core.tokens import normalise_reference
from dsar.delivery.partial import to_follow_up
from dsar.extensions import db
from dsar.models import (
    CLOSED_STATUSES,
    STANDING_STATUSES,
    Case,
    CaseKind,
    CaseStatus,
    Channel,
    ClockPause,
)
from dsar.staff.access import require
from dsar.staff.blueprint import bp

#: The cases waiting for work; a standing record (post-mortem directives) has its own list.
OPEN_STATUSES = [s for s in CaseStatus if s not in CLOSED_STATUSES and s not in STANDING_STATUSES]

#: The session key of this browser's searches, ``{id: query}``, and how many it keeps.
SEARCHES_KEY = "dashboard_searches"
SEARCHES_KEPT = 5
QUERY_MAX = 254


def open_clause():
    """``status IN (<open statuses>)`` with the values written into the SQL, as in the WHERE of
    the partial indexes ``ix_cases_open_*`` (``dsar/models/case.py``): SQLite uses them only
    then, and PostgreSQL then uses them in generic plans too."""
    return Case.status.in_(bindparam("open_statuses", OPEN_STATUSES, expanding=True,
                                     literal_execute=True))


@dataclass(frozen=True)
class Filters:
    """What the dashboard shows, parsed from the query string (bad values are ignored)."""

    kind: CaseKind | None = None
    status: CaseStatus | None = None
    #: How the request reached us (portal, e-mail, post…).
    channel: Channel | None = None
    assignee: str | None = None  # a staff id, "me" or "none"
    #: Only the cases flagged possibly excessive (filed past the per-address daily count).
    excessive: bool = False
    query: str = ""
    #: The id of ``query`` in the session (what a URL carries instead of the query).
    search: str | None = None
    after: tuple[date, int] | None = None

    @classmethod
    def from_args(cls, args) -> Filters:
        """The filters of a URL's query string (or of the search form), the search's text
        from the session (an id this session does not hold means no search)."""
        def enum_or_none(enum_cls, raw):
            try:
                return enum_cls(raw) if raw else None
            except ValueError:
                return None

        after = None
        raw_after = args.get("after", "")
        if "_" in raw_after:
            day, _, case_id = raw_after.partition("_")
            try:
                after = (date.fromisoformat(day), int(case_id))
            except ValueError:
                after = None
        assignee = args.get("assignee") or None
        if assignee not in (None, "me", "none") and not str(assignee).isdigit():
            assignee = None
        search = args.get("search") or None
        query = _saved_searches().get(search, "") if search else ""
        return cls(kind=enum_or_none(CaseKind, args.get("kind")),
                   status=enum_or_none(CaseStatus, args.get("status")),
                   channel=enum_or_none(Channel, args.get("channel")),
                   assignee=assignee, excessive=args.get("excessive") == "1", query=query,
                   search=search if query else None, after=after)

    def as_args(self, **changes) -> dict:
        """The query string of a link to these filters: the search by its id, never its text."""
        values = {"kind": self.kind, "status": self.status, "channel": self.channel,
                  "assignee": self.assignee,
                  "excessive": "1" if self.excessive else None, "search": self.search}
        values.update(changes)
        return {k: str(v) for k, v in values.items() if v}


def _saved_searches() -> dict[str, str]:
    """This session's searches, ``{id: query}``, opened. The session is a cookie, signed but
    not encrypted: an e-mail address searched for is kept sealed in it, each under its id."""
    opened = {}
    for search, sealed in session.get(SEARCHES_KEY, {}).items():
        try:
            opened[search] = storage.unseal(base64.b64decode(sealed),
                                            f"staff-search:{search}").decode()
        except (ValueError, storage.BlobError):
            continue  # from another key or altered: that search is simply gone
    return opened


def remember_search(query: str) -> str | None:
    """Keep ``query`` in this session and return its id (the same id for the same query);
    None for an empty query. Only the latest few are kept: the session is a cookie."""
    query = query.strip()[:QUERY_MAX]
    if not query:
        return None
    searches = _saved_searches()
    search = next((key for key, value in searches.items() if value == query), None)
    if search is None:
        search = secrets.token_urlsafe(9)
    searches.pop(search, None)
    searches[search] = query  # the newest last, so the oldest goes first
    kept = list(searches.items())[-SEARCHES_KEPT:]
    session[SEARCHES_KEY] = {
        key: base64.b64encode(storage.seal(value.encode(), f"staff-search:{key}")).decode()
        for key, value in kept}
    return search


def dashboard_query(filters: Filters, staff_id: int, page_size: int):
    """The page's SELECT: open cases (or the chosen status) ordered by due date, then id."""
    conditions = []
    if filters.status is not None:
        conditions.append(Case.status == filters.status)
    else:
        conditions.append(open_clause())
    if filters.kind is not None:
        conditions.append(Case.kind == filters.kind)
    if filters.channel is not None:
        conditions.append(Case.channel == filters.channel)
    if filters.assignee == "me":
        conditions.append(Case.assignee_id == staff_id)
    elif filters.assignee == "none":
        conditions.append(Case.assignee_id.is_(None))
    elif filters.assignee:
        conditions.append(Case.assignee_id == int(filters.assignee))
    if filters.excessive:
        # Written as the WHERE of ``ix_cases_excessive_due_on_id``, so that SQLite uses it.
        conditions.append(Case.possibly_excessive.is_(True))
    if filters.query:
        # Exact matches only: a reference, or a whole e-mail address (both indexed).
        conditions.append(or_(Case.reference == normalise_reference(filters.query),
                              Case.email_normalized == filters.query.lower()))
    if filters.after is not None:
        due, case_id = filters.after
        # A row-value comparison: an index range on (due_on, id), where the equivalent OR is a
        # filter over every earlier row.
        conditions.append(tuple_(Case.due_on, Case.id) > tuple_(due, case_id))
    return (select(Case).where(*conditions).order_by(Case.due_on, Case.id)
            .limit(page_size + 1))


def status_counts() -> dict[CaseStatus, int]:
    """Open cases per status."""
    rows = db.session.execute(
        select(Case.status, func.count()).where(open_clause())
        .group_by(Case.status)
    ).all()
    return {CaseStatus(status): count for status, count in rows}


def pause_view(case: Case) -> tuple[date, date, date] | None:
    """(paused since, due date without the pauses, due date today with the pause) of a case
    whose clock is paused for a doubt about identity; None otherwise (read only for the rows
    waiting for the requester)."""
    if case.status is not CaseStatus.NEEDS_INFO:
        return None
    pause = open_pause(case)
    if pause is None:
        return None
    clock = case_deadlines(case)
    return pause.started_on, clock.unpaused_due, clock.due


def pause_views(rows: list[Case]) -> dict[int, tuple[date, date, date]]:
    """:func:`pause_view` of the page's rows waiting for the requester, their pauses read in
    one query (not one per row)."""
    waiting = [c for c in rows if c.status is CaseStatus.NEEDS_INFO]
    if not waiting:
        return {}
    pauses: dict[int, list[ClockPause]] = {c.id: [] for c in waiting}
    for pause in db.session.scalars(select(ClockPause).where(
            ClockPause.case_id.in_(list(pauses))).order_by(ClockPause.started_on)):
        pauses[pause.case_id].append(pause)
    for case in waiting:
        set_committed_value(case, "pauses", pauses[case.id])
    return {c.id: view for c in waiting if (view := pause_view(c)) is not None}


@bp.post("/search")
@require(Action.VIEW_CASES)
def search():
    """The filter form: keep the search in the session, then show the dashboard with its id."""
    filters = Filters.from_args(request.form)  # kind, status, assignee… (checked as in a URL)
    filters = replace(filters, search=remember_search(request.form.get("q", "")))
    return redirect(url_for("staff.dashboard", **filters.as_args()))


@bp.get("/")
@require(Action.VIEW_CASES)
def dashboard():
    """Open cases, the most urgent first."""
    filters = Filters.from_args(request.args)
    page_size = current_app.config["DASHBOARD_PAGE_SIZE"]
    rows = db.session.scalars(dashboard_query(filters, current_user.id, page_size)).all()
    next_cursor = None
    if len(rows) > page_size:
        rows = rows[:page_size]
        next_cursor = f"{rows[-1].due_on.isoformat()}_{rows[-1].id}"
    today = today_in_paris()
    overdue, soon = overdue_and_soon(today)
    return render_template(
        "staff/dashboard.html", cases=rows, filters=filters, next_cursor=next_cursor,
        today=today, soon_limit=today + timedelta(days=DUE_SOON_DAYS), counts=status_counts(),
        overdue=overdue, due_soon=soon, assignees=assignable_staff(), kinds=list(CaseKind),
        follow_ups=to_follow_up(),
        statuses=list(CaseStatus), pauses=pause_views(rows),
        channels=[(c.value, CHANNEL_LABELS[c.value]) for c in Channel],
    )
