"""``dsar doctor`` (being written)."""

from __future__ import annotations

import click


@click.command("doctor")
def doctor_command() -> None:
    """Not written yet."""
    raise click.ClickException("not written yet")
