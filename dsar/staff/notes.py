"""The notes the system writes about identity documents, in the staff member's language.

What remains of a document once decided is a note written in a fixed form
(``dsar.cases.staff_actions.verify_identity``, ``dsar.cases.proofs``): "checked on D by staff
N, method M: what staff wrote", "deleted on D when the case became S; identity not checked",
"deleted on D: the request was not confirmed in time". The stored form stays as it is (the
retention purge keeps its generated part); the back office shows it in words, with the staff
member's name and dates in its language. A note of another form is shown as written."""

from __future__ import annotations

import re
from datetime import date

from flask_babel import format_date
from flask_babel import lazy_gettext as _l

from dsar.extensions import db
from dsar.i18n import STAFF_STATUS_LABELS
from dsar.models import CaseStatus, IdentityMethod, StaffUser

#: How the identity was checked, in the order the form offers them.
IDENTITY_METHODS = {
    IdentityMethod.EMAIL_AND_IDENTIFIERS: _l("E-mail link and matching identifiers"),
    IdentityMethod.DOCUMENT: _l("Document"),
    IdentityMethod.KNOWN_CONTACT: _l("Known contact"),
    IdentityMethod.OTHER: _l("Other (explain)"),
}

_CHECKED = re.compile(r"^checked on (\d{4}-\d{2}-\d{2}) by (?:staff (\d+)|the system), "
                      r"method ([a-z_]+)(?:: (.*))?$", re.S)
_CLOSED = re.compile(r"^deleted on (\d{4}-\d{2}-\d{2}) when the case became ([a-z_]+); "
                     r"identity not checked$")
_UNCONFIRMED = re.compile(r"^deleted on (\d{4}-\d{2}-\d{2}): the request was not confirmed "
                          r"in time$")


def _day(text: str) -> str:
    return format_date(date.fromisoformat(text), "long")


def note_in_words(note: str | None) -> str:
    """A system note on identity documents in the current language (see the module)."""
    if not note:
        return ""
    if match := _CHECKED.match(note):
        day, staff_id, method, written = match.groups()
        staff = db.session.get(StaffUser, int(staff_id)) if staff_id else None
        who = ((staff.name or staff.email) if staff else str(_l("a staff member"))
               if staff_id else str(_l("the system")))
        how = IDENTITY_METHODS.get(IdentityMethod(method)) if method in {
            m.value for m in IdentityMethod} else method
        text = str(_l("checked on %(date)s by %(who)s (%(how)s)", date=_day(day), who=who,
                      how=how))
        return f"{text}: {written}" if written else text
    if match := _CLOSED.match(note):
        day, status = match.groups()
        label = STAFF_STATUS_LABELS.get(CaseStatus(status)) if status in {
            s.value for s in CaseStatus} else status
        return str(_l("deleted on %(date)s when the case became “%(status)s”; identity not "
                      "checked", date=_day(day), status=label))
    if match := _UNCONFIRMED.match(note):
        return str(_l("deleted on %(date)s: the request was not confirmed in time",
                      date=_day(match.group(1))))
    return note
