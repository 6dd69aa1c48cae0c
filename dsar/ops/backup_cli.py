"""``dsar backup`` (being written)."""

from __future__ import annotations

import click


@click.command("backup")
def backup_command() -> None:
    """Not written yet."""
    raise click.ClickException("not written yet")


@click.command("restore")
def restore_command() -> None:
    """Not written yet."""
    raise click.ClickException("not written yet")
