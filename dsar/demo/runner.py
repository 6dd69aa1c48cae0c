"""``dsar demo``: the whole system on one machine — Redis, the SMTP catcher, the demo
organisation's two APIs (CRM, newsletter), a worker, the scheduler and the web server — with a
demo staff login, stopped together with Ctrl-C.

The demo organisation's data is generated into ``instance/demo-org/`` when it is missing or
was made for another ``--people``; ``instance/sources.toml`` and ``instance/register.toml``
are written at every start (the APIs get new ports and new secrets, passed to the worker and
to the APIs through environment variables)."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

DEMO_STAFF = (("dpo@demo.example", "DPO (démo)", "dpo"),
              ("agent@demo.example", "Agent (démo)", "agent"))
DEMO_ORGANISATION = "Académie Horizon Formation (démo)"
DEMO_REDIS_PORT = 6390
DEMO_SEED = 2026
#: Where the demo keeps the bearer token of its ``/metrics`` (made at its first start).
METRICS_TOKEN_FILE = "demo-metrics-token"  # noqa: S105 -- a file name, not a token


def _spawn(args: list[str], **options) -> subprocess.Popen:
    """Start one of the demo's processes in a session of its own: Ctrl-C at the terminal
    reaches the demo alone, which stops them in order (Redis last). Reached by the terminal's
    signal too, Redis went first and the worker and scheduler printed tracebacks."""
    return subprocess.Popen(args, start_new_session=True, **options)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _wait_for_port(host: str, port: int, seconds: float, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _port_open(host, port):
            return
        if process.poll() is not None:
            raise click.ClickException(f"{process.args[0]} stopped (exit {process.returncode})")
        time.sleep(0.1)
    raise click.ClickException(f"nothing answered on {host}:{port} after {seconds:.0f} s")


def prepare_demo_org(instance: Path, people: int, seed: int = DEMO_SEED) -> bool:
    """Generate the demo organisation into ``instance/demo-org`` unless it is already there
    for this size, seed and generator version. Returns True when it (re)generated."""
    from dsar.demo.org import VERSION, generate, read_manifest

    target = instance / "demo-org"
    manifest = read_manifest(target)
    wanted = {"people": people, "seed": seed, "version": VERSION}
    if manifest and all(manifest.get(k) == v for k, v in wanted.items()):
        return False
    click.echo(f"Generating the demo organisation ({people} people) into {target}…")
    summary = generate(target, people, seed)
    click.echo(f"  done in {summary.seconds:.1f} s.")
    return True


def _start_services(instance: Path, env: dict[str, str], processes: list[subprocess.Popen]
                    ) -> None:
    """Start the CRM and newsletter APIs on free ports with fresh secrets (put into ``env``
    for the worker), added to ``processes`` as they start (stopped with the rest); write the
    matching sources.toml and register.toml."""
    from dsar.demo.org import write_config
    from dsar.demo.org.config import CRM_TOKEN_ENV, NEWSLETTER_KEY_ENV
    from dsar.sources import catalog

    ports = {"crm": _free_port(), "newsletter": _free_port()}
    env[CRM_TOKEN_ENV] = secrets.token_urlsafe(24)
    env[NEWSLETTER_KEY_ENV] = secrets.token_urlsafe(24)
    write_config(instance, crm_url=f"http://127.0.0.1:{ports['crm']}",
                 newsletter_url=f"http://127.0.0.1:{ports['newsletter']}")
    # This process plans the sample cases' searches too: read the new files here as well.
    catalog.init_app(current_app._get_current_object())
    for name, service_port in ports.items():
        process = _spawn(
            [sys.executable, "-m", "dsar.demo.services", name,
             "--db", str(instance / "demo-org" / f"{name}.sqlite"), "--port", str(service_port)],
            env=env)
        processes.append(process)
        _wait_for_port("127.0.0.1", service_port, 15, process)


def start_redis(directory: Path, port: int) -> tuple[subprocess.Popen, str]:
    """Start the demo's redis-server on 127.0.0.1:``port`` with a new random password; returns
    the process and the URL to reach it (which holds the password: it goes to the other
    processes in their environment, never in a command line, which ``ps`` shows). The
    password is in a configuration file only its owner can read."""
    redis_bin = shutil.which("redis-server")
    if redis_bin is None:
        raise click.ClickException("redis-server is not installed (apt-get install redis-server)")
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    password = secrets.token_urlsafe(32)
    conf = directory / "demo-redis.conf"
    conf.unlink(missing_ok=True)
    descriptor = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(f'port {port}\nbind 127.0.0.1\nsave ""\nappendonly no\n'
                  f'dir "{directory}"\nrequirepass "{password}"\n')
    process = _spawn([redis_bin, str(conf)], stdout=subprocess.DEVNULL)
    _wait_for_port("127.0.0.1", port, 10, process)
    return process, f"redis://:{password}@127.0.0.1:{port}/0"


def demo_metrics_token(instance: Path) -> str:
    """The bearer token of the demo's ``/metrics``: made at the first start (128 random
    bits), kept in ``instance/demo-metrics-token`` (mode 0600) so that a Prometheus pointed
    at the demo keeps scraping it after a restart."""
    path = instance / METRICS_TOKEN_FILE
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        token = path.read_text().strip()
        if token:
            return token
        path.unlink()  # empty: a first start stopped mid-write
        return demo_metrics_token(instance)
    token = secrets.token_urlsafe(16)
    with os.fdopen(descriptor, "w") as out:
        out.write(token + "\n")
    return token


def _reset_demo_staff() -> dict[str, str]:
    """Create or reset the demo DPO and agent accounts; returns their fresh passwords."""
    from sqlalchemy import select

    from dsar.accounts.passwords import new_password
    from dsar.core.audit import record_event
    from dsar.extensions import db
    from dsar.models import StaffRole, StaffUser

    passwords = {}
    for email, name, role in DEMO_STAFF:
        password = new_password()
        user = db.session.scalar(select(StaffUser).where(StaffUser.email == email))
        if user is None:
            user = StaffUser(email=email, name=name, role=StaffRole(role))
            db.session.add(user)
        user.set_password(password)
        user.locked_until = None
        db.session.flush()
        record_event("staff.password_reset", payload={"staff_id": user.id, "by": "demo"})
        passwords[email] = password
    db.session.commit()
    return passwords


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--smtp-port", default=8025, show_default=True, type=int)
@click.option("--people", default=300, show_default=True, type=click.IntRange(min=50),
              help="Population of the demo organisation (regenerated when it changes; "
                   "1,000,000 takes a few minutes).")
@with_appcontext
def demo_command(host: str, port: int, smtp_port: int, people: int) -> None:
    """Run the whole demo in the foreground until Ctrl-C."""
    from dsar.demo.mailcatcher import start_catcher
    from dsar.instance_setup import set_up_instance
    from dsar.pipeline.job_logs import log_to_stderr

    # SIGTERM (a service manager, a test) stops the demo as Ctrl-C does, whatever it is doing:
    # the processes started so far stop with it instead of running on, orphaned.
    signal.signal(signal.SIGTERM, _interrupt)
    # The terminal closed: its signal no longer reaches the demo's processes (each in its
    # own session), so the demo stops them.
    signal.signal(signal.SIGHUP, _interrupt)
    app = current_app._get_current_object()
    instance = Path(app.instance_path)
    set_up_instance(app, click.echo)
    # The migrations configure logging their own way (alembic.ini): back to dsar's handler.
    log_to_stderr()
    prepare_demo_org(instance, people)

    processes: list[subprocess.Popen] = []
    catcher = None
    try:
        env = dict(os.environ)
        redis_url = env.get("DSAR_REDIS_URL")
        if not redis_url:
            redis, redis_url = start_redis(instance / "redis", DEMO_REDIS_PORT)
            processes.append(redis)
        mail_dir = instance / "demo-mail"
        catcher = start_catcher(mail_dir, port=smtp_port)
        _run(app, instance, processes, env, redis_url, mail_dir, host, port, smtp_port, people)
    finally:
        # Reverse start order: the web server, scheduler and worker finish before the APIs
        # and Redis go.
        for process in reversed(processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        if catcher is not None:
            catcher.stop()


def _interrupt(signum, frame) -> None:
    """SIGTERM and SIGHUP handled as Ctrl-C."""
    raise KeyboardInterrupt


def _run(app, instance: Path, processes: list[subprocess.Popen], env: dict, redis_url: str,
         mail_dir: Path, host: str, port: int, smtp_port: int, people: int) -> None:
    """Start the demo's processes (appended to ``processes`` as they start), seed the sample
    cases, print the banner (addresses, logins) once their start-up work is over, then watch
    the processes until Ctrl-C or SIGTERM."""
    base_url = f"http://{host}:{port}"
    env.update({
        "DSAR_REDIS_URL": redis_url,
        "DSAR_SMTP_HOST": "127.0.0.1",
        "DSAR_SMTP_PORT": str(smtp_port),
        "DSAR_DEMO_MAILBOX_DIR": str(mail_dir),
        "DSAR_BASE_URL": base_url,
        "DSAR_ORGANISATION_NAME": env.get("DSAR_ORGANISATION_NAME", DEMO_ORGANISATION),
        "DSAR_DPO_EMAIL": env.get("DSAR_DPO_EMAIL", "dpo@horizon-formation.example"),
        "DSAR_MAIL_FROM": env.get("DSAR_MAIL_FROM", "droits-rgpd@horizon-formation.example"),
        "PYTHONUNBUFFERED": "1",
    })
    # This process queues the sample cases' searches: on the demo's Redis, like the others.
    app.config["REDIS_URL"] = redis_url
    passwords = _reset_demo_staff()
    from dsar.demo.cases import seed_sample_cases
    from dsar.demo.console import banner_lines, print_banner, wait_for_start_up
    from dsar.demo.org import SHOWCASE
    from dsar.demo.services.newsletter import SUPPRESSION_TOKEN_ENV, SUPPRESSION_URL_ENV
    from dsar.pipeline.queues import QUEUES, redis_connection

    # The newsletter's sign-up asks dsar's suppression list, with a token of the run's own.
    suppression_token = secrets.token_urlsafe(24)
    env["DSAR_SUPPRESSION_API_TOKEN"] = suppression_token
    env[SUPPRESSION_TOKEN_ENV] = suppression_token
    env[SUPPRESSION_URL_ENV] = f"{base_url}/api/suppression/check"
    # Prometheus metrics behind a bearer token: the one configured, else the demo's own.
    metrics_token = (env.get("DSAR_METRICS_TOKEN") or app.config.get("METRICS_TOKEN")
                     or demo_metrics_token(instance))
    env["DSAR_METRICS_TOKEN"] = metrics_token
    dsar = [sys.executable, "-m", "dsar"]
    _start_services(instance, env, processes)
    seed_sample_cases()
    # One worker on every queue (a production machine may run one per workload).
    worker = _spawn([*dsar, "worker", "--queues", ",".join(QUEUES)], env=env)
    processes.append(worker)
    scheduler = _spawn([*dsar, "scheduler"], env=env)
    processes.append(scheduler)
    web = _spawn([*dsar, "run", "--host", host, "--port", str(port)], env=env)
    processes.append(web)
    _wait_for_port(host, port, 30, web)
    # Last on the screen: after the services' start-up lines and the sample cases' jobs.
    wait_for_start_up(redis_connection(), worker, scheduler, processes)
    logins = [(role.upper() if role == "dpo" else role.capitalize(), email, passwords[email])
              for email, _, role in DEMO_STAFF]
    print_banner(banner_lines(base_url, logins, people, SHOWCASE["A"]["email"],
                              metrics_token))
    _supervise(processes)


def _supervise(processes: list[subprocess.Popen]) -> None:
    try:
        while True:
            for process in processes:
                if process.poll() is not None:
                    raise click.ClickException(
                        f"{' '.join(map(str, process.args[1:4]))} stopped "
                        f"(exit {process.returncode}); stopping the demo"
                    )
            time.sleep(0.5)
    except KeyboardInterrupt:
        click.echo("\nStopping the demo…")
