"""``dsar doctor``: check a deployment and say in plain words what is wrong, one line per
check (OK, WARN or FAULT), then a summary; the exit status is 1 on any fault. The checks:
:mod:`dsar.ops.doctor` and :mod:`dsar.ops.checks`; what each means and how to fix it:
docs/monitoring.md.

Invalid sources or register files stop the app before any check, as they stop every ``dsar``
command: one line naming the file, the key and the fault, and exit status 2."""

from __future__ import annotations

import json
import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from dsar.ops.checks import FAULT, WARN, CheckResult

_LABELS = {"ok": "OK", "warn": "WARN", "fault": "FAULT"}


@click.command("doctor")
@with_appcontext
@click.option("--json", "as_json", is_flag=True,
              help="Print the checks as JSON ({ok, checks: [{name, status, message}]}).")
def doctor_command(as_json: bool) -> None:
    """Check this deployment (https, secure cookies, PostgreSQL, migrations, Redis and its
    password, SMTP over verified TLS, the master key, storage, workers, scheduler, sources)
    and say what is wrong; exit 1 on any fault."""
    results = _run_checks()
    faults = [r for r in results if r.status == FAULT]
    if as_json:
        click.echo(json.dumps({"ok": not faults, "checks": [
            {"name": r.name, "status": r.status, "message": r.message} for r in results]},
            indent=2))
    else:
        width = max(len(r.name) for r in results)
        for result in results:
            click.echo(f"{_LABELS[result.status]:<6} {result.name:<{width}}  {result.message}")
        click.echo(_summary(results))
    sys.exit(1 if faults else 0)


def _run_checks() -> list[CheckResult]:
    """Every check, on the app of this instance (its database connections closed after)."""
    from dsar.extensions import db
    from dsar.ops.doctor import diagnose

    try:
        return diagnose(current_app._get_current_object())
    finally:
        db.engine.dispose()


def _summary(results: list[CheckResult]) -> str:
    faults = sum(r.status == FAULT for r in results)
    warnings = sum(r.status == WARN for r in results)
    also = f", {warnings} warning{'s' * (warnings != 1)}" if warnings else ""
    if faults:
        return (f"\n{faults} of {len(results)} checks failed{also}: this deployment is not "
                "ready (docs/monitoring.md says how to fix each).")
    return f"\nAll {len(results)} checks passed{also}."
