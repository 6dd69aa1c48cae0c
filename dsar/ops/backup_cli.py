"""``dsar backup`` and ``dsar restore`` (docs/backup.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

KEY_WARNING = (
    "WARNING: this archive holds the master key. With it, anyone who gets the archive reads "
    "every stored document and can rewrite the audit trail. Keep it encrypted and apart from "
    "the usual backups, or back up without --include-key and keep the key elsewhere.")

CARRIED_KEY_NOTE = (
    "Note: this instance had no master key; the archive was checked with the key it carries, "
    "which proves it whole but not who made it: restore only an archive from a place you "
    "trust.")


@click.command("backup")
@click.option("--output", "-o", type=click.Path(file_okay=True, dir_okay=True,
                                                path_type=Path),
              default=Path("."), show_default=True,
              help="An existing folder (the archive is named dsar-backup-<UTC time>.tar in "
                   "it), or the archive's path ending in .tar.")
@click.option("--include-key", is_flag=True,
              help="Put the master key in the archive too (it is normally kept apart).")
@with_appcontext
def backup_command(output: Path, include_key: bool) -> None:
    """Write one consistent archive of this instance: the database, the encrypted blobs, the
    instance's TOML files and config.py (not the master key unless --include-key). The
    archive holds personal data: store it encrypted and access-controlled."""
    from dsar.ops.archive import ArchiveError
    from dsar.ops.backup import BackupError, make_backup

    try:
        result = make_backup(current_app, output, include_key=include_key)
    except (ArchiveError, BackupError) as exc:
        raise click.ClickException(str(exc)) from None
    manifest = result.manifest
    click.echo(f"Wrote {result.path} ({result.size:,} bytes, mode 0600): "
               f"{manifest['database']} database at migration {manifest['alembic_revision']}, "
               f"{result.blobs} blob files ({manifest['storage']} storage), "
               f"{len(result.config_files)} configuration files"
               + (", the master key." if include_key else "."))
    if include_key:
        click.echo(KEY_WARNING, err=True)
    else:
        click.echo(f"The master key ({current_app.config['MASTER_KEY_FILE']}) is not in the "
                   "archive: keep a copy of it apart; without it the archive cannot be read.")


@click.command("restore")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True,
              help="Replace what this instance already holds (dsar's tables, the storage "
                   "folder's blobs) and overwrite its configuration files.")
@click.option("--check", "only_check", is_flag=True,
              help="Only check the archive (its manifest's HMAC, every file against its "
                   "SHA-256); change nothing.")
@click.option("--with-config", is_flag=True,
              help="Restore the archive's config.py too (code the app runs at start: read it "
                   "first). Without it, config.py is left out.")
@with_appcontext
def restore_command(archive: Path, force: bool, only_check: bool, with_config: bool) -> None:
    """Restore ARCHIVE (made by `dsar backup`) into this instance, which must be fresh (nothing
    beyond what `dsar init` writes, empty storage folder) unless --force, with its workers and
    scheduler stopped. Its master key must be in place first (or in the archive).
    Everything is checked before anything changes."""
    from dsar.ops.archive import ArchiveError
    from dsar.ops.backup import BackupError
    from dsar.ops.restore import RestoreRefused, check_only, restore

    try:
        if only_check:
            manifest, carried = check_only(current_app, archive)
            click.echo(f"Archive intact (HMAC and sums checked): {len(manifest['files'])} "
                       f"files, made {manifest['created_at']}, {manifest['database']} "
                       f"database at migration {manifest['alembic_revision']}, master key "
                       f"{'included' if manifest['key_included'] else 'not included'}.")
            if carried:
                click.echo(CARRIED_KEY_NOTE, err=True)
            return
        report = restore(current_app, archive, force=force, with_config=with_config,
                         say=click.echo)
    except (ArchiveError, RestoreRefused) as exc:
        click.echo(f"Not restored: {exc}", err=True)
        sys.exit(1)
    except BackupError as exc:
        click.echo(f"Restore failed: {exc}", err=True)
        sys.exit(1)
    for path in report.config_written:
        click.echo(f"Configuration restored: {path}")
    for path in report.config_kept:
        click.echo(f"Configuration kept as it was (--force to overwrite): {path}")
    for name in report.config_skipped:
        click.echo(f"Not restored: {name} (code the app runs at start). Read it with "
                   f"`tar -xOf {archive} {name}`, then restore again with --with-config "
                   "--force, or copy what you need by hand.")
    if report.key_installed:
        click.echo(f"Master key installed from the archive: {current_app.config['MASTER_KEY_FILE']}"
                   " (mode 0600).")
        click.echo(CARRIED_KEY_NOTE, err=True)
    if report.upgraded_to:
        click.echo(f"Database upgraded from migration {report.revision} to {report.upgraded_to}.")
    click.echo("Restored. Now run `dsar audit verify` (the trail must be intact) and "
               "`dsar doctor`, then start the web server, workers and scheduler.")
