"""Dates in the page's language, as Flask-Babel writes them, remembered by each process.

A page writes the same few dates again and again (the day a request was received, its due
date, the moments of its history), and Babel works each one out afresh: the locale's
pattern, the time zone, the month's name. That was a tenth of the cost of a status page.
Here what Flask-Babel wrote is kept for the same value, format, language and time zone (the
inputs of what it writes), in a bounded cache per application.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from flask import current_app
from flask_babel import format_date, format_datetime, get_locale, get_timezone

#: How many written dates each application keeps (an entry is about half a kilobyte: a few
#: megabytes at most per worker).
KEPT = 5_000


def _remembered(kind: str, write: Callable[..., str]):
    def remembered(value=None, format=None, rebase=True):  # noqa: A002 (Flask-Babel's name)
        if value is None:  # "now": never the same twice
            return write(value, format, rebase)
        # The value's own zone too: two equal moments in two zones are written apart unless
        # rebased to the visitor's.
        # ``fold`` too: the two moments of the hour the clocks go back compare equal.
        key = (kind, value, getattr(value, "tzinfo", None), getattr(value, "fold", 0), format,
               rebase, str(get_locale()), str(get_timezone()))
        kept = current_app.extensions.setdefault("dsar.dates", OrderedDict())
        text = kept.get(key)
        if text is None:
            text = kept[key] = write(value, format, rebase)
            if len(kept) > KEPT:
                kept.popitem(last=False)
        return text
    remembered.__doc__ = f"Flask-Babel's ``{write.__name__}``, remembered (see the module)."
    return remembered


format_date_remembered = _remembered("date", format_date)
format_datetime_remembered = _remembered("datetime", format_datetime)
