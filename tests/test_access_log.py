"""The access log of the server the project starts never writes the secrets of link paths
(issue 10, point 10 c): a real Werkzeug server (what ``dsar run`` starts) on 127.0.0.1, real
HTTP requests, the "werkzeug" logger's records as written."""

from __future__ import annotations

import logging
import re
import threading

import httpx
import pytest
from werkzeug.serving import make_server

from dsar.core import tokens
from dsar.extensions import db
from dsar.models import Case
from dsar.web.access_log import redact
from tests.support.staff import make_case

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def server(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def case_tokens(app):
    case = make_case(app)
    with app.app_context():
        salt = db.session.get(Case, case.id).token_salt
        return (case.reference, tokens.case_token(case.reference, salt, "status"),
                tokens.case_token(case.reference, salt, "confirm"))


def access_lines(caplog) -> list[str]:
    """The access log's lines, without the colours Werkzeug adds for a terminal."""
    return [ANSI.sub("", r.getMessage()) for r in caplog.records if r.name == "werkzeug"]


def test_the_dev_server_log_never_writes_link_tokens(app, server, caplog):
    caplog.set_level(logging.INFO, logger="werkzeug")
    reference, status_token, confirm_token = case_tokens(app)
    setup_secret = "s3tup-S3CRET-0123456789abcdefghij"
    requests = {
        f"/status/{reference}/{status_token}": 302,
        f"/confirm/{reference}/{confirm_token}": 302,
        f"/status/{reference}/{status_token}?utm_source=mail": 302,
        f"/%73tatus/{reference}/{status_token}": 302,  # what the router decodes, the log too
        f"//status/{reference}/{status_token}": None,  # the router merges the slashes
        f"/staff/setup/{setup_secret}": None,  # the staff account set-up link
        f"/status/{reference}/{status_token[:-2]}xx": 404,
    }
    with httpx.Client(follow_redirects=False) as client:
        for path, expected in requests.items():
            resp = client.get(server + path)
            if expected is not None:
                assert resp.status_code == expected, path
    lines = access_lines(caplog)
    assert len(lines) == len(requests)
    text = "\n".join(lines)
    for secret in (status_token, confirm_token, setup_secret, status_token[:-2]):
        assert secret not in text
    assert f'"GET /status/{reference}/[redacted] HTTP/1.1" 302' in text
    assert f'"GET /confirm/{reference}/[redacted] HTTP/1.1" 302' in text
    assert f"/status/{reference}/[redacted]?utm_source=mail" in text
    assert "/staff/setup/[redacted]" in text
    # Pages of the case that are not links keep their path as it is.
    assert redact(f'"POST /status/{reference}/download/code HTTP/1.1" 302 -') == (
        f'"POST /status/{reference}/download/code HTTP/1.1" 302 -')


def test_the_log_keeps_other_paths_and_messages(app, server, caplog):
    caplog.set_level(logging.INFO, logger="werkzeug")
    with httpx.Client(base_url=server) as client:
        assert client.get("/request/access").status_code == 200
    assert any('"GET /request/access HTTP/1.1" 200' in line for line in access_lines(caplog))


def test_secrets_are_hidden_wherever_a_line_quotes_the_path():
    token = "a6cHkVB8Hbo9hsGJE3E8vWXG-p7Jvga5"
    lines = {
        # Werkzeug's complaint about a malformed request line quotes it.
        f"code 400, message Bad request syntax ('GET /status/DSR-AAAA-BBBB/{token} X')":
            "code 400, message Bad request syntax ('GET /status/DSR-AAAA-BBBB/[redacted] X')",
        # A referrer in a combined log format is a whole URL.
        f'"GET /static/app.css HTTP/1.1" 200 - "https://dsar.example/confirm/DSR-AAAA-BBBB/{token}"':
            '"GET /static/app.css HTTP/1.1" 200 - "https://dsar.example/confirm/DSR-AAAA-BBBB/'
            '[redacted]"',
        # Flask's line for a request that failed.
        f"Exception on /staff/setup/{token} [GET]": "Exception on /staff/setup/[redacted] [GET]",
        "POST /staff/users/12/setup-link": "POST /staff/users/12/setup-link",
        "GET /status/DSR-AAAA-BBBB/answer": "GET /status/DSR-AAAA-BBBB/answer",
    }
    for line, expected in lines.items():
        assert redact(line) == expected


@pytest.mark.parametrize("path", [
    "/status/DSR-AAAA-BBBB/download/../{t}", "/status/DSR-AAAA-BBBB/%2e/{t}",
    "/staff/%2573etup/{t}", "/status/DSR-AAAA-BBBB\\{t}", "/\\status/DSR-AAAA-BBBB/{t}",
    "/%73tatus/DSR-AAAA-BBBB/{t}", "//confirm//DSR-AAAA-BBBB//{t}",
    "/status/DSR-AAAA-BBBB%2F{t}",
])
def test_no_spelling_of_a_tokened_path_keeps_the_token(path):
    """Forms no router serves still reach the access log if someone sends them (whoever
    holds a link can): the token never appears, however the path is spelt."""
    token = "a6cHkVB8Hbo9hsGJE3E8vWXG-p7Jvga5"
    line = f'127.0.0.1 - - "GET {path.format(t=token)} HTTP/1.1" 404 -'
    redacted = redact(line)
    assert token not in redacted and "[redacted]" in redacted


def test_gunicorn_access_lines_are_redacted_atom_by_atom(app, tmp_path):
    """``dsar serve``'s access log: gunicorn's own logger writes a template and a dict of
    atoms. Whatever format an operator sets, the atoms it names come out redacted (a query
    string, a cookie or a bearer token not at all), and a handler reading the atoms themselves
    (a JSON formatter) finds no secret either."""
    from datetime import timedelta
    from types import SimpleNamespace

    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    token = "a6cHkVB8Hbo9hsGJE3E8vWXG-p7Jvga5"
    config = Config()
    config.set("accesslog", str(tmp_path / "access.log"))
    config.set("access_log_format", '%(h)s "%(r)s" %(U)s ?%(q)s "%(f)s" %({Cookie}i)s '
                                    '%({authorization}i)s %({x-request-id}i)s %(s)s')
    logger = Logger(config)
    seen = []
    kept = logging.Handler()
    kept.emit = seen.append
    logging.getLogger("gunicorn.access").addHandler(kept)
    environ = {"REMOTE_ADDR": "203.0.113.9", "REQUEST_METHOD": "GET", "SERVER_PROTOCOL": "HTTP/1.1",
               "RAW_URI": f"/status/DSR-AAAA-BBBB/{token}?email=camille%40example.fr",
               "PATH_INFO": f"/status/DSR-AAAA-BBBB/{token}",
               "QUERY_STRING": "email=camille%40example.fr",
               "HTTP_REFERER": f"https://dsar.example/confirm/DSR-AAAA-BBBB/{token}"}
    request = SimpleNamespace(headers=[("COOKIE", "session=S3SSION"), ("AUTHORIZATION",
                                                                      "Bearer B34RER"),
                                       ("X-REQUEST-ID", "req-42")])
    response = SimpleNamespace(status="302 FOUND", sent=229, headers=[])
    try:
        logger.access(response, request, environ, timedelta(milliseconds=12))
    finally:
        logging.getLogger("gunicorn.access").removeHandler(kept)
        for handler in logging.getLogger("gunicorn.access").handlers[:]:
            if getattr(handler, "_gunicorn", False):
                handler.close()
                logging.getLogger("gunicorn.access").removeHandler(handler)
    line = (tmp_path / "access.log").read_text()
    assert line == (
        '203.0.113.9 "GET /status/DSR-AAAA-BBBB/[redacted]?[redacted] HTTP/1.1" '
        "/status/DSR-AAAA-BBBB/[redacted] ?[redacted] "
        '"https://dsar.example/confirm/DSR-AAAA-BBBB/[redacted]" [redacted] [redacted] req-42 '
        "302\n")
    (record,) = seen
    assert token not in repr(record.args) and "S3SSION" not in repr(record.args)
    assert record.args["U"] == "/status/DSR-AAAA-BBBB/[redacted]"
