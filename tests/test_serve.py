"""``dsar serve``, the production web server: the real gunicorn in a process of its own, real
HTTP requests. Its access log (read as written) never holds a link's token, a download code or
a query string; it answers with several worker processes; SIGTERM stops it gracefully."""

from __future__ import annotations

import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from dsar.core import tokens
from dsar.extensions import db
from dsar.models import Case
from tests.support.delivery import emailed_code
from tests.support.forms import csrf_from
from tests.support.served import app_env, served
from tests.support.staff import make_case


def link_tokens(app, case_id: int) -> tuple[str, str, str]:
    """The case's reference and the tokens of its status and confirmation links."""
    with app.app_context():
        case = db.session.get(Case, case_id)
        return (case.reference, tokens.case_token(case.reference, case.token_salt, "status"),
                tokens.case_token(case.reference, case.token_salt, "confirm"))


def test_the_access_log_never_holds_link_tokens_codes_or_queries(released, gather_app,
                                                                 smtp_server, tmp_path):
    case, _ = released
    reference, status_token, confirm_token = link_tokens(gather_app, case.id)
    setup_secret = "s3tup-S3CRET-0123456789abcdefghij"
    env = app_env(gather_app, tmp_path / "instance")
    with served(env, tmp_path / "logs", "--workers", "2") as server, \
            httpx.Client(base_url=server.base_url, timeout=30) as browser:
        # The links of the e-mails, as the requester's browser opens them.
        assert browser.get(f"/confirm/{reference}/{confirm_token}").status_code == 302
        opened = browser.get(f"/status/{reference}/{status_token}?utm_source=mail&e=x%40y.fr")
        assert opened.status_code == 302 and opened.headers["location"].endswith(reference)
        assert browser.get(f"/%73tatus/{reference}/{status_token}").status_code == 302
        assert browser.get(f"/staff/setup/{setup_secret}").status_code in (302, 404)
        # The download: a code e-mailed, typed in, the ZIP streamed.
        page = browser.get(f"/status/{reference}/download")
        assert page.status_code == 200
        asked = browser.post(f"/status/{reference}/download/code",
                             data={"csrf_token": csrf_from(page.text)})
        assert asked.status_code == 302
        code = emailed_code(gather_app, smtp_server)
        page = browser.get(f"/status/{reference}/download?sent=1")
        download = browser.post(f"/status/{reference}/download",
                                data={"csrf_token": csrf_from(page.text), "code": code})
        assert download.status_code == 200, download.text[:500]
        assert download.content[:2] == b"PK"  # the ZIP itself
        lines = server.wait_for_access_lines(9)
    text = "\n".join(lines)
    assert len(lines) == 9, text
    for secret in (status_token, confirm_token, setup_secret, code, "utm_source", "x%40y",
                   "x@y"):
        assert secret not in text
    for line in (f'"GET /confirm/{reference}/[redacted] HTTP/1.1" 302',
                 f'"GET /status/{reference}/[redacted] HTTP/1.1" 302',
                 "\"GET /staff/setup/[redacted] HTTP/1.1\"",
                 f'"GET /status/{reference}/download HTTP/1.1" 200',
                 f'"POST /status/{reference}/download HTTP/1.1" 200'):
        assert line in text
    # The spelling with %73 is logged as the router reads it, the token hidden all the same.
    assert text.count(f"/status/{reference}/[redacted]") == 2


def cpu_ticks(pid: int) -> int:
    """User and system time the kernel counted for ``pid`` (clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def test_several_workers_answer_and_sigterm_lets_a_request_finish(app, tmp_path):
    env = app_env(app, tmp_path / "instance")
    with served(env, tmp_path / "logs", "--workers", "3", "--graceful-timeout", "20") as server:
        deadline = time.monotonic() + 30
        while len(server.worker_pids()) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        workers = server.worker_pids()
        assert len(workers) == 3
        before = {pid: cpu_ticks(pid) for pid in workers}

        def page(_):
            with httpx.Client(base_url=server.base_url, timeout=30) as client:
                return [client.get("/request/access").status_code for _ in range(10)]

        with ThreadPoolExecutor(6) as pool:
            codes = [c for batch in pool.map(page, range(12)) for c in batch]
        assert codes == [200] * 120
        busy = [pid for pid in workers if cpu_ticks(pid) > before[pid]]
        assert len(busy) >= 2, "one worker served every request"

        # A request under way when systemd stops the server: half its body sent, then
        # SIGTERM, then the rest; it is answered in full before the server leaves.
        body = b"full_name=Camille+Martin&email=camille%40example.fr&declaration=y&x=" + b"0" * 64
        with socket.create_connection(("127.0.0.1", int(server.base_url.rsplit(":", 1)[1])),
                                      timeout=30) as conn:
            conn.sendall(b"POST /request/access HTTP/1.1\r\nHost: localhost\r\n"
                         b"Content-Type: application/x-www-form-urlencoded\r\n"
                         b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
                         + body[:20])
            client_port = conn.getsockname()[1]
            deadline = time.monotonic() + 10
            while server.worker_holding(client_port) is None and time.monotonic() < deadline:
                time.sleep(0.02)
            holder = server.worker_holding(client_port)
            assert holder is not None
            server.process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 10
            while ("Handling signal: term" not in server.error_log.read_text()
                   and time.monotonic() < deadline):
                time.sleep(0.02)
            # The arbiter signals its workers right after that line: the rest of the body
            # goes after they were told to stop.
            time.sleep(0.2)
            conn.sendall(body[20:])
            answer = b""
            while chunk := conn.recv(65536):
                answer += chunk
        # The form was refused (no CSRF token): what matters is a whole answer, not a reset.
        assert answer.startswith(b"HTTP/1.1 400") and b"</html>" in answer
        assert server.process.wait(30) == 0
        for pid in workers:
            assert not Path(f"/proc/{pid}").exists() or _zombie_gone(pid)
    log = server.error_log.read_text()
    assert "Handling signal: term" in log and "Shutting down: Master" in log


def _zombie_gone(pid: int) -> bool:
    """Whether ``pid`` is at most a zombie (the arbiter exited: its children are reaped by
    init in a moment)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_threaded_workers_keep_connections_and_hide_tokens_too(app, tmp_path):
    """``--threads``: gunicorn's gthread worker, which keeps a client's connection open
    between requests; its access lines go through the same redaction."""
    case = make_case(app)
    reference, status_token, _ = link_tokens(app, case.id)
    env = app_env(app, tmp_path / "instance")
    with served(env, tmp_path / "logs", "--workers", "1", "--threads", "4") as server, \
            httpx.Client(base_url=server.base_url, timeout=30) as browser:
        assert browser.get(f"/status/{reference}/{status_token}").status_code == 302
        assert browser.get(f"/status/{reference}").status_code == 200
        assert browser.get(f"/status/{reference}").headers.get("connection") != "close"
        lines = server.wait_for_access_lines(4)
    text = "\n".join(lines)
    assert status_token not in text
    assert f'"GET /status/{reference}/[redacted] HTTP/1.1" 302' in text
    assert text.count(f'"GET /status/{reference} HTTP/1.1" 200') == 2
    assert "Using worker: gthread" in server.error_log.read_text()
