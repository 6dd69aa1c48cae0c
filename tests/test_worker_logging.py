"""What the worker processes print: every line a job writes carries the job's id, and each
line is printed once (the demo printed every line twice). Real processes on the real Redis;
their output is read as an operator reads it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from redis import Redis
from sqlalchemy import select

from dsar.extensions import db
from dsar.models import MailStatus, OutboundEmail
from dsar.pipeline import QUEUES, mail_job_id
from tests.support.forms import access_form, post_form
from tests.support.ports import free_port

#: A line of dsar's log format: time, level, logger, the job's id when a job wrote it.
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ (?P<logger>\S+?)"
                      r"(?: \[job (?P<job>[^\]]+)\])?: (?P<message>.*)$")


def log_lines(output: str) -> list[re.Match]:
    """The lines of ``output`` in dsar's log format."""
    return [match for line in output.splitlines() if (match := LOG_LINE.match(line))]


#: dsar's lines as Flask's own handler or alembic's (migrations) print them: the two copies
#: of every line the demo used to print.
FOREIGN_FORMAT = re.compile(r"^(\[[\d\-: ,]+\] [A-Z]+ in \w+: |[A-Z]+ +\[dsar[\w.]*\] )")


def printed_twice(output: str) -> list[str]:
    """Lines that show a second handler: dsar's lines in another handler's format, the same
    message again in another format, or the same line twice in a row."""
    lines = output.splitlines()
    foreign = [line for line in lines if FOREIGN_FORMAT.match(line)]
    messages = {match["message"] for match in log_lines(output) if len(match["message"]) > 8}
    other_format = [line for line in lines if not LOG_LINE.match(line)
                    and any(line.endswith(message) for message in messages)]
    repeated = [a for a, b in zip(lines, lines[1:], strict=False) if a == b and LOG_LINE.match(a)]
    return foreign + other_format + repeated


def worker_env(app, tmp_path: Path) -> dict[str, str]:
    """The environment of a worker process with the test app's configuration (and no
    DSAR_* setting from outside)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSAR_")}
    env["DSAR_INSTANCE_PATH"] = str(tmp_path / "instance")
    for key in ("DATABASE_URL", "MASTER_KEY_FILE", "REDIS_URL", "SMTP_PORT", "STORAGE_DIR",
                "SOURCES_FILE", "REGISTER_FILE", "BASE_URL"):
        env[f"DSAR_{key}"] = str(app.config[key])
    return env


def file_a_request(app, client) -> int:
    """File an access request: its confirmation e-mail is queued. Returns the e-mail's id."""
    post_form(client, "/request/access", access_form())
    with app.app_context():
        return db.session.scalars(select(OutboundEmail.id)).one()


def mail_sent(app, outbound_id: int) -> bool:
    with app.app_context():
        return db.session.get(OutboundEmail, outbound_id).status is MailStatus.SENT


@pytest.mark.parametrize("fork", ["--fork", "--no-fork"])
def test_every_line_a_job_writes_carries_its_id_and_is_printed_once(app, client, tmp_path,
                                                                    fork):
    outbound_id = file_a_request(app, client)
    done = subprocess.run([sys.executable, "-m", "dsar", "worker", "--burst", fork],
                          env=worker_env(app, tmp_path), cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert mail_sent(app, outbound_id)
    output = done.stdout + done.stderr
    lines = log_lines(output)
    # The only dsar code this worker ran is the e-mail's job: each of its lines names it.
    job_lines = [line for line in lines if line["logger"].startswith("dsar.")]
    assert {line["logger"] for line in job_lines} >= {"dsar.mail.sending", "dsar.core.audit"}
    assert {line["job"] for line in job_lines} == {mail_job_id(outbound_id)}
    # The worker's own lines, outside any job, carry none.
    listening = [line for line in lines if "Listening on" in line["message"]]
    assert len(listening) == 1 and listening[0]["job"] is None
    assert printed_twice(output) == []


def test_a_plain_rq_worker_builds_the_app_and_tags_the_job_lines(app, client, tmp_path):
    """``rq worker`` without ``dsar worker``: the first job builds the configured app."""
    outbound_id = file_a_request(app, client)
    done = subprocess.run(
        [sys.executable, "-m", "rq.cli", "worker", "--burst", "--url", app.config["REDIS_URL"],
         "--serializer", "rq.serializers.JSONSerializer",
         "--job-class", "dsar.pipeline.queues.DsarJob",
         "--worker-class", "dsar.pipeline.worker.DsarWorker", "mail"],
        env=worker_env(app, tmp_path), cwd=tmp_path, capture_output=True, text=True,
        timeout=120)
    assert done.returncode == 0, done.stderr
    assert mail_sent(app, outbound_id)
    output = done.stdout + done.stderr
    sent = [line for line in log_lines(output) if line["logger"] == "dsar.mail.sending"]
    assert [line["job"] for line in sent] == [mail_job_id(outbound_id)]
    assert printed_twice(output) == []


def _redis_db(redis_url: str, number: int) -> str:
    """``redis_url`` on another database of the same server (away from the suite's)."""
    parts = urlsplit(redis_url)
    return urlunsplit(parts._replace(path=f"/{number}"))


def _wait_for(path: Path, patterns: list[re.Pattern], process: subprocess.Popen,
              seconds: float) -> str:
    """The output written so far, once every pattern matches it (fails if the process stops
    or they do not all match in time)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        output = path.read_text(errors="replace")
        if all(pattern.search(output) for pattern in patterns):
            return output
        assert process.poll() is None, f"the demo stopped:\n{output[-3000:]}"
        time.sleep(0.2)
    pytest.fail(f"not everything in {[p.pattern for p in patterns]} in time:\n{output[-3000:]}")


def test_the_demo_prints_each_line_once_and_its_worker_takes_every_queue(tmp_path, redis_url):
    demo_redis = _redis_db(redis_url, 9)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSAR_")}
    env.update(DSAR_INSTANCE_PATH=str(tmp_path / "instance"), DSAR_REDIS_URL=demo_redis)
    log = tmp_path / "demo.log"
    with log.open("w") as out:
        demo = subprocess.Popen(
            [sys.executable, "-m", "dsar", "demo", "--port", str(free_port()),
             "--smtp-port", str(free_port()), "--people", "50"],
            env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT)
    try:
        # The scheduler has registered the periodic jobs and the worker searched a source
        # of a sample case (the demo process logged before and after the migrations).
        output = _wait_for(log, [
            re.compile(r" rq\.cron: Registered "),
            re.compile(r"\[job case-\d+-gather-[^\]]+\]: case \d+ source \S+: \d+ rec"),
        ], demo, 180)
    finally:
        demo.send_signal(signal.SIGTERM)
        try:
            demo.wait(timeout=60)
        except subprocess.TimeoutExpired:
            demo.kill()
        Redis.from_url(demo_redis).flushdb()
    lines = log_lines(output)
    assert any(line["logger"] == "dsar.demo.org" for line in lines)  # after the migrations
    assert printed_twice(output) == []
    listening = [line["message"] for line in lines if "Listening on" in line["message"]]
    assert listening == [f"*** Listening on {', '.join(QUEUES)}..."]
