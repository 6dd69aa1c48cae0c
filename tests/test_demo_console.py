"""What ``dsar demo`` prints, read as the person who started it reads it: each line once, no
warning about a master key the demo is creating, and last, framed, the addresses and the
staff logins, whose passwords can be typed or pasted as printed. The real demo runs as a
process on free ports in a temporary instance; it is stopped as Ctrl-C at a terminal stops
it (SIGINT to its whole process group)."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from redis import Redis
from werkzeug.security import check_password_hash

from dsar.accounts.passwords import PASSWORD_ALPHABET, new_password, password_length
from dsar.demo.runner import METRICS_TOKEN_FILE, demo_metrics_token
from dsar.pipeline.periodic import PERIODIC_JOBS
from tests.support.ports import free_port
from tests.test_worker_logging import LOG_LINE, printed_twice

#: The box the banner is drawn in.
TOP, SIDE, BOTTOM = re.compile(r"^┌─+┐$"), re.compile(r"^│ .* │$"), re.compile(r"^└─+┘$")
#: A staff login line of the banner: role, e-mail, password.
LOGIN = re.compile(r"^│\s+(DPO|Agent)\s+(\S+@demo\.example)\s+(\S+)\s+│$")
#: The banner's command that reads the metrics: its token and address.
METRICS_COMMAND = re.compile(r"^│\s+curl --oauth2-bearer (\S+) (\S+/metrics)\s+│$")


def _env(instance: Path) -> dict[str, str]:
    """The environment of a dsar command on ``instance`` (no DSAR_* setting from outside)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSAR_")}
    env["DSAR_INSTANCE_PATH"] = str(instance)
    return env


def _read_until(path: Path, pattern: re.Pattern, process: subprocess.Popen,
                seconds: float) -> str:
    """The output written to ``path`` once ``pattern`` matches it (fails if the process
    stops first or it does not match in time)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        output = path.read_text(errors="replace")
        if pattern.search(output):
            return output
        assert process.poll() is None, f"the command stopped:\n{output[-3000:]}"
        time.sleep(0.2)
    pytest.fail(f"{pattern.pattern!r} not printed in time:\n{output[-3000:]}")


def _stop_like_ctrl_c(process: subprocess.Popen) -> None:
    """SIGINT to the process's group, as a terminal sends it on Ctrl-C; killed after 60 s."""
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        pytest.fail("the demo did not stop within 60 s of Ctrl-C")


def _banner(lines: list[str]) -> tuple[int, int]:
    """The index of the first and last line of the framed banner (the last box printed)."""
    end = max(i for i, line in enumerate(lines) if BOTTOM.match(line))
    start = max(i for i, line in enumerate(lines[:end]) if TOP.match(line))
    return start, end


def _scrape(url: str, token: str | None) -> tuple[int, str]:
    """GET ``url`` as Prometheus would, with ``token`` as its bearer token (None: none)."""
    response = httpx.get(url, headers={"Authorization": f"Bearer {token}"} if token else {},
                         timeout=30)
    return response.status_code, response.text


def _is_frame(line: str) -> bool:
    """A line of the box with nothing written in it."""
    return set(line.strip()) <= set("┌┐└┘─│ ")


def test_a_generated_password_never_starts_with_a_dash_and_keeps_its_strength():
    draws = [new_password() for _ in range(20_000)]
    assert len(set(draws)) == len(draws)
    assert {password[0] for password in draws} <= set(PASSWORD_ALPHABET)
    assert all(password.isascii() and password.isalnum() for password in draws)
    # At least the entropy of the secrets.token_urlsafe calls they replace: 12 and 18 bytes.
    assert {len(password) for password in draws} == {password_length(96)} == {17}
    assert len(PASSWORD_ALPHABET) ** 17 >= 2 ** 96
    assert len(new_password(144)) == 25 and len(PASSWORD_ALPHABET) ** 25 >= 2 ** 144
    # Every symbol is drawn, letters and digits alike (a first symbol among 62 over 20,000).
    assert {password[0] for password in draws} == set(PASSWORD_ALPHABET)


def test_the_demo_prints_each_line_once_and_its_framed_banner_last(tmp_path, redis_url):
    # A database of the suite's Redis of its own (the other demo test takes 9).
    demo_redis = redis_url.rpartition("/")[0] + "/10"
    env = _env(tmp_path / "instance")
    env["DSAR_REDIS_URL"] = demo_redis
    port = free_port()
    log = tmp_path / "demo.log"
    with log.open("w") as out:
        demo = subprocess.Popen(
            [sys.executable, "-m", "dsar", "demo", "--port", str(port),
             "--smtp-port", str(free_port()), "--people", "50"],
            env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)
    try:
        output = _read_until(log, re.compile(r"Stop everything with Ctrl-C\..*\n└─+┘\n"),
                             demo, 180)
        # The metrics, read as the banner says: with its token only.
        (token, metrics_url), = (match.groups() for line in output.splitlines()
                                 if (match := METRICS_COMMAND.match(line)))
        scraped = _scrape(metrics_url, token)
        refused = _scrape(metrics_url, None), _scrape(metrics_url, token[:-1])
    finally:
        _stop_like_ctrl_c(demo)
        Redis.from_url(demo_redis).flushdb()
    output = log.read_text()
    lines = output.splitlines()

    # A first start: the demo creates the key, and says nothing about a missing one.
    assert "Created the master key" in output
    assert "master key yet" not in output

    # Each line once: no line in a second handler's format, none repeated.
    assert printed_twice(output) == []
    plain = Counter(line for line in lines if line.strip() and not _is_frame(line)
                    and not LOG_LINE.match(line))
    assert [line for line, count in plain.items() if count > 1] == []

    # The banner: framed, every address and both logins in it.
    start, end = _banner(lines)
    box = lines[start:end + 1]
    assert len({len(line) for line in box}) == 1 and len(box[0]) <= 80
    assert all(SIDE.match(line) for line in box[1:-1])
    text = "\n".join(box)
    base = f"http://127.0.0.1:{port}"
    for address in (f"{base}/ ", f"{base}/staff/ ", f"{base}/demo/mailbox "):
        assert address in text
    logins = {match[2]: match[3] for line in box if (match := LOGIN.match(line))}
    assert set(logins) == {"dpo@demo.example", "agent@demo.example"}

    # The metrics: the sample cases counted, the worker and the scheduler alive; the token
    # printed in the banner only (never in a log line), and kept for the next start.
    assert metrics_url == f"{base}/metrics"
    assert f"{base}/metrics " in text
    status, metrics = scraped
    assert status == 200
    assert re.search(r'^dsar_cases_open\{kind="access",status="review"\} [1-9]', metrics, re.M)
    assert re.search(r'^dsar_workers\{queue="gather"\} 1\.0$', metrics, re.M)
    assert "dsar_scheduler_up 1.0" in metrics
    assert [code for code, _ in refused] == [401, 401]
    assert output.count(token) == 1
    assert (tmp_path / "instance" / METRICS_TOKEN_FILE).read_text().strip() == token

    # Printed after everything the start-up does: the web server's and the worker's start,
    # the scheduler's first round and the sample cases' searches and answers.
    before = "\n".join(lines[:start])
    for started in (" * Running on ", "*** Listening on ", "CronScheduler dsar: starting",
                    "access package 1 built", "[job periodic-file-indexes]"):
        assert started in before
    assert not any("[job case-" in line for line in lines[end:])
    # After it, until the demo was stopped, only the periodic jobs' lines (if one came due)
    # and the web server's lines of the test's own requests to the metrics.
    stopping = lines.index("Stopping the demo…")
    periodic = ("periodic-", *(job.func for job in PERIODIC_JOBS), "GET /metrics HTTP/1.1")
    assert [line for line in lines[end + 1:stopping]
            if line.strip() and not any(mark in line for mark in periodic)] == []

    # The passwords as printed: nothing a shell or a form misreads, and they do sign in.
    database = sqlite3.connect(tmp_path / "instance" / "dsar.sqlite3")
    try:
        for email, password in logins.items():
            assert password.isascii() and password.isalnum() and len(password) >= 17
            (hashed,) = database.execute("SELECT password_hash FROM staff_users "
                                         "WHERE email = ?", (email,)).fetchone()
            assert check_password_hash(hashed, password)
    finally:
        database.close()

    # Ctrl-C at the terminal: the demo stopped its processes in order, none crashed.
    assert demo.returncode == 0
    assert "Traceback" not in output and "ERROR" not in output
    assert "crm API stopped" in output and "newsletter API stopped" in output


def test_the_demo_keeps_its_metrics_token_from_one_start_to_the_next(tmp_path):
    token = demo_metrics_token(tmp_path)
    assert len(token) >= 22 and token == demo_metrics_token(tmp_path)
    assert (tmp_path / METRICS_TOKEN_FILE).stat().st_mode & 0o777 == 0o600
    (tmp_path / METRICS_TOKEN_FILE).write_text("")  # a first start cut mid-write
    assert demo_metrics_token(tmp_path) not in ("", token)


def test_init_creates_the_key_unwarned_and_run_without_a_key_is_warned(tmp_path):
    done = subprocess.run([sys.executable, "-m", "dsar", "init"], env=_env(tmp_path / "a"),
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Created the master key" in done.stdout
    assert "master key" not in done.stderr

    log = tmp_path / "run.log"
    with log.open("w") as out:
        web = subprocess.Popen([sys.executable, "-m", "dsar", "run", "--port", str(free_port())],
                               env=_env(tmp_path / "b"), cwd=tmp_path, stdout=out,
                               stderr=subprocess.STDOUT)
    try:
        output = _read_until(log, re.compile(r"Running on http"), web, 60)
    finally:
        web.terminate()
        web.wait(timeout=30)
    assert "WARNING dsar: no master key yet: run `dsar init`" in output
