"""``dsar serve``: the production web server (gunicorn, embedded by ``dsar.ops.gunicorn_app``).

The defaults suit a 2-core machine behind nginx: three sync worker processes on 127.0.0.1:8000
(``SERVE_BIND``, ``SERVE_WORKERS``), the access log on stdout for journald, and a graceful stop
on SIGTERM (systemd's): requests under way finish, then the workers leave.
"""

from __future__ import annotations

import click
from flask.cli import ScriptInfo, pass_script_info


@click.command("serve")
@click.option("--bind", "binds", multiple=True, metavar="ADDRESS",
              help="Where to listen: HOST:PORT or unix:/path/to.sock (repeatable). "
                   "Default: the SERVE_BIND setting (127.0.0.1:8000).")
@click.option("--workers", type=click.IntRange(min=0), default=None,
              help="Worker processes. Default: the SERVE_WORKERS setting; 0 means one per "
                   "CPU core plus one.")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="Threads per worker; more than one keeps client connections alive "
                   "(gunicorn's gthread worker).")
@click.option("--timeout", type=click.IntRange(min=1), default=60, show_default=True,
              help="Seconds a worker may stay silent before it is killed and replaced.")
@click.option("--graceful-timeout", type=click.IntRange(min=1), default=30, show_default=True,
              help="Seconds requests under way have to finish on SIGTERM.")
@click.option("--access-log", default="-", show_default=True, metavar="PATH",
              help="Where the access log goes: a file, or - for stdout. Link tokens and query "
                   "strings are never written.")
@click.option("--no-access-log", is_flag=True, help="Write no access log at all.")
@pass_script_info
def serve_command(info: ScriptInfo, binds: tuple[str, ...], workers: int | None,
                  threads: int, timeout: int, graceful_timeout: int, access_log: str,
                  no_access_log: bool) -> None:
    """Run the web server for production (gunicorn), in the foreground until SIGTERM."""
    from dsar.ops.gunicorn_app import GunicornServer, default_workers, server_options

    app = info.load_app()  # dsar's create_app: a bad configuration stops here, in one line
    if workers is None:
        workers = int(app.config["SERVE_WORKERS"])
    if not binds:
        binds = tuple(b.strip() for b in str(app.config["SERVE_BIND"]).split(",") if b.strip())
    options = server_options(
        bind=list(binds), workers=workers or default_workers(), threads=threads,
        timeout=timeout, graceful_timeout=graceful_timeout,
        access_log=None if no_access_log else access_log,
        log_level=str(app.config["LOG_LEVEL"]))
    GunicornServer(app, options).run()
