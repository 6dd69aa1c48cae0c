"""``dsar restriction``: check an address against the restriction register (GDPR Art. 18,
:mod:`dsar.changes.restriction_register`), as ``dsar suppression check`` does the
suppression list (the same code: :func:`dsar.suppression_cli.check_address`).

Restricting and lifting are a case's steps (a lift is a DPO's decision, announced to the
person beforehand), never a command. An address given on the command line stays in the
shell's history and shows in ``ps``: give ``-`` to read it from the standard input
(``printf %s "$ADDRESS" | dsar restriction check -``). The address is never printed back.
"""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from dsar.suppression_cli import check_address

#: ``dsar restriction check``'s answers, one line, nothing else (scripts compare them).
RESTRICTED = "restricted"
NOT_RESTRICTED = "not restricted"


@click.group("restriction")
def restriction_group() -> None:
    """The restriction register: the e-mail addresses and phone numbers (as keyed hashes) of
    people whose data is restricted (GDPR Art. 18), to be left out of any processing."""


@restriction_group.command("check")
@click.argument("address")
@with_appcontext
def check_command(address: str) -> None:
    """Print "restricted" (exit 0) or "not restricted" (exit 1) for ADDRESS, an e-mail
    address or a phone number; "-" reads it from the standard input. Exit 2 for a value that
    is neither."""
    from dsar.changes.restriction_register import is_restricted

    check_address(address, is_restricted, RESTRICTED, NOT_RESTRICTED)
