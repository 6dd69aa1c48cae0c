"""What ``dsar demo`` shows on its console once everything is up: a framed banner with the
addresses and the staff logins, printed after the start-up's own lines (the services' start,
the sample cases' searches and answers) so it is the last thing on the screen, not scrolled
away by them."""

from __future__ import annotations

import subprocess
import textwrap
import time
from collections.abc import Sequence

import click
from redis import Redis
from rq import Worker
from rq.cron import CronScheduler
from rq.exceptions import SchedulerNotFound

from dsar.pipeline.queues import QUEUES, queue_on

#: The widest line of prose in the banner (addresses are never cut): framed, it fits an
#: 80-column terminal.
TEXT_WIDTH = 72
#: How long the demo waits for its start-up work to end before it shows the banner anyway.
SETTLE_SECONDS = 120


def framed(lines: Sequence[str]) -> list[str]:
    """``lines`` in a box of line-drawing characters, as wide as the longest line."""
    width = max(len(line) for line in lines)
    return (["┌" + "─" * (width + 2) + "┐"]
            + [f"│ {line.ljust(width)} │" for line in lines]
            + ["└" + "─" * (width + 2) + "┘"])


def banner_lines(base_url: str, logins: Sequence[tuple[str, str, str]], people: int,
                 showcase_email: str, metrics_token: str) -> list[str]:
    """The banner's text: the addresses, how to read the metrics (a command with their
    bearer token, on one line to paste whole), the staff logins (role, e-mail, password),
    what to try first and how to stop."""
    logins_width = max(len(email) for _, email, _ in logins)
    lines = ["dsar demo is running", "",
             f"Portal        {base_url}/",
             f"Back office   {base_url}/staff/",
             f"Mailbox       {base_url}/demo/mailbox  (every e-mail sent)",
             f"Metrics       {base_url}/metrics  (Prometheus), read with:",
             f"  curl --oauth2-bearer {metrics_token} {base_url}/metrics",
             "", "Staff logins (e-mail, password):"]
    lines += [f"  {role:6} {email.ljust(logins_width)}   {password}"
              for role, email, password in logins]
    lines += textwrap.wrap("The DPO sets up two-step sign-in with an authenticator app at "
                           "first sign-in; the agent needs none.", TEXT_WIDTH,
                           initial_indent="  ", subsequent_indent="  ")
    lines.append("")
    lines += textwrap.wrap(f"Demo organisation: {people} people. Try an access request as "
                           f"{showcase_email} (data in all six sources).", TEXT_WIDTH)
    lines.append("Stop everything with Ctrl-C.")
    return lines


def print_banner(lines: Sequence[str]) -> None:
    """Print ``lines`` framed, a blank line before and after."""
    click.echo("\n" + "\n".join(framed(lines)) + "\n")


def start_up_done(connection: Redis, worker_pid: int, scheduler_pid: int) -> bool:
    """Whether the demo's start-up work is over: its worker is listening and idle, its
    scheduler has queued each periodic job once, and no job is queued or running."""
    workers = [w for w in Worker.all(connection=connection) if w.pid == worker_pid]
    if not workers or workers[0].get_state() != "idle":
        return False
    try:
        scheduler = CronScheduler.fetch("dsar", connection)
    except SchedulerNotFound:
        return False
    # The scheduler saves itself with each job's last enqueue time after queuing them.
    jobs = scheduler.get_jobs()
    if scheduler.pid != scheduler_pid or not jobs or not all(j.latest_enqueue_time for j in jobs):
        return False
    queues = [queue_on(name, connection) for name in QUEUES]
    return all(q.count == 0 and q.started_job_registry.count == 0 for q in queues)


def wait_for_start_up(connection: Redis, worker: subprocess.Popen,
                      scheduler: subprocess.Popen, processes: Sequence[subprocess.Popen],
                      seconds: float = SETTLE_SECONDS) -> bool:
    """Wait until :func:`start_up_done` holds twice in a row half a second apart (a job
    moves from its queue to the worker in between two looks), for at most ``seconds``.
    Returns False if it never did (a very large demo organisation is still being
    searched). Raises ``click.ClickException`` if one of ``processes`` stops meanwhile."""
    deadline = time.monotonic() + seconds
    quiet = 0
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                raise click.ClickException(
                    f"{' '.join(map(str, process.args[1:4]))} stopped "
                    f"(exit {process.returncode}); stopping the demo")
        quiet = quiet + 1 if start_up_done(connection, worker.pid, scheduler.pid) else 0
        if quiet == 2:
            return True
        time.sleep(0.5)
    return False
