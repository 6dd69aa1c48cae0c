"""The back office: staff authentication, the dashboard, the case page and its actions."""

from flask_login import current_user

from dsar.accounts.management import role_label
from dsar.cases.permissions import Action, allowed
from dsar.models.types import utcnow
from dsar.staff import (  # noqa: F401  (routes)
    account,
    admin,
    auth,
    cases,
    dashboard,
    directives,
    factor,
    filing,
    setup,
)
from dsar.staff.blueprint import bp
from dsar.staff.notes import note_in_words

__all__ = ["bp"]


@bp.app_context_processor
def staff_helpers() -> dict:
    """``staff_can('extend')`` and role names for the templates."""

    def staff_can(action: str) -> bool:
        return current_user.is_authenticated and allowed(current_user.role, Action(action))

    return {"staff_can": staff_can, "role_label": role_label, "now": utcnow}


@bp.app_template_filter("groups_of_four")
def groups_of_four(key: str) -> str:
    """A key to type by hand, in groups of four characters (``ABCD EFGH …``): easier to read
    aloud and to check."""
    return " ".join(key[i:i + 4] for i in range(0, len(key), 4))


@bp.app_template_filter("note_in_words")
def note_in_words_filter(note: str | None) -> str:
    """A system note on identity documents in the staff member's language."""
    return note_in_words(note)
