"""``dsar serve`` (being written)."""

from __future__ import annotations

import click


@click.command("serve")
def serve_command() -> None:
    """Not written yet."""
    raise click.ClickException("not written yet")
