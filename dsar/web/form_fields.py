"""What every form of the app (the portal's requests, the back office's filing of a request
received by another channel) checks its fields with: the required message, lengths, choices,
the removal of control characters, and the words of an upload refused. Shared here so that
no blueprint reaches into another's views."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

required = DataRequired(message=_l("This field is required."))


def options(*pairs) -> list[SelectChoice]:
    """Choices for a select or radio field, as (value, label) pairs."""
    return [SelectChoice(value, label) for value, label in pairs]


def too_long(limit: int) -> Length:
    """At most ``limit`` characters, with the message in the user's language."""
    return Length(max=limit, message=_l("Please keep this under %(max)d characters.", max=limit))


# Control characters other than tab and line breaks have no place in a request: NUL is even
# refused by PostgreSQL. They are removed from every text field before validation.
_CONTROL = dict.fromkeys(c for c in range(32) if c not in (9, 10, 13))
_CONTROL.update({127: None})


def strip_controls(value):
    """Field filter: remove control characters from text input."""
    return value.translate(_CONTROL) if isinstance(value, str) else value


#: Why an upload was refused (``dsar.core.uploads.UploadRejected.reason``), in words.
UPLOAD_MESSAGES = {
    "empty": _l("The file is empty."),
    "too_large": _l("The file is larger than 10 MB. Please send a smaller file."),
    "bad_type": _l("This file is not a PDF, JPEG or PNG document. Please send one of these "
                   "formats."),
}
