"""The ``dsar`` command: a Flask CLI group (``dsar run``, ``dsar db …`` come with it)."""

from __future__ import annotations

import logging
import sys

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from dsar import create_app
from dsar.accounts.passwords import new_password
from dsar.pipeline.queues import QUEUES


def _create_app():
    """``create_app`` for the command line: a bad configuration file ends the command with
    one line naming the file, the key and the fault, not a traceback. The process logs
    through one handler, each line once, a job's lines tagged with its id."""
    from dsar.core.blob_backends import StorageConfigError
    from dsar.pipeline.job_logs import log_to_stderr
    from dsar.sources.base import SourceConfigError

    log_to_stderr()  # first: Flask then gives the app's logger no handler of its own
    try:
        app = create_app()
    except (SourceConfigError, StorageConfigError) as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    # RQ's lines (a worker taking and finishing each job) at the level of dsar's.
    logging.getLogger("rq").setLevel(app.config["LOG_LEVEL"])
    return app


@click.group(cls=FlaskGroup, create_app=_create_app)
def main() -> None:
    """dsar: data-subject-rights requests."""


@main.command("init")
@with_appcontext
def init_command() -> None:
    """Create the instance folder, the master key and the database schema (idempotent)."""
    from dsar.instance_setup import set_up_instance

    set_up_instance(current_app, click.echo)


def _queue_names(ctx, param, value: str) -> list[str]:
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in QUEUES]
    if unknown or not names:
        raise click.BadParameter(f"choose among {', '.join(QUEUES)} (comma-separated)")
    return names


@main.command("worker")
@click.option("--queues", default=",".join(QUEUES), show_default=True,
              callback=_queue_names,
              help="The queues to take jobs from, in priority order (a worker per workload: "
                   "e.g. --queues build on a machine of its own; docs/queue.md).")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option("--fork/--no-fork", default=None,
              help="Run each job in a forked child (RQ's Worker) or in this process (RQ's "
                   "SimpleWorker). Default: the WORKER_FORK setting.")
@with_appcontext
def worker_command(queues: list[str], burst: bool, fork: bool | None) -> None:
    """Run an RQ worker (with RQ's scheduler for retries) whose jobs run in this app."""
    from dsar.mail.smtp_tls import SmtpConfigError, check_smtp_config
    from dsar.pipeline.worker import run_worker, settle_worker_process

    try:  # at start, rather than as the error of every e-mail
        check_smtp_config(current_app.config)
    except SmtpConfigError as exc:
        raise click.ClickException(str(exc)) from None
    fork = current_app.config["WORKER_FORK"] if fork is None else fork
    # Without a fork, database pools, source connections and reflected schemas stay warm
    # from one job to the next (a search takes milliseconds instead of a fork and a
    # reconnection); time limits still apply (SIGALRM in this process).
    settle_worker_process()
    run_worker(queues, fork=fork, burst=burst)


@main.command("scheduler")
@with_appcontext
def scheduler_command() -> None:
    """Run the periodic jobs of ``dsar/pipeline/periodic.py`` (RQ's CronScheduler)."""
    from dsar.pipeline.worker import cron_scheduler, schedule_periodic_jobs

    cron = cron_scheduler("dsar")  # JSON jobs, like every other queue
    schedule_periodic_jobs(cron)
    cron.start()


@main.command("sweep")
@with_appcontext
def sweep_command() -> None:
    """Expire unconfirmed cases, re-enqueue work lost from Redis, delete expired answer
    packages and remove the personal data of cases past their retention period, once."""
    from dsar.pipeline.sweep import sweep

    for name, count in sweep().items():
        click.echo(f"{name}: {count}")


@main.group("sources")
def sources_group() -> None:
    """The data sources (instance/sources.toml) and records of processing."""


@sources_group.command("check")
@with_appcontext
def sources_check_command() -> None:
    """Show the sources and processing read at start-up (both files are valid if this runs)."""
    from dsar.sources.catalog import get_catalog

    catalog = get_catalog()
    if not catalog.sources:
        click.echo("No source declared (instance/sources.toml is missing): nothing is gathered.")
    for name, source in catalog.sources.items():
        searched_by = ", ".join(sorted(source.match_types)) or "-"
        click.echo(f"{name:16} {source.kind:6} {len(source.collections):3} collections, "
                   f"searched by {searched_by}")
    click.echo(f"{len(catalog.register.processing)} processing entries, "
               f"{len(catalog.register.recipients)} recipients, "
               f"{len(catalog.register.categories)} data categories.")


@sources_group.command("index")
@click.argument("names", nargs=-1)
@click.option("--rebuild", is_flag=True, help="Read every file again from the start.")
@with_appcontext
def sources_index_command(names: tuple[str, ...], rebuild: bool) -> None:
    """Bring the line indexes of the ``files`` sources up to date (all, or NAMES)."""
    from dsar.sources.indexing import update_file_indexes

    try:
        done = update_file_indexes(names or None, rebuild=rebuild)
    except KeyError as exc:
        raise click.ClickException(f"no files source named {exc.args[0]!r}") from None
    for name, stats in done.items():
        click.echo(f"{name}: {stats['files']} files, {stats['bytes_read']:,} bytes read, "
                   f"{stats['entries']:,} new entries")


@main.group("audit")
def audit_group() -> None:
    """The audit trail."""


_ANCHOR_FILE = click.Path(exists=True, dir_okay=False)


def _read_anchor_file(path: str | None) -> tuple[list, list[str]]:
    from dsar.core.audit_anchor import read_anchors

    return read_anchors(path) if path else ([], [])


@audit_group.command("verify")
@click.option("--anchor", "anchor_file", type=_ANCHOR_FILE,
              help="Also check every head anchored in this file (`dsar audit anchor`).")
@with_appcontext
def audit_verify_command(anchor_file: str | None) -> None:
    """Check the whole hash chain and its signed head; exit 1 on any alteration or deletion."""
    from dsar.core.audit import verify_chain

    anchors, faults = _read_anchor_file(anchor_file)
    report = verify_chain(anchors=anchors)
    faults += report.faults
    for fault in faults:
        click.echo(f"FAULT {fault}", err=True)
    if faults:
        click.echo(f"Audit trail NOT intact ({len(faults)} faults, "
                   f"{report.events} events read).", err=True)
        sys.exit(1)
    checked = f", {report.anchors} anchors checked" if anchor_file else ""
    click.echo(f"Audit trail intact: {report.events} events{checked}.")


@audit_group.command("anchor")
@click.option("--file", "path", type=click.Path(dir_okay=False),
              help="Append the line to this file (created 0600), off the database's machine.")
@click.option("--syslog", is_flag=True, help="Send the line to the local syslog (/dev/log).")
@with_appcontext
def audit_anchor_command(path: str | None, syslog: bool) -> None:
    """Write the chain head (count, last event, hash, time, MAC) outside the database, for
    `dsar audit verify --anchor`. Run it from cron."""
    from dsar.core.audit_anchor import AnchorError, append_to_file, head_line, send_to_syslog

    if bool(path) == syslog:
        raise click.UsageError("give either --file PATH or --syslog")
    try:
        line, head = head_line()
        if path:
            append_to_file(path, line)
        else:
            send_to_syslog(line)
    except AnchorError as exc:
        click.echo(f"FAULT {exc}", err=True)
        sys.exit(1)
    click.echo(f"Anchored the chain head: {head.count} events, ending at event "
               f"{head.last_event_id}.")


@audit_group.command("seal")
@click.option("--anchor", "anchor_file", type=_ANCHOR_FILE,
              help="Refuse unless every head anchored in this file is still in the chain.")
@with_appcontext
def audit_seal_command(anchor_file: str | None) -> None:
    """Sign the chain head as the events now stand: once after upgrading to signed heads, or
    after an incident has been looked into. Recorded in the trail; refused if an event is
    altered or a link broken."""
    from dsar.core.audit import ChainNotSealed, seal_head
    from dsar.extensions import db

    anchors, faults = _read_anchor_file(anchor_file)
    try:
        if faults:
            raise ChainNotSealed(faults)
        report = seal_head(anchors)
    except ChainNotSealed as exc:
        db.session.rollback()
        for fault in exc.faults:
            click.echo(f"FAULT {fault}", err=True)
        click.echo("The chain head was not sealed.", err=True)
        sys.exit(1)
    if report is None:
        db.session.rollback()
        click.echo("The chain head is signed and agrees with the events: nothing to do.")
        return
    db.session.commit()
    for problem in report.faults:
        click.echo(f"Was: {problem}")
    click.echo(f"Sealed the chain head at {report.events} events (recorded in the trail).")


@main.group("user")
def user_group() -> None:
    """Staff management."""


@user_group.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(["agent", "dpo", "auditor", "admin"]), required=True)
@click.option("--name", default="")
@click.option("--password", envvar="DSAR_NEW_USER_PASSWORD", default=None,
              help="Default: a random one, printed once.")
@with_appcontext
def user_create_command(email: str, role: str, name: str, password: str | None) -> None:
    """Create a staff account (the operator at the console sees its first password; the
    back office e-mails a set-up link instead). The password policy of the back office
    applies; a DPO or administrator account is e-mailed to every other active DPO."""
    from flask_babel import force_locale
    from sqlalchemy import select

    from dsar.accounts import management
    from dsar.core.audit import record_event
    from dsar.extensions import db
    from dsar.mail.outbox import commit_and_send
    from dsar.models import StaffRole, StaffUser

    email = email.strip().lower()
    if db.session.scalar(select(StaffUser.id).where(StaffUser.email == email)):
        raise click.ClickException("a staff account with that address already exists")
    generated = password is None
    password = password or new_password(144)  # never a leading "-" a shell would misread
    problem = management.password_problem(password, email)
    if problem:
        with force_locale("en"):
            raise click.ClickException(str(problem))
    user = StaffUser(email=email, name=name, role=StaffRole(role))
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    record_event("staff.created", payload={"staff_id": user.id, "role": role})
    commit_and_send(*management.notify_new_account(user, by=None))
    click.echo(f"Created {role} account {user.id}.")
    if generated:
        click.echo(f"Password (shown once): {password}")


from dsar.demo.runner import demo_command  # noqa: E402
from dsar.ops.backup_cli import backup_command, restore_command  # noqa: E402
from dsar.ops.doctor_cli import doctor_command  # noqa: E402
from dsar.ops.serve_cli import serve_command  # noqa: E402
from dsar.restriction_cli import restriction_group  # noqa: E402
from dsar.suppression_cli import suppression_group  # noqa: E402

main.add_command(demo_command)
main.add_command(suppression_group)
main.add_command(restriction_group)
main.add_command(serve_command)
main.add_command(doctor_command)
main.add_command(backup_command)
main.add_command(restore_command)
