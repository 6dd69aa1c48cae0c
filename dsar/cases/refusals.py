"""How an action on a case says no: ``ActionRefused`` carries a message for the person who
tried (staff or requester), and nothing was changed. Shared by the staff actions, the
requester's actions, the release of an answer and the revocation of links."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

#: The longest free text (a note, a question, an answer, reasons) an action accepts.
TEXT_MAX = 5000


class ActionRefused(Exception):
    """The action breaks a rule; ``message`` says which, in the user's language."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


def required_text(value: str | None, missing_message) -> str:
    """The trimmed text, or a refusal with ``missing_message`` (a whole sentence, so that each
    language can make it agree) when it is empty, or when it is longer than ``TEXT_MAX``."""
    cleaned = (value or "").strip()
    if not cleaned:
        raise ActionRefused(missing_message)
    if len(cleaned) > TEXT_MAX:
        raise ActionRefused(_l("Please keep this under %(max)d characters.", max=TEXT_MAX))
    return cleaned
