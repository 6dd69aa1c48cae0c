"""``dsar suppression``: check an address against the suppression list, or add one by hand
(:mod:`dsar.changes.suppression`).

An address given on the command line stays in the shell's history and shows in ``ps``: give
``-`` instead to read it from the standard input (``printf %s "$ADDRESS" | dsar suppression
check -``). Neither command ever prints the address back.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import click
from flask.cli import with_appcontext

if TYPE_CHECKING:
    from dsar.models.suppression import SuppressionKind

#: ``dsar suppression check``'s answers, one line, nothing else (scripts compare them).
SUPPRESSED = "suppressed"
NOT_SUPPRESSED = "not suppressed"
_WHAT = {"email": "e-mail address", "phone": "phone number"}


def _address(value: str) -> str:
    """The address given, or the first line of the standard input for ``-``."""
    if value == "-":
        value = sys.stdin.readline()
    return value.strip()


@click.group("suppression")
def suppression_group() -> None:
    """The suppression list: the e-mail addresses and phone numbers of erased people (as
    keyed hashes), not to be imported or contacted again."""


@suppression_group.command("check")
@click.argument("address")
@with_appcontext
def check_command(address: str) -> None:
    """Print "suppressed" (exit 0) or "not suppressed" (exit 1) for ADDRESS, an e-mail
    address or a phone number; "-" reads it from the standard input. Exit 2 for a value that
    is neither."""
    from dsar.changes.suppression import is_suppressed

    check_address(address, is_suppressed, SUPPRESSED, NOT_SUPPRESSED)


def check_address(address: str, is_listed: Callable[[SuppressionKind, str], bool],
                  listed: str, not_listed: str) -> None:
    """A register's check command (this one's, ``dsar restriction check``'s): print
    ``listed`` and exit 0 if ``is_listed`` says ADDRESS (``-``: the standard input) is on the
    register, else ``not_listed`` and exit 1; exit 2 (click's usage error), without
    repeating the value, for a value that is neither an e-mail address nor a phone
    number."""
    from dsar.changes.suppression import InvalidAddress, kind_of

    address = _address(address)
    try:
        found = is_listed(kind_of(address), address)
    except InvalidAddress as exc:
        raise click.BadParameter(str(exc), param_hint="ADDRESS") from None
    click.echo(listed if found else not_listed)
    sys.exit(0 if found else 1)


@suppression_group.command("add")
@click.argument("address")
@with_appcontext
def add_command(address: str) -> None:
    """Put ADDRESS (an e-mail address or a phone number; "-" reads it from the standard
    input) on the suppression list by hand: say, a person who objected to marketing by
    phone. Recorded in the audit trail (its kind, never the address)."""
    from dsar.changes.suppression import InvalidAddress, add, kind_of
    from dsar.core.audit import record_event
    from dsar.extensions import db

    address = _address(address)
    kind = kind_of(address)
    try:
        added = add(kind, address)
    except InvalidAddress as exc:
        raise click.BadParameter(str(exc), param_hint="ADDRESS") from None
    if not added:
        db.session.rollback()
        click.echo(f"This {_WHAT[kind.value]} is already on the suppression list.")
        return
    record_event("suppression.added", payload={"added": {kind.value: 1}, "by": "command"})
    db.session.commit()
    click.echo(f"Added the {_WHAT[kind.value]} to the suppression list.")
