"""``dsar suppression``: check an address against the suppression list, or add one by hand
(:mod:`dsar.changes.suppression`).

An address given on the command line stays in the shell's history and shows in ``ps``: give
``-`` instead to read it from the standard input (``printf %s "$ADDRESS" | dsar suppression
check -``). Neither command ever prints the address back.
"""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

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
    from dsar.changes.suppression import InvalidAddress, is_suppressed, kind_of

    address = _address(address)
    try:
        found = is_suppressed(kind_of(address), address)
    except InvalidAddress as exc:
        raise click.BadParameter(str(exc), param_hint="ADDRESS") from None
    click.echo(SUPPRESSED if found else NOT_SUPPRESSED)
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
