"""Passwords the system makes up for someone (the demo's staff logins, ``dsar user create``
without ``--password``): read off a console and typed or pasted into a form.

Letters and digits only: ``secrets.token_urlsafe`` could begin with ``-``, which a shell
command reads as an option and a person copying it may drop; ``-`` and ``_`` also stop a
double-click from selecting the whole password in a terminal. The length is chosen so that a
password carries at least the bits asked for."""

from __future__ import annotations

import math
import secrets
import string

#: What a generated password is made of: 62 symbols, nothing a shell or a form misreads.
PASSWORD_ALPHABET = string.ascii_letters + string.digits


def password_length(bits: int) -> int:
    """The number of symbols of :data:`PASSWORD_ALPHABET` that carry at least ``bits``."""
    return math.ceil(bits / math.log2(len(PASSWORD_ALPHABET)))


def new_password(bits: int = 96) -> str:
    """A random password of at least ``bits`` of entropy (96: as ``token_urlsafe(12)``, 17
    symbols; 144: as ``token_urlsafe(18)``, 25 symbols), letters and digits only."""
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(password_length(bits)))
